/*
 * fuzz_http.c - the HTTP entry point, cin_http_handle() (common/src/http.c
 * and the handlers behind it), on a real temporary store.
 *
 * The store is seeded once per process the way tests/unit/harness.c seeds
 * its fixture: account "acme" (1000 credits; domains example.com,
 * shop.example.net, intranet.lan) with ann (admin, password "ann-password"),
 * sam (standard), bob (basic) and sig (standard, authorized signatory);
 * account "other" (domain other.org) with oscar (admin); a session of ann's;
 * and, placed through the API itself, R-000001 (sam, pending approval),
 * R-000002 (ann, paid and issued by the built-in CA), R-000003 (bob, pending)
 * and R-000004 (sam, EV, pending).  Every CIN_FUZZ_RESET_EVERY inputs
 * (default 1000) the store is deleted and made afresh, so a long run neither
 * fills the disk nor drifts far from the seeded state.
 *
 * Input, an HTTP request as a glue copies it:
 *   METHOD /path?query\n
 *   Name: value\n           headers up to an empty line; in a value
 *                           @admin @standard @basic @signatory @other stand
 *                           for those users' API tokens, @session and @csrf
 *                           for ann's session cookie value and CSRF token
 *   \n
 *   body                    bytes, handed over with its length only
 * CIN_FUZZ_VERBOSE=1 prints each request's answer (to read a crash input).
 *
 * Checks besides the sanitizers: the response is well formed (a status, at
 * most CIN_MAX_HEADERS headers, a body whose length is body_len, a JSON
 * content type only on a body that is JSON), and no request makes the core
 * answer 500, or 503 (single-threaded, the store is never busy: a 503 here
 * is an internal error some input provoked).
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "cin_agent.h"
#include "cin_ca.h"
#include "cin_core.h"
#include "cin_http.h"
#include "cin_store.h"
#include "fuzz_util.h"

#define PEER        "192.0.2.7"
#define MAX_HEADERS 16

enum { C_ADMIN, C_STANDARD, C_BASIC, C_SIGNATORY, C_OTHER, C_COUNT };

static const struct {
    const char *placeholder, *name, *role, *account;
    int signatory;
} callers[C_COUNT] = {
    {"@admin", "ann", "admin", "acme", 0},    {"@standard", "sam", "standard", "acme", 0},
    {"@basic", "bob", "basic", "acme", 0},    {"@signatory", "sig", "standard", "acme", 1},
    {"@other", "oscar", "admin", "other", 0},
};

static struct {
    char *dir, *path;
    cin_core *core;
    char *token[C_COUNT];
    char *sid, *csrf;
    unsigned long runs, reset_every;
} W;

static void quiet_log(void *ud, int level, const char *msg)
{
    (void)ud;
    if (level <= CIN_LOG_ERROR && getenv("CIN_FUZZ_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static const cin_services svc = {quiet_log, NULL, NULL};

static void must(int rc, const char *what, char *err)
{
    if (rc != CIN_OK) {
        fprintf(stderr, "fuzz_http: seeding the store: %s: %s\n", what, err ? err : "");
        abort();
    }
}

/* ---- requests --------------------------------------------------------------- */

typedef struct hdrs {
    size_t n;
    char *name[MAX_HEADERS];
    char *value[MAX_HEADERS];
} hdrs;

static const char *lookup(void *ud, const char *name)
{
    hdrs *h = ud;
    size_t i;

    for (i = 0; i < h->n; i++)
        if (!strcasecmp(h->name[i], name))
            return h->value[i];
    return NULL;
}

/* s with every placeholder replaced by its secret (malloc'd). */
static char *substitute(const char *s)
{
    size_t cap = strlen(s) + 1, len = 0;
    char *out = malloc(cap);

    FUZZ_CHECK(out);
    while (*s) {
        const char *with = NULL;
        size_t skip = 0, i, wlen;
        if (*s == '@') {
            for (i = 0; i < C_COUNT && !with; i++) {
                skip = strlen(callers[i].placeholder);
                if (!strncmp(s, callers[i].placeholder, skip))
                    with = W.token[i];
            }
            if (!with && !strncmp(s, "@session", 8)) {
                with = W.sid;
                skip = 8;
            } else if (!with && !strncmp(s, "@csrf", 5)) {
                with = W.csrf;
                skip = 5;
            }
        }
        if (!with) {
            with = s;
            skip = wlen = 1;
        } else {
            wlen = strlen(with);
        }
        if (len + wlen + 1 > cap) {
            cap = (len + wlen + 1) * 2;
            out = realloc(out, cap);
            FUZZ_CHECK(out);
        }
        memcpy(out + len, with, wlen);
        len += wlen;
        s += skip;
    }
    out[len] = '\0';
    return out;
}

