/*
 * http.c - the entry point: challenge answers, authentication, body checks,
 * routing, and the one place where problems become RFC 7807 responses.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "cin_util.h"
#include "http_int.h"

#define LOGIN_WINDOW   900 /* seconds */
#define LOGIN_MAX_USER 5
#define LOGIN_MAX_PEER 20
#define ACME_PREFIX    "/.well-known/acme-challenge/"
#define PKI_PREFIX     "/.well-known/pki-validation/"

void cin_response_clear(cin_response *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->nheaders; i++) {
        free(r->header_names[i]);
        free(r->header_values[i]);
    }
    free(r->content_type);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

void http_header(cin_response *r, const char *name, const char *value)
{
    if (r->nheaders >= CIN_MAX_HEADERS)
        return;
    r->header_names[r->nheaders] = strdup(name);
    r->header_values[r->nheaders] = strdup(value);
    r->nheaders++;
}

void http_raw(http_ctx *c, int status, const char *type, char *body, size_t len)
{
    c->resp->status = status;
    free(c->resp->content_type);
    c->resp->content_type = type ? strdup(type) : NULL;
    free(c->resp->body);
    c->resp->body = body;
    c->resp->body_len = len;
}

void http_json(http_ctx *c, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    http_raw(c, status, "application/json", s, s ? strlen(s) : 0);
}

void http_no_content(http_ctx *c)
{
    http_raw(c, 204, NULL, NULL, 0);
}

static const char *title_of(int status)
{
    switch (status) {
    case 400:
        return "Bad request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Insufficient credits";
    case 403:
        return "Forbidden";
    case 404:
        return "Not found";
    case 405:
        return "Method not allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload too large";
    case 415:
        return "Unsupported media type";
    case 429:
        return "Too many requests";
    case 503:
        return "Store busy";
    default:
        return "Error";
    }
}

static void problem_reply(cin_response *resp, int status, const char *code, const char *detail)
{
    json_t *j = json_object();
    char type[96];
    char *s;

    snprintf(type, sizeof(type), "urn:certinext:error:%s", code);
    json_object_set_new(j, "type", json_string(type));
    json_object_set_new(j, "title", json_string(title_of(status)));
    json_object_set_new(j, "status", json_integer(status));
    json_object_set_new(j, "detail", json_string(detail ? detail : title_of(status)));
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    resp->status = status;
    free(resp->content_type);
    resp->content_type = strdup("application/problem+json");
    free(resp->body);
    resp->body = s;
    resp->body_len = s ? strlen(s) : 0;
    if (status == 503)
        http_header(resp, "Retry-After", "1");
}

void cin_http_problem(cin_response *resp, int status, const char *code, const char *detail)
{
    memset(resp, 0, sizeof(*resp));
    problem_reply(resp, status, code, detail);
}

void http_problem(http_ctx *c, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    problem_reply(c->resp, status, code, s);
    free(s);
}

void http_problem_from(http_ctx *c, cin_problem *p)
{
    problem_reply(c->resp, p->status ? p->status : 503, p->code ? p->code : "store_busy",
                  p->detail);
    cin_problem_clear(p);
}

const char *http_req_header(const http_ctx *c, const char *name)
{
    return c->req->header ? c->req->header(c->req->header_ud, name) : NULL;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

const char *http_query(const http_ctx *c, const char *name, char *buf, size_t len)
{
    const char *q = c->req->query, *p;
    size_t nlen = strlen(name), k;

    if (!q)
        return NULL;
    for (p = q; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, nlen) || (p[nlen] != '=' && p[nlen] != '&' && p[nlen]))
            continue;
        p += nlen;
        if (*p == '=')
            p++;
        for (k = 0; *p && *p != '&' && k + 1 < len; p++) {
            if (*p == '+') {
                buf[k++] = ' ';
            } else if (*p == '%' && hexval((unsigned char)p[1]) >= 0 &&
                       hexval((unsigned char)p[2]) >= 0) {
                buf[k++] = (char)(hexval((unsigned char)p[1]) * 16 + hexval((unsigned char)p[2]));
                p += 2;
            } else {
                buf[k++] = *p;
            }
        }
        buf[k] = '\0';
        return buf;
    }
    return NULL;
}

