/* harness.c - see harness.h */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cin_agent.h"
#include "cin_ca.h"
#include "cin_mirror.h"
#include "cin_order.h"
#include "cin_util.h"
#include "harness.h"

int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

char *tmpdir_new(void)
{
    char tmpl[] = "/tmp/cin-test-XXXXXX";
    char *d = mkdtemp(tmpl);

    ck_assert_ptr_nonnull(d);
    return strdup(d);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void tmpdir_remove(char *dir)
{
    if (!dir)
        return;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static const struct {
    const char *name, *role;
    int signatory, other;
} users[U_COUNT] = {
    {"ann", "admin", 0, 0},   {"sam", "standard", 0, 0}, {"bob", "basic", 0, 0},
    {"bea", "basic", 0, 0},   {"sig", "standard", 1, 0}, {"adam", "admin", 0, 0},
    {"oscar", "admin", 0, 1},
};

/* The last messages logged, for harness_logged(). */
#define KEPT_LOGS 64
static char kept_log[KEPT_LOGS][512];
static size_t kept_next, kept_count;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

static void quiet_log(void *ud, int level, const char *msg)
{
    (void)ud;
    if (level <= CIN_LOG_ERROR && getenv("CIN_TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
    pthread_mutex_lock(&kept_lock);
    snprintf(kept_log[kept_next], sizeof(kept_log[0]), "%s", msg);
    kept_next = (kept_next + 1) % KEPT_LOGS;
    kept_count += kept_count < KEPT_LOGS;
    pthread_mutex_unlock(&kept_lock);
}

int harness_logged(const char *needle)
{
    size_t i;
    int n = 0;

    pthread_mutex_lock(&kept_lock);
    for (i = 0; i < kept_count; i++)
        n += strstr(kept_log[i], needle) != NULL;
    pthread_mutex_unlock(&kept_lock);
    return n;
}

void harness_log_clear(void)
{
    pthread_mutex_lock(&kept_lock);
    kept_count = kept_next = 0;
    pthread_mutex_unlock(&kept_lock);
}

static void *syncer_main(void *arg)
{
    fixture *f = arg;

    while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE))
        cin_mirror_step(f->core, 50, NULL);
    cin_mirror_stop(f->core);
    return NULL;
}

static time_t harness_now;

void harness_set_now(time_t t)
{
    __atomic_store_n(&harness_now, t, __ATOMIC_RELEASE);
}

static time_t harness_clock(void *ud)
{
    time_t t = __atomic_load_n(&harness_now, __ATOMIC_ACQUIRE);

    (void)ud;
    return t ? t : time(NULL);
}

fixture *fixture_new(void)
{
    static const cin_services svc = {quiet_log, harness_clock, NULL};
    fixture *f = calloc(1, sizeof(*f));
    cin_core_config cfg = {0};
    int64_t acme = 0, other = 0, uid;
    char *err = NULL, *ann_hash;
    int i;

    /* hashed before the transaction, as the workflow does */
    ann_hash = cin_password_hash("ann-password");
    ck_assert_ptr_nonnull(ann_hash);
    f->dir = tmpdir_new();
    f->key_path = cin_asprintf("%s/store.db.key", f->dir);
    if (getenv("CIN_TEST_PG") && *getenv("CIN_TEST_PG")) {
        /* the same tests on PostgreSQL: a fresh database per test */
        static int n;
        char cmd[512], db[64];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(db, sizeof(db), "t%ld_%ld_%d", (long)getpid(), (long)ts.tv_nsec, n++);
        snprintf(cmd, sizeof(cmd), "psql -q -d '%spostgres' -c 'CREATE DATABASE %s' >/dev/null",
                 getenv("CIN_TEST_PG"), db);
        ck_assert_int_eq(system(cmd), 0);
        f->pg_db = strdup(db);
        f->path = cin_asprintf("%s%s", getenv("CIN_TEST_PG"), db);
        f->key_path = cin_asprintf("%s/store.key", f->dir);
    } else {
        f->path = cin_asprintf("%s/store.db", f->dir);
    }
    f->cli_args = cin_asprintf("--store '%s' --key-file '%s'", f->path, f->key_path);
    {
        cin_store_opts o = {f->key_path, NULL, 1, 1, -1};
        ck_assert_int_eq(cin_store_open_opts(f->path, &svc, &o, &f->st, &err), CIN_OK);
    }
    ck_assert_int_eq(cin_ca_local_init(f->st, &err), CIN_OK);
    ck_assert_int_eq(cin_store_begin(f->st), CIN_OK);
    ck_assert_int_eq(cin_store_account_create(f->st, "acme", 0, &acme, &err), CIN_OK);
    ck_assert_int_eq(cin_store_credits_move(f->st, acme, 1000, 0, "opening", "test", NULL), CIN_OK);
    ck_assert_int_eq(cin_store_account_create(f->st, "other", 1000, &other, &err), CIN_OK);
    ck_assert_int_eq(cin_store_domain_add(f->st, acme, "example.com", &err), CIN_OK);
    ck_assert_int_eq(cin_store_domain_add(f->st, acme, "shop.example.net", &err), CIN_OK);
    ck_assert_int_eq(cin_store_domain_add(f->st, acme, "intranet.lan", &err), CIN_OK);
    ck_assert_int_eq(cin_store_domain_add(f->st, other, "other.org", &err), CIN_OK);
    for (i = 0; i < U_COUNT; i++) {
        ck_assert_int_eq(cin_store_user_create(f->st, users[i].other ? other : acme, users[i].name,
                                               users[i].role, users[i].signatory,
                                               i == U_ADMIN ? ann_hash : NULL, &uid, &err),
                         CIN_OK);
        ck_assert_int_eq(cin_store_token_create(f->st, uid, "test", 0, &f->token[i], NULL), CIN_OK);
        f->name[i] = users[i].name;
    }
    ck_assert_int_eq(cin_store_commit(f->st), CIN_OK);
    free(ann_hash);
    cfg.store_path = f->path;
    cfg.key_file = f->key_path;
    if (f->pg_db) {
        /* a host of a fleet: its mirror in the test's directory, kept by a
         * syncer thread as a server's would be */
        cfg.state_dir = f->dir;
        cfg.load_kek = 1;
    }
    ck_assert_int_eq(cin_core_create(&cfg, &svc, &f->core, &err), CIN_OK);
    if (f->pg_db)
        ck_assert_int_eq(pthread_create(&f->syncer, NULL, syncer_main, f), 0);
    return f;
}

void fixture_free(fixture *f)
{
    int i;

    if (!f)
        return;
    harness_set_now(0);
    if (f->pg_db) {
        __atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
        pthread_join(f->syncer, NULL);
    }
    cin_core_free(f->core);
    cin_store_close(f->st);
    if (f->pg_db) {
        char cmd[512];
        /* in the background: a drop waits for a checkpoint, and nothing here
         * needs it gone (a cluster of tests/integration/pg.py is removed whole) */
        snprintf(cmd, sizeof(cmd),
                 "(psql -q -d '%spostgres' -c 'DROP DATABASE IF EXISTS %s WITH (FORCE)'"
                 " >/dev/null 2>&1 &)",
                 getenv("CIN_TEST_PG"), f->pg_db);
        if (system(cmd) != 0)
            fprintf(stderr, "could not drop test database %s\n", f->pg_db);
        free(f->pg_db);
    }
    for (i = 0; i < U_COUNT; i++)
        free(f->token[i]);
    free(f->path);
    free(f->key_path);
    free(f->cli_args);
    tmpdir_remove(f->dir);
    free(f);
}

struct hdrs {
    const char *const *list;
    const char *auth;
    char authbuf[256];
    const char *ctype;
    char buf[1024];
};

static const char *lookup(void *ud, const char *name)
{
    struct hdrs *h = ud;
    size_t i, n = strlen(name);

    for (i = 0; h->list && h->list[i]; i++) {
        if (!strncasecmp(h->list[i], name, n) && h->list[i][n] == ':') {
            const char *v = h->list[i] + n + 1;
            while (*v == ' ')
                v++;
            snprintf(h->buf, sizeof(h->buf), "%s", v);
            return h->buf;
        }
    }
    if (!strcasecmp(name, "Authorization"))
        return h->auth;
    if (!strcasecmp(name, "Content-Type"))
        return h->ctype;
    return NULL;
}

hresp call(fixture *f, int u, const char *method, const char *path, const char *body,
           const char *const *headers)
{
    return call_from(f, u, "192.0.2.7", method, path, body, headers);
}

hresp call_from(fixture *f, int u, const char *peer, const char *method, const char *path,
                const char *body, const char *const *headers)
{
    cin_request req;
    struct hdrs h;
    hresp r;
    char *p = strdup(path), *q = strchr(p, '?');

    memset(&req, 0, sizeof(req));
    memset(&h, 0, sizeof(h));
    memset(&r, 0, sizeof(r));
    if (q)
        *q++ = '\0';
    h.list = headers;
    if (u >= 0) {
        snprintf(h.authbuf, sizeof(h.authbuf), "Bearer %s", f->token[u]);
        h.auth = h.authbuf;
    }
    h.ctype = body ? "application/json" : NULL;
    req.method = method;
    req.path = p;
    req.query = q;
    req.header = lookup;
    req.header_ud = &h;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.peer = peer;
    req.tls = 1;
    cin_http_handle(f->core, &req, &r.raw);
    r.status = r.raw.status;
    r.declined = r.raw.declined;
    r.body = r.raw.body;
    r.ctype = r.raw.content_type;
    if (r.body && r.ctype && strstr(r.ctype, "json"))
        r.json = json_loadb(r.body, r.raw.body_len, 0, NULL);
    free(p);
    return r;
}

void hresp_free(hresp *r)
{
    json_decref(r->json);
    cin_response_clear(&r->raw);
    memset(r, 0, sizeof(*r));
}

const char *hresp_header(const hresp *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->raw.nheaders; i++)
        if (!strcasecmp(r->raw.header_names[i], name))
            return r->raw.header_values[i];
    return NULL;
}

const char *jstr(const hresp *r, const char *field)
{
    return json_string_value(json_object_get(r->json, field));
}

const char *problem_code(const hresp *r)
{
    const char *t = jstr(r, "type");

    if (!t || strncmp(t, "urn:certinext:error:", 20))
        return "";
    return t + 20;
}

const char *order_new(fixture *f, int u, const char *product, const char *names_json)
{
    static char id[32];
    char body[2048];
    json_t *names = json_loads(names_json, 0, NULL);
    hresp r;

    ck_assert_ptr_nonnull(names);
    snprintf(body, sizeof(body), "{\"product\":\"%s\",\"common_name\":\"%s\",\"sans\":%s}", product,
             json_string_value(json_array_get(names, 0)), names_json);
    json_decref(names);
    r = call(f, u, "POST", "/api/v1/orders", body, NULL);
    ck_assert_msg(r.status == 201, "order failed: %d %s", r.status, r.body);
    snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
    hresp_free(&r);
    return id;
}

char *order_status(fixture *f, const char *id)
{
    cin_order o;
    char *s;

    ck_assert_int_eq(cin_store_order_get(f->st, cin_order_parse_id(id), &o), CIN_OK);
    s = strdup(o.status);
    cin_order_clear(&o);
    return s;
}

void agent_pass(fixture *f)
{
    cin_agent_stats s;
    char holder[160];

    /* as a server's agent names itself: this host's id, pid and thread */
    cin_agent_holder(cin_core_host_id(f->core), holder, sizeof(holder));
    ck_assert_int_eq(cin_agent_run_once(f->st, holder, &s), CIN_OK);
    settle(f);
}

void settle(fixture *f)
{
    uint64_t g = 0;

    if (!f->pg_db)
        return;
    ck_assert_int_eq(cin_store_generation(f->st, &g), CIN_OK);
    ck_assert_int_eq(cin_mirror_wait(f->core, g, 10000), CIN_OK);
}

long long count_rows(fixture *f, const char *table)
{
    char sql[128], *out;
    long long n;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    out = store_query(f, sql);
    n = atoll(out);
    free(out);
    return n;
}

char *store_query(fixture *f, const char *sql)
{
    char *out = NULL;

    ck_assert_msg(cin_store_query_text(f->st, sql, &out) == CIN_OK, "query failed: %s", sql);
    return out;
}

int store_is_pg(const fixture *f)
{
    return cin_store_target_is_central(f->path);
}

int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    int st;

    ck_assert_ptr_nonnull(p);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            buf = realloc(buf, cap);
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    if (!buf)
        buf = calloc(1, 1);
    buf[len] = '\0';
    st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *json_quote(const char *s)
{
    json_t *j = json_string(s);
    char *out = json_dumps(j, JSON_ENCODE_ANY);

    json_decref(j);
    return out;
}

void handshake_in_memory(SSL *c, SSL *s, const char *sni)
{
    BIO *b1, *b2;
    int i, rc_c = -1, rc_s = -1;

    ck_assert_int_eq(BIO_new_bio_pair(&b1, 0, &b2, 0), 1);
    SSL_set_bio(c, b1, b1);
    SSL_set_bio(s, b2, b2);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (sni)
        SSL_set_tlsext_host_name(c, sni);
    for (i = 0; i < 20 && (rc_c != 1 || rc_s != 1); i++) {
        if (rc_c != 1)
            rc_c = SSL_do_handshake(c);
        if (rc_s != 1)
            rc_s = SSL_do_handshake(s);
    }
    ck_assert_int_eq(rc_c, 1);
    ck_assert_int_eq(rc_s, 1);
}
