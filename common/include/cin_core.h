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

typedef struct cin_core_config {
    const char *store_path; /* required */
    size_t body_limit;      /* 0: 64 KiB (API.md) */
    int session_ttl;        /* seconds; 0: 8 hours */
    int load_kek;           /* read PATH.key now (servers do so before dropping privileges) */
} cin_core_config;

/* Create a core.  With load_kek the key file is read at once and kept in
 * memory; otherwise each connection reads it when it opens the store. */
int cin_core_create(const cin_core_config *cfg, const cin_services *svc, cin_core **out,
                    char **err);
void cin_core_free(cin_core *core);

/* This thread's connection to the store (opened on first use, reopened after
 * a fork).  NULL when the store cannot be opened (logged). Not to be freed. */
cin_store *cin_core_store(cin_core *core);
const cin_services *cin_core_services(const cin_core *core);
size_t cin_core_body_limit(const cin_core *core);
int cin_core_session_ttl(const cin_core *core);
const char *cin_core_store_path(const cin_core *core);

#endif
