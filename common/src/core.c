/*
 * core.c - the core object: configuration, services, and one store
 * connection per thread, reopened after fork (a connection is never carried
 * across fork()).
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cin_core.h"
#include "cin_hostcache.h"
#include "cin_metrics.h"
#include "cin_mirror.h"
#include "cin_util.h"
#include "core_int.h"

#define DEFAULT_SESSION_TTL (8 * 3600)

struct conn {
    cin_store *st;      /* the store */
    cin_store *serving; /* what handshakes read: the store, or the host's mirror */
    cin_core *core;
    pid_t pid;
};

struct cin_core {
    char *store_path;
    char *key_file;
    char *state_dir;
    char *mirror_path; /* central stores only: STATE_DIR/mirror/mirror.db */
    char *metrics_allow;
    int central;
    size_t body_limit;
    int session_ttl;
    cin_services svc;
    cin_kek kek;
    int have_kek;
    pthread_key_t key;
    int have_key;
    /* this process's live connections: the process id in the high 32 bits,
     * the count in the low ones, so a child never counts its parent's */
    uint64_t conns;
    cin_core_config cfg; /* as given, with the core's own strings */
    void *mirror_state;  /* mirror.c's, per process */
    char host_id[33];
    cin_hostcache *hostcache; /* made before the fork, shared with the children */
};

static uint64_t conns_of_this_process(uint64_t v)
{
    return (v >> 32) == (uint64_t)(uint32_t)getpid() ? (v & 0xffffffffu) : 0;
}

