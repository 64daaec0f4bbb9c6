/*
 * cin_hostcache.h - the host's cache of what a handshake's cache miss reads.
 *
 * Each worker (nginx) or child (httpd) keeps its own cache of parsed
 * certificates (tls.c).  Below it, one region of shared memory, made by the
 * server's parent before it forks, keeps for every certificate a miss has
 * read on this host the bytes that miss needs, in the form cheapest to load:
 * the chain as DER (the certificate blocks the store's PEM holds, in order)
 * and the private key still sealed, as the store holds it (opened with the
 * key-encryption key by the process that loads it; never plaintext in the
 * region).  A later miss for the same certificate, in any process of the
 * server, copies them out instead of reading the store.
 *
 * A certificate's chain and key never change once stored (a renewal or a
 * reissue is a new certificate), so an entry stays right as long as it
 * lives - unless the store goes back (restored from a backup, copied anew),
 * when ids may be given again to other certificates: the process that sees
 * the generation go back empties it (tls.c).  Whether a certificate is still
 * served is decided by the name index each process refreshes.  When the region is full it is
 * emptied and filled again.  One process-shared, robust mutex guards it, held only to copy an entry
 * in or out: a process that dies holding it leaves the region emptied, never half-written.
 */
#ifndef CIN_HOSTCACHE_H
#define CIN_HOSTCACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cin_hostcache cin_hostcache;

#include "cin_core.h"

#define CIN_HOSTCACHE_MIN CIN_SHARED_CACHE_MIN
#define CIN_HOSTCACHE_MAX CIN_SHARED_CACHE_MAX

/* flags of an entry */
#define CIN_HC_GENERIC_LEAF 1 /* the leaf is parsed the generic way (leaf_load.c) */

/* One certificate's bytes: ders[0] the leaf, then the intermediates. */
typedef struct cin_hc_material {
    int64_t cert_id;
    int64_t key_id;
    unsigned flags;
    size_t nders;
    const unsigned char *ders[16];
    size_t der_len[16];
    const unsigned char *sealed; /* the key as the store seals it */
    size_t sealed_len;
    unsigned char *buf; /* what the pointers point into (cin_hc_material_clear) */
} cin_hc_material;

/* A region of `bytes` (CIN_HOSTCACHE_MIN..CIN_HOSTCACHE_MAX), shared with the
 * processes forked after this call.  NULL when it cannot be made. */
cin_hostcache *cin_hostcache_create(size_t bytes);
/* Unmap it in this process (others keep their mapping). */
void cin_hostcache_free(cin_hostcache *hc);

/* Copy certificate cert_id's entry out: CIN_OK, CIN_ENOTFOUND, or an error. */
int cin_hostcache_get(cin_hostcache *hc, int64_t cert_id, cin_hc_material *out);
void cin_hc_material_clear(cin_hc_material *m);
/* Add an entry (one already there for the id is kept). CIN_OK, or CIN_EINVAL
 * for one larger than a quarter of the region or with too many blocks. */
int cin_hostcache_put(cin_hostcache *hc, const cin_hc_material *m);

/* Forget cert_id's entry (one that no longer loads: the store decides). */
void cin_hostcache_drop(cin_hostcache *hc, int64_t cert_id);

/* Empty it (the store went back: its ids may name other certificates). */
void cin_hostcache_clear(cin_hostcache *hc);

typedef struct cin_hostcache_stats {
    uint64_t hits, misses, entries, resets;
    size_t used, size;
} cin_hostcache_stats;
void cin_hostcache_get_stats(cin_hostcache *hc, cin_hostcache_stats *s);

/* Tests only: take the region's lock and keep it (as a process that dies
 * holding it would). 0, or -1. */
int cin_hostcache_hold_lock(cin_hostcache *hc);

#endif
