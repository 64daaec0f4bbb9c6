/*
 * cin_tls.h - serving certificates from the store on the TLS handshake.
 *
 * One cin_tls per server process (created after fork).  It keeps:
 *   - an index of every name that has an active certificate in the store
 *     (name -> certificate id), loaded once and then updated incrementally,
 *   - a bounded LRU cache of parsed certificates, chains and private keys.
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
} cin_tls_stats;

/* Create this process's state and load the index.  cache_size 0: 10000. */
int cin_tls_create(cin_core *core, size_t cache_size, cin_tls **out, char **err);
void cin_tls_free(cin_tls *t);

/* Bring the index up to the store's generation when the shared counter moved.
 * Cheap when nothing changed (one atomic read).  CIN_OK or a store error. */
int cin_tls_refresh(cin_tls *t);

/*
 * Pick the certificate for the handshake's SNI name and set it on ssl.
 * Returns 1 when a store certificate was set, 0 when none matches (the
 * server's own certificate stays: the fallback), -1 on an internal error
 * (logged; the fallback stays as well).
 */
int cin_tls_select(cin_tls *t, SSL *ssl);

/* A ready-made SSL_CTX_set_cert_cb callback; arg points to a cin_tls *
 * variable (so that each process can fill in its own after fork).  Never
 * fails the handshake: without a match the server's certificate is used. */
int cin_tls_cert_cb(SSL *ssl, void *arg);

void cin_tls_get_stats(cin_tls *t, cin_tls_stats *s);

#endif
