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

#include "cin_account.h"
#include "cin_security.h"
#include "cin_mirror.h"
#include "cin_util.h"
#include "acmesrv_int.h"
#include "cin_metrics.h"
#include "http_int.h"

#define SESSION_COOKIE "__Host-cin_session"
#define ERROR_PREFIX   "/_error/"
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
    if (r->secret && r->body)
        cin_memzero(r->body, r->body_len);
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

/* The one place where a problem becomes a response (RFC 7807). */
static void problem_send(cin_response *resp, const cin_problem *p)
{
    char *s = cin_problem_json(p);
    char ra[16];

    resp->status = p->status ? p->status : 500;
    free(resp->content_type);
    resp->content_type = strdup("application/problem+json");
    free(resp->body);
    resp->body = s;
    resp->body_len = s ? strlen(s) : 0;
    if (p->retry_after > 0) {
        snprintf(ra, sizeof(ra), "%d", p->retry_after);
        http_header(resp, "Retry-After", ra);
    }
}

static void problem_reply(cin_response *resp, int status, const char *code, const char *detail)
{
    cin_problem p = {0};

    cin_problem_set(&p, status, code, "%s", detail ? detail : cin_http_title(status));
    if (status == 503)
        p.retry_after = 1;
    problem_send(resp, &p);
    cin_problem_clear(&p);
}

void cin_http_problem(cin_response *resp, int status, const char *code, const char *detail)
{
    memset(resp, 0, sizeof(*resp));
    problem_reply(resp, status, code, detail);
}

