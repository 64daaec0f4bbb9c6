/*
 * core.c - the core object: configuration, services, and one store
 * connection per thread, reopened after fork (a connection is never carried
 * across fork()).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cin_core.h"
#include "cin_util.h"

#define DEFAULT_SESSION_TTL (8 * 3600)

struct conn {
    cin_store *st;
    pid_t pid;
};

struct cin_core {
    char *store_path;
    size_t body_limit;
    int session_ttl;
    cin_services svc;
    cin_kek kek;
    int have_kek;
    pthread_key_t key;
};

static void conn_free(void *p)
{
    struct conn *c = p;

    if (!c)
        return;
    /* a connection inherited across fork() must not be closed in the child
     * (it would disturb the parent's locks): leak it there instead */
    if (c->pid == getpid())
        cin_store_close(c->st);
    free(c);
}

int cin_core_create(const cin_core_config *cfg, const cin_services *svc, cin_core **out, char **err)
{
    cin_core *core;
    char *keypath;
    int rc;

    *out = NULL;
    if (!cfg || !cfg->store_path || !*cfg->store_path) {
        cin_seterr(err, "no store path configured");
        return CIN_EINVAL;
    }
    core = calloc(1, sizeof(*core));
    if (!core)
        return CIN_ENOMEM;
    core->store_path = strdup(cfg->store_path);
    core->body_limit = cfg->body_limit ? cfg->body_limit : CIN_DEFAULT_BODY_LIMIT;
    core->session_ttl = cfg->session_ttl > 0 ? cfg->session_ttl : DEFAULT_SESSION_TTL;
    if (svc)
        core->svc = *svc;
    if (pthread_key_create(&core->key, conn_free) != 0) {
        free(core->store_path);
        free(core);
        return CIN_ERR;
    }
    if (cfg->load_kek) {
        keypath = cin_asprintf("%s.key", cfg->store_path);
        rc = keypath ? cin_kek_load(keypath, &core->kek, err) : CIN_ENOMEM;
        free(keypath);
        if (rc != CIN_OK) {
            cin_core_free(core);
            return rc;
        }
        core->have_kek = 1;
    }
    *out = core;
    return CIN_OK;
}

void cin_core_free(cin_core *core)
{
    struct conn *c;

    if (!core)
        return;
    c = pthread_getspecific(core->key);
    if (c) {
        pthread_setspecific(core->key, NULL);
        conn_free(c);
    }
    pthread_key_delete(core->key);
    cin_memzero(&core->kek, sizeof(core->kek));
    free(core->store_path);
    free(core);
}

cin_store *cin_core_store(cin_core *core)
{
    struct conn *c = pthread_getspecific(core->key);
    char *err = NULL;
    int rc;

    if (c && c->pid == getpid())
        return c->st;
    if (c) { /* inherited from the parent: drop it without closing */
        free(c);
        pthread_setspecific(core->key, NULL);
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (core->have_kek)
        rc = cin_store_open_kek(core->store_path, &core->svc, &core->kek, &c->st, &err);
    else
        rc = cin_store_open(core->store_path, &core->svc, &c->st, &err);
    if (rc != CIN_OK) {
        cin_log(&core->svc, CIN_LOG_ERROR, "cannot open store: %s", err ? err : "?");
        free(err);
        free(c);
        return NULL;
    }
    c->pid = getpid();
    pthread_setspecific(core->key, c);
    return c->st;
}

const cin_services *cin_core_services(const cin_core *core)
{
    return &core->svc;
}

size_t cin_core_body_limit(const cin_core *core)
{
    return core->body_limit;
}

int cin_core_session_ttl(const cin_core *core)
{
    return core->session_ttl;
}

const char *cin_core_store_path(const cin_core *core)
{
    return core->store_path;
}