static void check_response(const cin_request *req, const cin_response *r)
{
    size_t i;

    if (r->declined)
        return; /* a challenge path the store does not know */
    FUZZ_CHECK(r->status >= 200 && r->status <= 599);
    if (r->status == 500 || r->status == 503) {
        fprintf(stderr, "fuzz_http: the core answered %d: %.*s\n", r->status, (int)r->body_len,
                r->body ? r->body : "");
        abort();
    }
    FUZZ_CHECK(r->nheaders <= CIN_MAX_HEADERS);
    for (i = 0; i < r->nheaders; i++)
        FUZZ_CHECK(r->header_names[i] && r->header_values[i]);
    /* HEAD: no body, but body_len says what GET would send (Content-Length) */
    FUZZ_CHECK(r->body || r->body_len == 0 || !strcmp(req->method, "HEAD"));
    if (r->body && r->content_type && strstr(r->content_type, "json")) {
        json_error_t e;
        json_t *j = json_loadb(r->body, r->body_len, 0, &e);
        if (!j)
            fprintf(stderr, "fuzz_http: %s body is no JSON: %s\n", r->content_type, e.text);
        FUZZ_CHECK(j != NULL);
        json_decref(j);
    }
}

/* One request from the input format above; returns the status. */
static int handle(const uint8_t *data, size_t size, int check)
{
    const uint8_t *p = data, *end = data + size, *nl;
    cin_request req;
    cin_response resp;
    char *line, *sp, *q, *body = NULL;
    hdrs h;
    size_t i;
    int status;

    memset(&req, 0, sizeof(req));
    memset(&h, 0, sizeof(h));
    nl = memchr(p, '\n', size);
    line = fuzz_cstring(p, nl ? (size_t)(nl - p) : size);
    p = nl ? nl + 1 : end;
    req.method = line;
    if ((sp = strchr(line, ' '))) {
        *sp = '\0';
        req.path = sp + 1;
        if ((q = strchr(sp + 1, '?'))) {
            *q = '\0';
            req.query = q + 1;
        }
    }
    while (p < end) {
        char *hl, *colon, *v;
        size_t len;
        nl = memchr(p, '\n', (size_t)(end - p));
        len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        hl = fuzz_cstring(p, len && p[len - 1] == '\r' ? len - 1 : len);
        p = nl ? nl + 1 : end;
        if (!*hl) {
            free(hl);
            break;
        }
        colon = strchr(hl, ':');
        if (!colon || h.n == MAX_HEADERS) {
            free(hl);
            continue;
        }
        *colon = '\0';
        for (v = colon + 1; *v == ' '; v++)
            ;
        h.name[h.n] = strdup(hl);
        h.value[h.n] = substitute(v);
        h.n++;
        free(hl);
    }
    if (p < end) {
        body = malloc((size_t)(end - p)); /* no NUL after it: a reader must use body_len */
        FUZZ_CHECK(body);
        memcpy(body, p, (size_t)(end - p));
        req.body = body;
        req.body_len = (size_t)(end - p);
    }
    req.header = lookup;
    req.header_ud = &h;
    req.peer = PEER;
    req.tls = 1;
    cin_http_handle(W.core, &req, &resp);
    if (getenv("CIN_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_http: %s %s -> %d %.*s\n", req.method, req.path ? req.path : "",
                resp.status, (int)(resp.body_len > 300 ? 300 : resp.body_len),
                resp.body ? resp.body : "");
    if (check)
        check_response(&req, &resp);
    status = resp.status;
    cin_response_clear(&resp);
    for (i = 0; i < h.n; i++) {
        free(h.name[i]);
        free(h.value[i]);
    }
    free(body);
    free(line);
    return status;
}

/* A seeding request, made like a fuzz input; aborts unless it answers want. */
static void seed_call(const char *text, int want)
{
    int got = handle((const uint8_t *)text, strlen(text), 1);

    if (got != want) {
        fprintf(stderr, "fuzz_http: seeding: got %d, wanted %d for:\n%s\n", got, want, text);
        abort();
    }
}

/* ---- the store ---------------------------------------------------------------- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void world_free(void)
{
    int i;

    cin_core_free(W.core);
    W.core = NULL;
    for (i = 0; i < C_COUNT; i++) {
        free(W.token[i]);
        W.token[i] = NULL;
    }
    free(W.sid);
    free(W.csrf);
    W.sid = W.csrf = NULL;
    if (W.dir)
        nftw(W.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(W.dir);
    free(W.path);
    W.dir = W.path = NULL;
}

static void world_new(void)
{
    const char *tmp = getenv("TMPDIR");
    cin_core_config cfg = {0};
    cin_agent_stats stats;
    cin_store *st = NULL;
    int64_t acme = 0, other = 0, uid, ann = 0;
    char *err = NULL, tmpl[256];
    int i;

    snprintf(tmpl, sizeof(tmpl), "%s/cin-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(tmpl));
    W.dir = strdup(tmpl);
    W.path = malloc(strlen(W.dir) + 16);
    FUZZ_CHECK(W.dir && W.path);
    sprintf(W.path, "%s/store.db", W.dir);
    must(cin_store_create(W.path, &svc, &st, &err), "create", err);
    must(cin_ca_local_init(st, &err), "built-in CA", err);
    must(cin_store_begin(st), "begin", NULL);
    must(cin_store_account_create(st, "acme", 1000, &acme, &err), "account", err);
    must(cin_store_account_create(st, "other", 1000, &other, &err), "account", err);
    must(cin_store_domain_add(st, acme, "example.com", &err), "domain", err);
    must(cin_store_domain_add(st, acme, "shop.example.net", &err), "domain", err);
    must(cin_store_domain_add(st, acme, "intranet.lan", &err), "domain", err);
    must(cin_store_domain_add(st, other, "other.org", &err), "domain", err);
    for (i = 0; i < C_COUNT; i++) {
        must(cin_store_user_create(st, strcmp(callers[i].account, "acme") ? other : acme,
                                   callers[i].name, callers[i].role, callers[i].signatory,
                                   i == C_ADMIN ? "ann-password" : NULL, &uid, &err),
             "user", err);
        if (i == C_ADMIN)
            ann = uid;
        must(cin_store_token_create(st, uid, "fuzz", 0, &W.token[i], NULL), "token", NULL);
    }
    must(cin_store_session_create(st, ann, 8 * 3600, &W.sid, &W.csrf), "session", NULL);
    must(cin_store_commit(st), "commit", NULL);
    cin_store_close(st);

    cfg.store_path = W.path;
    must(cin_core_create(&cfg, &svc, &W.core, &err), "core", err);
    seed_call("POST /api/v1/orders\nAuthorization: Bearer @standard\n"
              "Content-Type: application/json\n\n"
              "{\"product\":\"dv-ssl\",\"common_name\":\"example.com\",\"sans\":[\"example.com\"]}",
              201);
    seed_call("POST /api/v1/orders\nAuthorization: Bearer @admin\n"
              "Content-Type: application/json\n\n"
              "{\"product\":\"dv-multi\",\"common_name\":\"shop.example.net\","
              "\"sans\":[\"shop.example.net\",\"www.example.com\"],\"auto_renew\":true}",
              201);
    seed_call("POST /api/v1/orders/R-000002/pay\nAuthorization: Bearer @admin\n"
              "Idempotency-Key: seed-pay-2\n\n",
              200);
    must(cin_agent_run_once(cin_core_store(W.core), "fuzz-agent", &stats), "agent", NULL);
    seed_call("POST /api/v1/orders\nAuthorization: Bearer @basic\n"
              "Content-Type: application/json\n\n"
              "{\"product\":\"dv-ssl\",\"common_name\":\"www.example.com\"}",
              201);
    seed_call("POST /api/v1/orders\nAuthorization: Bearer @standard\n"
              "Content-Type: application/json\n\n"
              "{\"product\":\"ev-ssl\",\"common_name\":\"example.com\"}",
              201);
    seed_call("GET /api/v1/orders/R-000002/certificate\nAuthorization: Bearer @admin\n\n", 200);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *every = getenv("CIN_FUZZ_RESET_EVERY");

    (void)argc;
    (void)argv;
    fuzz_forbid_passphrase_prompts();
    W.reset_every = every && atol(every) > 0 ? (unsigned long)atol(every) : 1000;
    world_new();
    atexit(world_free);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (W.runs && W.runs % W.reset_every == 0) {
        world_free();
        world_new();
    }
    W.runs++;
    handle(data, size, 1);
    return 0;
}