int cin_http_refusal(const char *path, int status, size_t limit, cin_response *resp)
{
    char detail[96];

    memset(resp, 0, sizeof(*resp));
    if (acmesrv_is_path(path)) {
        acmesrv_refusal(status, limit, resp); /* issue 13: ACME clients read ACME problems */
        return 0;
    }
    if (status != 413)
        return -1;
    snprintf(detail, sizeof(detail), "the body is larger than %zu bytes", limit);
    problem_reply(resp, 413, "payload_too_large", detail);
    return 0;
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

void http_problem_field(http_ctx *c, const char *field, const char *fmt, ...)
{
    cin_problem p = {0};
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    cin_problem_field(&p, 400, "bad_request", field, "%s", s ? s : "bad request");
    free(s);
    problem_send(c->resp, &p);
    cin_problem_clear(&p);
}

void http_problem_from(http_ctx *c, cin_problem *p)
{
    if (!p->status)
        cin_problem_from_status(p, CIN_ERR);
    problem_send(c->resp, p);
    cin_problem_clear(p);
}

void http_fail(http_ctx *c, int rc)
{
    cin_problem p = {0};

    cin_problem_from_status(&p, rc);
    problem_send(c->resp, &p);
    cin_problem_clear(&p);
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
            http_problem_field(c, field, "\"%s\" is required", field);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        http_problem_field(c, field, "\"%s\" must be a string", field);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        http_problem_field(c, field, "\"%s\" must not contain NUL characters", field);
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
        http_problem_field(c, field, "\"%s\" must be true or false", field);
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
        http_problem_field(c, field, "\"%s\" must be an array of names", field);
        return -1;
    }
    if (json_array_size(v) > max) {
        http_problem_field(c, field, "\"%s\" has more than %zu entries", field, max);
        return -1;
    }
    *out = calloc(json_array_size(v) + 1, sizeof(char *));
    if (!*out) {
        http_fail(c, CIN_ENOMEM);
        return -1;
    }
    for (i = 0; i < json_array_size(v); i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
            free(*out);
            *out = NULL;
            http_problem_field(c, field, "\"%s\" must contain only strings", field);
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
            http_problem_field(c, "limit", "limit must be from 1 to 500");
            return -1;
        }
        *limit = (int)v;
    }
    if (http_query(c, "cursor", buf, sizeof(buf)) && *buf) {
        v = strtoll(buf, &end, 10);
        if (*end || v < 1) {
            http_problem_field(c, "cursor", "cursor is not one this API gave out");
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
    int rc = CIN_OK;
    json_t *j = cin_order_json_rc(c->st, &c->user, o, &rc);

    if (j && (rc = cin_renewal_json(c->st, o, j)) != CIN_OK) { /* issue 15 */
        json_decref(j);
        j = NULL;
    }
    if (!j)
        http_fail(c, rc);
    else
        http_json(c, status, j);
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
    /* from the store, or this host's mirror: never a network call here */
    st = cin_core_serving(core);
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
        if (rc == CIN_ENOTFOUND)
            http_problem(c, 401, "unauthorized", "the token is unknown, expired or revoked");
        else if (rc != CIN_OK)
            http_fail(c, rc);
        if (rc != CIN_OK)
            return -1;
        c->authed = 1;
        return 0;
    }
    sid = cookies ? cookie_value(cookies, SESSION_COOKIE) : NULL;
    if (!sid)
        return 0;
    rc = cin_store_session_get(c->st, sid, &c->user, &csrf);
    free(sid);
    if (rc == CIN_ENOTFOUND)
        return 0; /* an ended session is simply anonymous */
    if (rc != CIN_OK) {
        http_fail(c, rc);
        return -1;
    }
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

static json_t *user_summary(const cin_user *u)
{
    json_t *j = json_object();

    json_object_set_new(j, "name", json_string(u->name));
    json_object_set_new(j, "role", json_string(u->role));
    json_object_set_new(j, "account", json_string(u->account));
    json_object_set_new(j, "authorized_signatory", json_boolean(u->signatory));
    json_object_set_new(j, "totp_enrolled", json_boolean(u->totp_enrolled));
    json_object_set_new(j, "totp_enrolment_required",
                        json_boolean(u->account_requires_2fa && !u->totp_enrolled));
    return j;
}

static void session_login(http_ctx *c)
{
    cin_login_request lr = {NULL, NULL, NULL, NULL, c->req->peer, cin_core_session_ttl(c->core)};
    cin_client_cert cert;
    char cookie[256];
    cin_problem p = {0};
    cin_login l;
    json_t *j;
    int rc;

    /* a verified client certificate stands in for the password, here only */
    if (http_body_str(c, "username", !c->req->client_cert_pem, &lr.name) ||
        http_body_str(c, "password", !c->req->client_cert_pem, &lr.password) ||
        http_body_str(c, "totp", 0, &lr.totp))
        return;
    if (!lr.password && c->req->client_cert_pem &&
        cin_client_cert_parse(c->req->client_cert_pem, &cert) == CIN_OK)
        lr.cert = &cert;
    rc = cin_account_login_ex(c->st, &lr, &l, &p);
    if (lr.cert)
        cin_client_cert_clear(&cert);
    if (rc != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    /* __Host-: only this host, path /, TLS; a customer's site on another
     * host never receives it (README: where to mount the page) */
    snprintf(cookie, sizeof(cookie),
             SESSION_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Strict",
             l.session_id, cin_core_session_ttl(c->core));
    http_header(c->resp, "Set-Cookie", cookie);
    cin_memzero(cookie, sizeof(cookie));
    j = json_object();
    json_object_set_new(j, "csrf_token", json_string(l.csrf));
    json_object_set_new(j, "user", user_summary(&l.user));
    http_json(c, 200, j);
    cin_login_clear(&l);
}

/* Who the page is logged in as (and its CSRF token, so that a reload keeps working). */
static void session_whoami(http_ctx *c)
{
    const char *cookies = http_req_header(c, "Cookie");
    char *sid = NULL, *csrf = NULL;
    cin_user u;
    json_t *j;

    if (!c->authed) {
        http_problem(c, 401, "unauthorized", "not logged in");
        return;
    }
    j = json_object();
    json_object_set_new(j, "user", user_summary(&c->user));
    sid = c->via_cookie && cookies ? cookie_value(cookies, SESSION_COOKIE) : NULL;
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
    char *sid = cookies ? cookie_value(cookies, SESSION_COOKIE) : NULL;

    int rc = CIN_OK;

    if (sid) {
        rc = cin_store_begin(c->st);
        if (rc == CIN_OK) {
            rc = cin_store_session_delete(c->st, sid);
            if (rc == CIN_OK && c->authed)
                rc = cin_store_event_add(c->st, c->user.account_id, 0, c->user.name,
                                         "session.logout", c->req->peer, NULL);
            rc = cin_store_end(c->st, rc);
        }
        free(sid);
    }
    if (rc != CIN_OK) {
        /* the session may still be alive: say so rather than pretend */
        http_fail(c, rc);
        return;
    }
    http_header(c->resp, "Set-Cookie",
                SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    http_no_content(c);
}

static void health(http_ctx *c)
{
    uint64_t g = 0;
    json_t *j = json_object();
    int rc = cin_store_generation(c->st, &g);

    if (rc != CIN_OK) {
        json_decref(j);
        http_fail(c, rc);
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
    ct = http_req_header(c, "Content-Type");
    /* a DELETE's body counts only when it is JSON (DELETE /totp's proof) */
    if (c->req->body_len == 0 || is_safe_method(c->req->method) ||
        (!strcmp(c->req->method, "DELETE") && !(ct && !strncasecmp(ct, "application/json", 16)))) {
        c->body = json_object();
        return 0;
    }
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

/* The authenticated API's resource families by their first path segment
 * (/api/v1/FIRST/...): one line each; the rest is the account's (api_account.c). */
static const struct route {
    const char *first;
    void (*handle)(http_ctx *c);
} routes[] = {
    {"orders", api_orders},
    {"acme", api_acme},
    /* issue 16 */
    {"accounts", api_accounts},
    {"totp", api_totp},
    {"client-certificates", api_client_certs},
    {"reports", api_reports},
    {"groups", api_groups},
    {"fields", api_fields},
    {"domains", api_domains},             /* issue 14: claims; GET stays api_account's */
    {"distrust", api_distrust},           /* issue 14: replacement progress (api_domains.c) */
    {"webhooks", api_webhooks},           /* issue 15 (api_webhooks.c) */
    {"notifications", api_notifications}, /* issue 15 (api_webhooks.c) */
};

/* The account's own rules for an authenticated caller: its IP allowlist and,
 * for a page session, an enforced second factor (a session without one may
 * only enrol: enrolling true).  0, or a problem was sent. */
static int account_gates(http_ctx *c, int enrolling)
{
    if (!cin_ip_allowed(c->user.account_allowlist, c->req->peer)) {
        http_problem(c, 403, "forbidden", "this account's API is not open to %s",
                     c->req->peer ? c->req->peer : "this address");
        return -1;
    }
    /* API tokens are unaffected by the second-factor rule */
    if (c->via_cookie && c->user.account_requires_2fa && !c->user.totp_enrolled && !enrolling) {
        http_problem(c, 403, "totp_enrolment_required",
                     "this account requires two-factor login: enrol an authenticator first");
        return -1;
    }
    return 0;
}

static void api(http_ctx *c)
{
    const char *m = c->req->method;
    size_t i;

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
    if (account_gates(c, c->nseg >= 1 && !strcmp(c->seg[0], "totp")))
        return;
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (c->nseg >= 1 && !strcmp(c->seg[0], routes[i].first)) {
            routes[i].handle(c);
            return;
        }
    }
    api_account(c);
}

/*
 * A server's own refusal, redirected here by its error_page / ErrorDocument
 * (the glue sets them for its locations; conf-examples add them per server
 * for requests refused before any location is chosen): the same error as a
 * problem document, so that every error under the mount is problem+json.
 */
static void server_error(const char *status_text, cin_response *resp)
{
    static const struct {
        int status;
        const char *code;
        const char *detail;
    } known[] = {
        {400, "bad_request", "the server could not read the request"},
        {404, "not_found", "no such resource"},
        {405, "method_not_allowed", "this method is not allowed here"},
        {408, "bad_request", "the request took too long to arrive"},
        {411, "bad_request", "the request needs a Content-Length"},
        {413, "payload_too_large", "the body is larger than this server accepts"},
        {414, "bad_request", "the request's URI is too long"},
        {415, "unsupported_media_type", "send the body as JSON"},
        {431, "bad_request", "the request's headers are too large"},
        {494, "bad_request", "the request's headers are too large"},
        {500, "internal", "an internal error occurred; the server's error log has details"},
        {502, "store_unavailable", "the service is unavailable; try again shortly"},
        {503, "store_unavailable", "the service is unavailable; try again shortly"},
        {504, "store_unavailable", "the service did not answer in time; try again"},
    };
    char *end;
    long st = strtol(status_text, &end, 10);
    size_t i;

    for (i = 0; *end == '\0' && i < sizeof(known) / sizeof(known[0]); i++) {
        if (known[i].status == st) {
            problem_reply(resp, (int)(st == 494 ? 431 : st), known[i].code, known[i].detail);
            http_header(resp, "Cache-Control", "no-store");
            return;
        }
    }
    problem_reply(resp, 404, "not_found", "no such resource");
}

/* GET <mount>metrics: an address of the allow list (the provider's
 * Prometheus), else an account administrator's token or session. */
static void metrics(http_ctx *c)
{
    if (strcmp(c->req->method, "GET")) {
        http_problem(c, 405, "method_not_allowed", "use GET");
        return;
    }
    if (cin_metrics_addr_allowed(cin_core_metrics_allow(c->core), c->req->peer)) {
        api_metrics(c, 0, NULL);
        return;
    }
    if (!c->st) {
        http_problem(c, 503, "store_unavailable",
                     "the store cannot be opened; the server's error log says why");
        return;
    }
    if (authenticate(c))
        return;
    if (!c->authed)
        http_problem(c, 401, "unauthorized",
                     "send Authorization: Bearer <token> of an administrator, or scrape from "
                     "an address in certinext_metrics_allow / CertInextMetricsAllow");
    else if (strcmp(c->user.role, "admin"))
        http_problem(c, 403, "forbidden", "metrics are for administrators");
    else if (!account_gates(c, 0))
        api_metrics(c, c->user.account_id, c->user.account);
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
    if (!strncmp(req->path, ERROR_PREFIX, sizeof(ERROR_PREFIX) - 1)) {
        server_error(req->path + sizeof(ERROR_PREFIX) - 1, resp);
        return;
    }
    memset(&c, 0, sizeof(c));
    c.core = core;
    c.req = req;
    c.resp = resp;
    if (acmesrv_is_path(req->path)) {
        cin_metrics_add(CIN_M_ACME_SERVER_REQUESTS, 1);
        acmesrv_handle(core, req, resp); /* the ACME server (acmesrv.c) */
        return;
    }
    if (!strcmp(req->path, "/metrics")) {
        c.st = cin_core_store(core);
        metrics(&c);
        cin_user_clear(&c.user);
        http_header(resp, "Cache-Control", "no-store");
        return;
    }
    if (strncmp(req->path, "/api/v1/", 8) != 0 && strcmp(req->path, "/api/v1")) {
        cin_ui_serve(req, resp);
        return;
    }
    c.st = cin_core_store(core);
    if (!c.st) {
        problem_reply(resp, 503, "store_unavailable",
                      "the store cannot be opened; the server's error log says why");
        return;
    }
    path = strdup(req->path + 7);
    if (!path || split_path(&c, path)) {
        problem_reply(resp, 404, "not_found", "no such resource");
    } else {
        uint64_t gen;
        api(&c);
        /* a central store: this host serves what the request changed (a
         * revocation, a domain moved) before its answer goes out; the other
         * hosts follow within their syncer's notification */
        gen = cin_store_take_committed_generation(c.st);
        if (gen && cin_mirror_wait(core, gen, 3000) != CIN_OK)
            cin_log(cin_core_services(core), CIN_LOG_WARN,
                    "this host's mirror is behind the store (generation %llu); its syncer may "
                    "be stuck",
                    (unsigned long long)gen);
    }
    free(path);
    json_decref(c.body);
    cin_user_clear(&c.user);
    if (!resp->status)
        problem_reply(resp, 404, "not_found", "no such resource");
    http_header(resp, "Cache-Control", "no-store");
}