int http_body_str(http_ctx *c, const char *field, int required, const char **out)
{
    json_t *v = json_object_get(c->body, field);

    if (!v || json_is_null(v)) {
        if (required) {
            http_problem(c, 400, "bad_request", "\"%s\" is required", field);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        http_problem(c, 400, "bad_request", "\"%s\" must be a string", field);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        http_problem(c, 400, "bad_request", "\"%s\" must not contain NUL characters", field);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int http_body_int(http_ctx *c, const char *field, int64_t min, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(c->body, field);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        http_problem(c, 400, "bad_request", "\"%s\" must be a whole number from %lld to %lld",
                     field, (long long)min, (long long)max);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

int http_body_bool(http_ctx *c, const char *field, int *out)
{
    json_t *v = json_object_get(c->body, field);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        http_problem(c, 400, "bad_request", "\"%s\" must be true or false", field);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

int http_body_strv(http_ctx *c, const char *field, size_t max, const char ***out, size_t *n)
{
    json_t *v = json_object_get(c->body, field);
    size_t i;

    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v)) {
        http_problem(c, 400, "bad_request", "\"%s\" must be an array of names", field);
        return -1;
    }
    if (json_array_size(v) > max) {
        http_problem(c, 400, "bad_request", "\"%s\" has more than %zu entries", field, max);
        return -1;
    }
    *out = calloc(json_array_size(v) + 1, sizeof(char *));
    if (!*out) {
        http_problem(c, 503, "store_busy", "out of memory");
        return -1;
    }
    for (i = 0; i < json_array_size(v); i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
            free(*out);
            *out = NULL;
            http_problem(c, 400, "bad_request", "\"%s\" must contain only strings", field);
            return -1;
        }
        (*out)[i] = json_string_value(s);
    }
    *n = json_array_size(v);
    return 0;
}

int http_paging(http_ctx *c, int *limit, int64_t *cursor)
{
    char buf[32];
    char *end;
    long long v;

    *limit = 50;
    *cursor = 0;
    if (http_query(c, "limit", buf, sizeof(buf))) {
        v = strtoll(buf, &end, 10);
        if (*end || v < 1 || v > 500) {
            http_problem(c, 400, "bad_request", "limit must be from 1 to 500");
            return -1;
        }
        *limit = (int)v;
    }
    if (http_query(c, "cursor", buf, sizeof(buf)) && *buf) {
        v = strtoll(buf, &end, 10);
        if (*end || v < 1) {
            http_problem(c, 400, "bad_request", "cursor is not one this API gave out");
            return -1;
        }
        *cursor = v;
    }
    return 0;
}

int http_is_admin(const http_ctx *c)
{
    return c->authed && !strcmp(c->user.role, "admin");
}

void http_order(http_ctx *c, int status, const cin_order *o)
{
    http_json(c, status, cin_order_json(c->st, &c->user, o));
}

/* ---- challenges ------------------------------------------------------------- */

int cin_http_is_challenge_path(const char *path)
{
    return path && (!strncmp(path, ACME_PREFIX, sizeof(ACME_PREFIX) - 1) ||
                    !strncmp(path, PKI_PREFIX, sizeof(PKI_PREFIX) - 1));
}

static int token_ok(const char *t, int dots)
{
    size_t n = 0;

    for (; t[n]; n++) {
        char ch = t[n];
        if (!(isalnum((unsigned char)ch) || ch == '-' || ch == '_' || (dots && ch == '.')))
            return 0;
    }
    return n > 0 && n <= 255 && t[0] != '.';
}

static void challenge(cin_core *core, const cin_request *req, cin_response *resp)
{
    int acme = !strncmp(req->path, ACME_PREFIX, sizeof(ACME_PREFIX) - 1);
    const char *tok = req->path + (acme ? sizeof(ACME_PREFIX) : sizeof(PKI_PREFIX)) - 1;
    cin_store *st;
    char *content = NULL;

    resp->declined = 1;
    if ((strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) || !token_ok(tok, !acme))
        return;
    st = cin_core_store(core);
    if (!st || cin_store_challenge_get(st, acme ? "acme" : "pki", tok, &content) != CIN_OK)
        return; /* not ours: the server's next handler answers */
    resp->declined = 0;
    resp->status = 200;
    resp->content_type = strdup(acme ? "application/octet-stream" : "text/plain");
    resp->body = content;
    resp->body_len = strlen(content);
    http_header(resp, "Cache-Control", "no-store");
}

/* ---- authentication ---------------------------------------------------------- */

static char *cookie_value(const char *cookies, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = cookies;

    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        if (!strncmp(p, name, nlen) && p[nlen] == '=') {
            const char *v = p + nlen + 1, *end = strchr(v, ';');
            return strndup(v, end ? (size_t)(end - v) : strlen(v));
        }
        p = strchr(p, ';');
    }
    return NULL;
}

static int is_safe_method(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS");
}

/* 0: authed or anonymous (c->authed tells); -1: a reply was made. */
static int authenticate(http_ctx *c)
{
    const char *auth = http_req_header(c, "Authorization");
    const char *cookies = http_req_header(c, "Cookie");
    char *sid = NULL, *csrf = NULL;
    int rc;

    if (auth) {
        if (strncasecmp(auth, "Bearer ", 7) != 0) {
            http_problem(c, 401, "unauthorized", "use Authorization: Bearer <token>");
            return -1;
        }
        rc = cin_store_token_authenticate(c->st, auth + 7, &c->user);
        if (rc != CIN_OK) {
            http_problem(c, rc == CIN_ENOTFOUND ? 401 : 503,
                         rc == CIN_ENOTFOUND ? "unauthorized" : "store_busy",
                         rc == CIN_ENOTFOUND ? "the token is unknown, expired or revoked"
                                             : "the store is busy");
            return -1;
        }
        c->authed = 1;
        return 0;
    }
    sid = cookies ? cookie_value(cookies, "cin_session") : NULL;
    if (!sid)
        return 0;
    rc = cin_store_session_get(c->st, sid, &c->user, &csrf);
    free(sid);
    if (rc != CIN_OK)
        return 0; /* an ended session is simply anonymous */
    c->authed = 1;
    c->via_cookie = 1;
    if (!is_safe_method(c->req->method)) {
        const char *h = http_req_header(c, "X-CSRF-Token");
        if (!h || strlen(h) != strlen(csrf) || CRYPTO_memcmp(h, csrf, strlen(csrf)) != 0) {
            free(csrf);
            http_problem(c, 403, "forbidden",
                         "a request that changes state with the session cookie needs the "
                         "X-CSRF-Token header given at login");
            return -1;
        }
    }
    free(csrf);
    return 0;
}

/* ---- session ------------------------------------------------------------------ */

static void session_login(http_ctx *c)
{
    const char *name = NULL, *password = NULL;
    char ukey[128], pkey[128], *sid = NULL, *csrf = NULL, cookie[256];
    int ufail = 0, pfail = 0, ok = 0, rc;
    cin_user u;
    json_t *j, *uj;

    if (http_body_str(c, "username", 1, &name) || http_body_str(c, "password", 1, &password))
        return;
    snprintf(ukey, sizeof(ukey), "user:%.100s", name);
    snprintf(pkey, sizeof(pkey), "peer:%.100s", c->req->peer ? c->req->peer : "");
    cin_store_login_failures(c->st, ukey, LOGIN_WINDOW, &ufail);
    cin_store_login_failures(c->st, pkey, LOGIN_WINDOW, &pfail);
    if (ufail >= LOGIN_MAX_USER || pfail >= LOGIN_MAX_PEER) {
        http_problem(c, 429, "rate_limited",
                     "too many failed logins; the account is locked for %d minutes",
                     LOGIN_WINDOW / 60);
        http_header(c->resp, "Retry-After", "900");
        return;
    }
    rc = cin_store_user_get(c->st, name, &u);
    if (rc == CIN_OK && !u.disabled && u.password_hash)
        ok = cin_password_verify(password, u.password_hash);
    else
        cin_password_verify(password,
                            "$scrypt$ln=14,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$"
                            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); /* same cost */
    if (!ok) {
        if (cin_store_begin(c->st) == CIN_OK) {
            cin_store_login_failed(c->st, ukey, LOGIN_WINDOW);
            cin_store_login_failed(c->st, pkey, LOGIN_WINDOW);
            cin_store_event_add(c->st, rc == CIN_OK ? u.account_id : 0, 0, name,
                                "session.login_failed", c->req->peer, NULL);
            if (cin_store_commit(c->st) != CIN_OK)
                cin_store_rollback(c->st);
        }
        cin_user_clear(&u);
        http_problem(c, 401, "unauthorized", "wrong user name or password");
        return;
    }
    rc = cin_store_begin(c->st);
    if (rc == CIN_OK)
        rc = cin_store_session_create(c->st, u.id, cin_core_session_ttl(c->core), &sid, &csrf);
    if (rc == CIN_OK)
        rc = cin_store_login_reset(c->st, ukey);
    if (rc == CIN_OK)
        rc = cin_store_event_add(c->st, u.account_id, 0, u.name, "session.login", c->req->peer,
                                 NULL);
    rc = cin_store_end(c->st, rc);
    if (rc != CIN_OK) {
        cin_user_clear(&u);
        free(sid);
        free(csrf);
        http_problem(c, 503, "store_busy", "the store is busy; try again");
        return;
    }
    snprintf(cookie, sizeof(cookie),
             "cin_session=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Strict", sid,
             cin_core_session_ttl(c->core));
    http_header(c->resp, "Set-Cookie", cookie);
    j = json_object();
    uj = json_object();
    json_object_set_new(uj, "name", json_string(u.name));
    json_object_set_new(uj, "role", json_string(u.role));
    json_object_set_new(uj, "account", json_string(u.account));
    json_object_set_new(uj, "authorized_signatory", json_boolean(u.signatory));
    json_object_set_new(j, "csrf_token", json_string(csrf));
    json_object_set_new(j, "user", uj);
    http_json(c, 200, j);
    cin_free_secret(sid, strlen(sid));
    cin_free_secret(csrf, strlen(csrf));
    cin_user_clear(&u);
}

/* Who the page is logged in as (and its CSRF token, so that a reload keeps working). */
static void session_whoami(http_ctx *c)
{
    const char *cookies = http_req_header(c, "Cookie");
    char *sid = NULL, *csrf = NULL;
    cin_user u;
    json_t *j, *uj;

    if (!c->authed) {
        http_problem(c, 401, "unauthorized", "not logged in");
        return;
    }
    j = json_object();
    uj = json_object();
    json_object_set_new(uj, "name", json_string(c->user.name));
    json_object_set_new(uj, "role", json_string(c->user.role));
    json_object_set_new(uj, "account", json_string(c->user.account));
    json_object_set_new(uj, "authorized_signatory", json_boolean(c->user.signatory));
    json_object_set_new(j, "user", uj);
    sid = c->via_cookie && cookies ? cookie_value(cookies, "cin_session") : NULL;
    if (sid && cin_store_session_get(c->st, sid, &u, &csrf) == CIN_OK) {
        json_object_set_new(j, "csrf_token", json_string(csrf));
        cin_user_clear(&u);
        cin_free_secret(csrf, strlen(csrf));
    }
    free(sid);
    http_json(c, 200, j);
}

static void session_logout(http_ctx *c)
{
    const char *cookies = http_req_header(c, "Cookie");
    char *sid = cookies ? cookie_value(cookies, "cin_session") : NULL;

    if (sid) {
        if (cin_store_begin(c->st) == CIN_OK) {
            cin_store_session_delete(c->st, sid);
            if (c->authed)
                cin_store_event_add(c->st, c->user.account_id, 0, c->user.name, "session.logout",
                                    c->req->peer, NULL);
            if (cin_store_commit(c->st) != CIN_OK)
                cin_store_rollback(c->st);
        }
        free(sid);
    }
    http_header(c->resp, "Set-Cookie",
                "cin_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    http_no_content(c);
}

static void health(http_ctx *c)
{
    uint64_t g = 0;
    json_t *j = json_object();

    if (cin_store_generation(c->st, &g) != CIN_OK) {
        json_decref(j);
        http_problem(c, 503, "store_busy", "the store does not answer");
        return;
    }
    json_object_set_new(j, "store", json_string("ok"));
    json_object_set_new(j, "generation", json_integer((json_int_t)g));
    http_json(c, 200, j);
}

/* ---- entry ---------------------------------------------------------------------- */

static int split_path(http_ctx *c, char *path)
{
    char *save = NULL, *tok;

    c->nseg = 0;
    for (tok = strtok_r(path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (c->nseg == sizeof(c->seg) / sizeof(c->seg[0]))
            return -1;
        c->seg[c->nseg++] = tok;
    }
    return 0;
}

static int parse_body(http_ctx *c)
{
    const char *ct;
    json_error_t e;

    if (c->req->body_len > cin_core_body_limit(c->core)) {
        http_problem(c, 413, "payload_too_large", "the body is larger than %zu bytes",
                     cin_core_body_limit(c->core));
        return -1;
    }
    if (c->req->body_len == 0 || is_safe_method(c->req->method) ||
        !strcmp(c->req->method, "DELETE")) {
        c->body = json_object();
        return 0;
    }
    ct = http_req_header(c, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        http_problem(c, 415, "unsupported_media_type",
                     "send the body as JSON with Content-Type: application/json");
        return -1;
    }
    c->body = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!c->body) {
        http_problem(c, 400, "bad_request", "the body is not valid JSON: %s (line %d)", e.text,
                     e.line);
        return -1;
    }
    if (!json_is_object(c->body)) {
        http_problem(c, 400, "bad_request", "the body must be a JSON object");
        return -1;
    }
    return 0;
}

static void api(http_ctx *c)
{
    const char *m = c->req->method;

    if (parse_body(c) || authenticate(c))
        return;
    c->actor.user = c->authed ? &c->user : NULL;
    c->actor.peer = c->req->peer;
    if (c->nseg == 1 && !strcmp(c->seg[0], "health")) {
        if (strcmp(m, "GET"))
            http_problem(c, 405, "method_not_allowed", "use GET");
        else
            health(c);
        return;
    }
    if (c->nseg == 1 && !strcmp(c->seg[0], "session")) {
        if (!strcmp(m, "POST"))
            session_login(c);
        else if (!strcmp(m, "DELETE"))
            session_logout(c);
        else if (!strcmp(m, "GET"))
            session_whoami(c);
        else
            http_problem(c, 405, "method_not_allowed",
                         "use POST to log in, GET to see who is logged in, DELETE to log out");
        return;
    }
    if (!c->authed) {
        http_problem(c, 401, "unauthorized",
                     "log in (POST /api/v1/session) or send Authorization: Bearer <token>");
        return;
    }
    if (c->nseg >= 1 && !strcmp(c->seg[0], "orders"))
        api_orders(c);
    else
        api_account(c);
}

void cin_http_handle(cin_core *core, const cin_request *req, cin_response *resp)
{
    http_ctx c;
    char *path = NULL;

    memset(resp, 0, sizeof(*resp));
    if (!req->method || !req->path) {
        problem_reply(resp, 400, "bad_request", "no method or path");
        return;
    }
    if (cin_http_is_challenge_path(req->path)) {
        challenge(core, req, resp);
        return;
    }
    memset(&c, 0, sizeof(c));
    c.core = core;
    c.req = req;
    c.resp = resp;
    if (strncmp(req->path, "/api/v1/", 8) != 0 && strcmp(req->path, "/api/v1")) {
        cin_ui_serve(req, resp);
        return;
    }
    c.st = cin_core_store(core);
    if (!c.st) {
        problem_reply(resp, 503, "store_busy", "the store cannot be opened; see the error log");
        return;
    }
    path = strdup(req->path + 7);
    if (!path || split_path(&c, path)) {
        problem_reply(resp, 404, "not_found", "no such resource");
    } else {
        api(&c);
    }
    free(path);
    json_decref(c.body);
    cin_user_clear(&c.user);
    if (!resp->status)
        problem_reply(resp, 404, "not_found", "no such resource");
    http_header(resp, "Cache-Control", "no-store");
}
