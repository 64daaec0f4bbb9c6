/*
 * cin_tls.h - serving certificates from the store on the TLS handshake.
 *
 * One cin_tls per server process (created after fork).  It keeps:
 *   - an index of every name that has an active certificate in the store
 *     (name -> certificate id), loaded once and then updated incrementally,
 *   - a bounded cache of parsed certificates, chains and private keys (a
 *     clock: the oldest leaves unless used since it last came round).
 *
 * The handshake path (cin_tls_select, installed by a glue as the SSL_CTX's
 * cert_cb through cin_tls_cert_cb) never waits on the network: it does one
 * atomic read of the shared generation file, an index lookup (exact name,
 * then the wildcard of its parent) and, on a cache miss, one indexed read of
 * the store plus a decryption.  When the generation has moved, the changed
 * names are read from the store first - by a server timer calling
 * cin_tls_refresh() where the server has one, otherwise by the first
 * handshake that notices.  A revoked or replaced certificate is therefore
 * never served after the change is committed.
 *
 * Thread-safe: the index and cache are guarded by one mutex (uncontended in
 * nginx's single-threaded workers, shared by httpd's worker threads).
 */
#ifndef CIN_TLS_H
#define CIN_TLS_H

#include <openssl/ssl.h>

#include "cin_core.h"

typedef struct cin_tls cin_tls;

typedef struct cin_tls_stats {
    size_t names;        /* names in the index */
    size_t cached;       /* parsed certificates held */
    uint64_t generation; /* the generation the index reflects */
    uint64_t hits, misses, refreshes;
    size_t intermediates; /* intermediate certificates parsed, shared by the entries */
    size_t capacity;      /* the most parsed certificates held (the cache's bound) */
    size_t buckets;       /* the cache's hash table (it grows as the cache fills) */
} cin_tls_stats;

/* Create this process's state and load the index.  cache_size 0:
 * cin_tls_auto_cache_size(1) (a glue that knows how many processes the server
 * runs passes cin_tls_auto_cache_size(n) instead).  Fails only for want of memory: when the store
 * (or the host's mirror) cannot be opened, the server's own certificates are served and the store
 * is tried again - after 1 s, then less often, up to every 30 s - by cin_tls_refresh() and
 * cin_tls_select(). */
int cin_tls_create(cin_core *core, size_t cache_size, cin_tls **out, char **err);
void cin_tls_free(cin_tls *t);

/* Bring the index up to the store's generation when the shared counter moved.
 * Cheap when nothing changed (one atomic read).  CIN_OK or a store error;
 * CIN_EIO while the store has not been opened (tried again here, no more
 * often than the wait since the last attempt allows). */
int cin_tls_refresh(cin_tls *t);

/*
 * Pick the certificate for the handshake's SNI name and set it on ssl.
 * Returns 1 when a store certificate was set, 0 when none matches (the
 * server's own certificate stays: the fallback), -1 on an internal error
 * (logged; the fallback stays as well).
 */
int cin_tls_select(cin_tls *t, SSL *ssl);

/* Make x (with key and chain) the only certificate ssl may present: 1, or 0
 * when OpenSSL refuses it for this connection (the server's security level,
 * say) - and then ssl keeps the certificates it had, the server's - or -1
 * when it could not be installed again after the others were cleared (no
 * memory: ssl has no certificate, the handshake fails). */
int cin_tls_use_only(SSL *ssl, X509 *x, EVP_PKEY *key, STACK_OF(X509) * chain);

/* A ready-made SSL_CTX_set_cert_cb callback; arg points to a cin_tls *
 * variable (so that each process can fill in its own after fork).  Never
 * fails the handshake: without a match the server's certificate is used. */
int cin_tls_cert_cb(SSL *ssl, void *arg);

void cin_tls_get_stats(cin_tls *t, cin_tls_stats *s);

/* ---- the cache's size when none is configured (cache_budget.c) -------------
 *
 * A quarter of the host's memory, shared by the server's processes, at
 * CIN_TLS_ENTRY_BYTES a certificate: a bound on what the cache may use, not
 * what it takes (it grows with the certificates handshakes use).  A parsed
 * P-256 certificate and key measured about 5.5 KB; RSA keys take more. */
#define CIN_TLS_ENTRY_BYTES    8192
#define CIN_TLS_MEMORY_SHARE   4 /* a quarter of the host's memory */
#define CIN_TLS_CACHE_MIN      100
#define CIN_TLS_CACHE_MAX      10000000 /* also the most a configuration may ask for */
#define CIN_TLS_CACHE_FALLBACK 25000    /* the host's memory could not be read */

/* The host's memory in bytes: the smaller of its RAM and the limit of the
 * control group this process runs in (0: neither could be read). */
uint64_t cin_host_memory(void);

/* The smallest memory limit of the groups proc_cgroup (a file shaped like
 * /proc/self/cgroup) names and their ancestors: cgroup v2's memory.max under
 * root, v1's memory.limit_in_bytes under root/memory (and that hierarchy's
 * root file: a container's own group mounted there); 0 when none is set. */
uint64_t cin_cgroup_memory_limit(const char *proc_cgroup, const char *root);

/* The bound for processes processes (0 counts as 1) sharing memory bytes,
 * from CIN_TLS_CACHE_MIN to CIN_TLS_CACHE_MAX; CIN_TLS_CACHE_FALLBACK when
 * memory is 0. */
size_t cin_tls_cache_for_memory(uint64_t memory, unsigned processes);

/* cin_tls_cache_for_memory(cin_host_memory(), processes), and in why (when
 * not NULL) the reason, for the server's log. */
size_t cin_tls_default_cache(unsigned processes, char *why, size_t len);

/* cin_tls_default_cache(processes, NULL, 0). */
size_t cin_tls_auto_cache_size(unsigned processes);

/* ---- tls-alpn-01 (RFC 8737), tls_alpn.c ------------------------------------ */

#define CIN_ACME_TLS_ALPN "acme-tls/1"

/* True when a client's ALPN list (wire format) offers acme-tls/1 alone. */
int cin_tls_alpn_only_acme(const unsigned char *in, unsigned int inlen);
/* True when the handshake's ALPN choice is acme-tls/1 (the certificate
 * callback then leaves the challenge certificate alone). */
int cin_tls_alpn_selected_acme(const SSL *ssl);
/* The handshake's SNI name, lower-case, without a final dot; 0: none. */
int cin_tls_sni_name(SSL *ssl, char name[256]);
/* The challenge certificate for name when a tls-alpn-01 challenge for it is
 * pending (1, new references the caller frees), 0 when none is, -1 when it
 * cannot be made.  Reads the store or this host's mirror, never the network. */
int cin_tls_challenge_get(cin_core *core, const char *name, X509 **cert, EVP_PKEY **key);
/* The same as PEM (malloc'd; the key is freed with cin_free_secret). */
int cin_tls_challenge_pem(cin_core *core, const char *name, char **cert_pem, char **key_pem);
/* For a glue's ALPN callback: when the client offers only acme-tls/1 and its
 * SNI name has a pending challenge, the challenge certificate replaces every
 * other one on ssl and 1 is returned (select acme-tls/1); else 0. */
int cin_tls_alpn_challenge(cin_core *core, SSL *ssl, const unsigned char *in, unsigned int inlen);

#endif
