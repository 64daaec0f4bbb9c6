/*
 * cin_core.h - the object a host creates once: configuration, services and
 * the per-process, per-thread store connections.
 *
 * A glue creates one cin_core per configuration (in the server's parent
 * process, before forking), ties its lifetime to a pool with one cleanup that
 * calls cin_core_free(), and passes it to cin_http_handle() and the TLS and
 * agent functions.  Store connections are opened lazily: one per thread, and
 * never carried across fork() (the core notices a changed pid).
 */
#ifndef CIN_CORE_H
#define CIN_CORE_H

#include "cin_common.h"
#include "cin_crypto.h"
#include "cin_store.h"

typedef struct cin_core cin_core;

/* The request body limit of API.md, unless configured. */
#define CIN_DEFAULT_BODY_LIMIT (64 * 1024)

/* Where a host keeps what is its own: the mirror of a central store, the
 * host id, the syncer's lock. */
#define CIN_DEFAULT_STATE_DIR "/var/lib/certinext"

/* The host's shared cache of what handshakes' cache misses read
 * (certinext_shared_cache, CertInextSharedCache): its default size and the
 * sizes it may have (0 turns it off). */
#define CIN_SHARED_CACHE_DEFAULT ((size_t)256 * 1024 * 1024)
#define CIN_SHARED_CACHE_MIN     ((size_t)64 * 1024)
#define CIN_SHARED_CACHE_MAX                                                                       \
    (sizeof(size_t) > 4 ? (size_t)((uint64_t)64 * 1024 * 1024 * 1024) : (size_t)1024 * 1024 * 1024)

typedef struct cin_core_config {
    const char *store_path; /* required: a SQLite file, or a postgresql:// URI */
    const char *key_file;   /* NULL: PATH.key (SQLite); required for PostgreSQL */
    const char *state_dir;  /* NULL: CIN_DEFAULT_STATE_DIR */
    size_t body_limit;      /* 0: 64 KiB (API.md) */
    int session_ttl;        /* seconds; 0: 8 hours */
    int load_kek;           /* read the key now (servers do so before dropping privileges),
                               and check that it opens the store (and the host's mirror) */
    int worker_ids;         /* 1: the mirror's files belong to worker_uid:worker_gid */
    unsigned worker_uid, worker_gid;
    const char *metrics_allow; /* addresses / CIDR prefixes that may GET <mount>metrics
                                  without a token (cin_metrics.h); NULL: none */
    size_t shared_cache;       /* bytes of the host's shared cache of what cache misses read,
                                  made now for the processes forked later (a server's parent,
                                  with load_kek); 0: none */
} cin_core_config;

/* Create a core.  With load_kek the key file is read at once and kept in
 * memory, and a key that does not open the store is refused (CIN_EPERM,
 * *err says why); otherwise each connection reads it when it opens the store.
 * With a central store the host's mirror is prepared too (cin_mirror.h). */
int cin_core_create(const cin_core_config *cfg, const cin_services *svc, cin_core **out,
                    char **err);
void cin_core_free(cin_core *core);

/* This thread's connection to the store (opened on first use, reopened after
 * a fork).  NULL when the store cannot be opened (logged). Not to be freed. */
cin_store *cin_core_store(cin_core *core);
/* What handshakes and challenge answers read, never over the network: the
 * store itself (SQLite), or this host's mirror of a central store. */
cin_store *cin_core_serving(cin_core *core);
/* Wait, at most timeout_ms, until every other thread of this process that
 * opened a connection has ended and closed it (a thread's connections close,
 * and OpenSSL's state for it is freed, as it exits). For a process whose
 * threads may still be exiting when it exits (nginx's thread pool lets its
 * threads go without joining them). Returns how many had not ended: then the
 * core must not be freed (those threads still count themselves out in it).
 * Only threads that opened a connection are counted: a thread that would use
 * OpenSSL in such a process must open one first (every API request does). */
int cin_core_wait_threads(cin_core *core, int timeout_ms);
int cin_core_is_central(const cin_core *core);
const char *cin_core_state_dir(const cin_core *core);
const char *cin_core_mirror_path(const cin_core *core); /* NULL unless central */
const cin_kek *cin_core_kek(const cin_core *core);      /* NULL unless loaded */
const char *cin_core_key_file(const cin_core *core);
const cin_services *cin_core_services(const cin_core *core);
size_t cin_core_body_limit(const cin_core *core);
int cin_core_session_ttl(const cin_core *core);
const char *cin_core_store_path(const cin_core *core);
/* The metrics_allow list (NULL: none). */
const char *cin_core_metrics_allow(const cin_core *core);

#endif