static void conns_add(cin_core *core, int delta)
{
    uint64_t pid = (uint32_t)getpid();
    uint64_t v = __atomic_load_n(&core->conns, __ATOMIC_ACQUIRE), n;

    do {
        n = conns_of_this_process(v);
        if (delta < 0 && n == 0)
            return;
        n = (pid << 32) | (n + (uint64_t)(int64_t)delta);
    } while (
        !__atomic_compare_exchange_n(&core->conns, &v, n, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
}

/* Close c's connections and uncount them (in the process that opened them:
 * one inherited across fork() must not be closed in the child - it would
 * disturb the parent's locks - and is only freed there). When its thread is
 * ending, OpenSSL's state for the thread goes before the uncounting (closing a
 * PostgreSQL connection over TLS may have made it again after OpenSSL's own
 * destructor ran), so a process waiting in cin_core_wait_threads() exits
 * after all of it. */
static void conn_end(struct conn *c, int thread_ends)
{
    if (!c)
        return;
    if (c->pid == getpid()) {
        if (c->serving != c->st)
            cin_store_close(c->serving);
        cin_store_close(c->st);
        if (thread_ends)
            OPENSSL_thread_stop();
        conns_add(c->core, -1);
    }
    free(c);
}

static void conn_thread_end(void *p)
{
    conn_end(p, 1);
}

static int open_store(cin_core *core, const char *target, int create, cin_store **out, char **err)
{
    /* the key the parent read, or (a core made without one) the key file */
    cin_store_opts o = {core->key_file, core->have_kek ? &core->kek : NULL, !core->have_kek, create,
                        -1};

    return cin_store_open_opts(target, &core->svc, &o, out, err);
}

/*
 * Check at startup, in the parent, that the key opens this store: a host
 * with another key refuses to start with a clear message instead of failing
 * handshakes later.  For a central store the host's mirror is checked (and
 * made, when it is the host's first start) and the central store too when it
 * can be reached; when it cannot, the server starts on its mirror.
 */
static int check_stores(cin_core *core, char **err)
{
    cin_store *st = NULL;
    char *why = NULL;
    uint64_t mgen = 0;
    int rc, had_mirror = 0;

    if (!core->central) {
        rc = open_store(core, core->store_path, 0, &st, err);
        cin_store_close(st);
        return rc;
    }
    rc = cin_mirror_prepare(core, err);
    if (rc != CIN_OK)
        return rc;
    /* a mirror that never had a step of its syncer (a host's first start) */
    if (open_store(core, core->mirror_path, 0, &st, NULL) == CIN_OK &&
        cin_store_generation(st, &mgen) == CIN_OK)
        had_mirror = mgen > 0;
    cin_store_close(st);
    st = NULL;
    rc = open_store(core, core->store_path, 0, &st, &why);
    if (rc == CIN_OK) {
        /* this host counts for the agents from now on, at its mirror's generation */
        cin_store *m = NULL;
        uint64_t g = 0;
        if (open_store(core, core->mirror_path, 0, &m, NULL) == CIN_OK &&
            cin_store_generation(m, &g) == CIN_OK)
            cin_mirror_report(core, st, g);
        cin_store_close(m);
    }
    cin_store_close(st);
    if (rc == CIN_EPERM || rc == CIN_EINVAL) {
        *err = why;
        return rc;
    }
    if (rc != CIN_OK && had_mirror)
        cin_log(&core->svc, CIN_LOG_WARN,
                "the central store cannot be reached now (%s); serving from this host's "
                "mirror, and the API answers 503 until it can",
                why ? why : cin_strstatus(rc));
    else if (rc != CIN_OK)
        cin_log(&core->svc, CIN_LOG_WARN,
                "the central store cannot be reached now (%s) and this host has no mirror "
                "yet (its first start): serving the fallback certificates, and the API "
                "answers 503, until the store can be reached",
                why ? why : cin_strstatus(rc));
    free(why);
    return CIN_OK;
}

/* The host's shared counters beside what handshakes read (the store, or the
 * host's mirror of a central one), mapped here - in a server's parent, before
 * it forks - so that every worker counts into the same file. */
static void open_metrics(cin_core *core)
{
    char *path = cin_asprintf("%s.metrics", core->central ? core->mirror_path : core->store_path);
    char *why = NULL;

    if (path && cin_metrics_open(path, &why) != CIN_OK && core->cfg.load_kek)
        cin_log(&core->svc, CIN_LOG_WARN, "metrics are not counted: %s", why ? why : path);
    free(why);
    free(path);
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
    core->central = cin_store_target_is_central(cfg->store_path);
    core->key_file = cin_strdup(cfg->key_file);
    core->state_dir =
        strdup(cfg->state_dir && *cfg->state_dir ? cfg->state_dir : CIN_DEFAULT_STATE_DIR);
    core->body_limit = cfg->body_limit ? cfg->body_limit : CIN_DEFAULT_BODY_LIMIT;
    core->session_ttl = cfg->session_ttl > 0 ? cfg->session_ttl : DEFAULT_SESSION_TTL;
    if (svc)
        core->svc = *svc;
    core->cfg = *cfg;
    core->cfg.store_path = core->store_path;
    core->cfg.key_file = core->key_file;
    core->cfg.state_dir = core->state_dir;
    core->cfg.metrics_allow = NULL;
    if (cfg->metrics_allow && *cfg->metrics_allow &&
        !(core->cfg.metrics_allow = core->metrics_allow = strdup(cfg->metrics_allow))) {
        cin_core_free(core);
        return CIN_ENOMEM;
    }
    if (core->central)
        core->mirror_path = cin_asprintf("%s/mirror/mirror.db", core->state_dir);
    if (!core->store_path || !core->state_dir || (core->central && !core->mirror_path) ||
        (cfg->key_file && !core->key_file)) {
        cin_core_free(core);
        return CIN_ENOMEM;
    }
    if (pthread_key_create(&core->key, conn_thread_end) != 0) {
        cin_core_free(core);
        return CIN_ERR;
    }
    core->have_key = 1;
    if (core->central && !core->key_file) {
        cin_seterr(err, "a PostgreSQL store needs its key file named (certinext_key_file, "
                        "CertInextKeyFile, --key-file or CERTINEXT_KEY_FILE)");
        cin_core_free(core);
        return CIN_EINVAL;
    }
    if (cfg->load_kek) {
        keypath = core->key_file ? strdup(core->key_file) : cin_asprintf("%s.key", cfg->store_path);
        rc = keypath ? cin_kek_load(keypath, &core->kek, err) : CIN_ENOMEM;
        free(keypath);
        if (rc != CIN_OK) {
            cin_core_free(core);
            return rc;
        }
        core->have_kek = 1;
        rc = check_stores(core, err);
        if (rc != CIN_OK) {
            cin_core_free(core);
            return rc;
        }
        if (cfg->shared_cache && !(core->hostcache = cin_hostcache_create(cfg->shared_cache)))
            cin_log(&core->svc, CIN_LOG_WARN,
                    "the shared cache of %zu bytes cannot be made (out of memory, or outside "
                    "64 KiB..64 GiB): each process reads its cache misses from the store",
                    cfg->shared_cache);
    }
    open_metrics(core);
    *out = core;
    return CIN_OK;
}

void cin_core_free(cin_core *core)
{
    struct conn *c;

    if (!core)
        return;
    /* (a core that failed before its key was made has none to delete) */
    c = core->have_key ? pthread_getspecific(core->key) : NULL;
    if (c) {
        pthread_setspecific(core->key, NULL);
        conn_end(c, 0);
    }
    if (core->have_key)
        pthread_key_delete(core->key);
    cin_mirror_stop(core);
    cin_hostcache_free(core->hostcache);
    cin_memzero(&core->kek, sizeof(core->kek));
    free(core->store_path);
    free(core->key_file);
    free(core->state_dir);
    free(core->mirror_path);
    free(core->metrics_allow);
    free(core);
}

/* This thread's connections, made afresh after a fork. */
static struct conn *conn_of(cin_core *core)
{
    struct conn *c = pthread_getspecific(core->key);

    if (c && c->pid == getpid())
        return c;
    if (c) { /* inherited from the parent: drop it without closing */
        free(c);
        pthread_setspecific(core->key, NULL);
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->pid = getpid();
    c->core = core;
    if (pthread_setspecific(core->key, c) != 0) {
        free(c);
        return NULL;
    }
    conns_add(core, 1);
    return c;
}

int cin_core_wait_threads(cin_core *core, int timeout_ms)
{
    struct conn *mine = pthread_getspecific(core->key);
    uint64_t own = mine && mine->pid == getpid() ? 1 : 0, n;
    int64_t until = cin_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);

    for (;;) {
        n = conns_of_this_process(__atomic_load_n(&core->conns, __ATOMIC_ACQUIRE));
        if (n <= own)
            return 0;
        if (cin_monotonic_ms() >= until)
            return (int)(n - own);
        cin_pause_ms(1);
    }
}

cin_store *cin_core_store(cin_core *core)
{
    struct conn *c = conn_of(core);
    char *err = NULL;

    if (!c)
        return NULL;
    if (!c->st && open_store(core, core->store_path, 0, &c->st, &err) != CIN_OK) {
        /* logged once per failed attempt; the next request tries again */
        cin_log(&core->svc, CIN_LOG_ERROR, "cannot open store: %s", err ? err : "?");
        free(err);
        c->st = NULL;
    }
    return c->st;
}

cin_store *cin_core_serving(cin_core *core)
{
    struct conn *c;
    char *err = NULL;

    if (!core->central)
        return cin_core_store(core);
    c = conn_of(core);
    if (!c)
        return NULL;
    if (!c->serving && open_store(core, core->mirror_path, 0, &c->serving, &err) != CIN_OK) {
        cin_log(&core->svc, CIN_LOG_ERROR, "cannot open this host's mirror %s: %s",
                core->mirror_path, err ? err : "?");
        free(err);
        c->serving = NULL;
    }
    return c->serving;
}

cin_hostcache *cin_core_hostcache(const cin_core *core)
{
    return core->hostcache;
}

const cin_core_config *cin_core_config_of(const cin_core *core)
{
    return &core->cfg;
}

void **cin_core_mirror_slot(cin_core *core)
{
    return &core->mirror_state;
}

char *cin_core_host_id_slot(cin_core *core)
{
    return core->host_id;
}

int cin_core_is_central(const cin_core *core)
{
    return core->central;
}

const char *cin_core_state_dir(const cin_core *core)
{
    return core->state_dir;
}

const char *cin_core_mirror_path(const cin_core *core)
{
    return core->mirror_path;
}

const cin_kek *cin_core_kek(const cin_core *core)
{
    return core->have_kek ? &core->kek : NULL;
}

const char *cin_core_key_file(const cin_core *core)
{
    return core->key_file;
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

const char *cin_core_metrics_allow(const cin_core *core)
{
    return core->metrics_allow;
}
