/* problem.c - the error model's one mapping and its one JSON form (cin_problem.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cin_problem.h"
#include "cin_util.h"

#define TYPE_PREFIX "urn:certinext:error:"

/* The codes API.md names, so that a parsed problem's code is a static string. */
static const char *const known_codes[] = {
    "bad_request",
    "invalid_csr",
    "weak_key",
    "invalid_domain",
    "unauthorized",
    "insufficient_credits",
    "forbidden",
    "domain_not_owned",
    "not_found",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "unsupported_media_type",
    "rate_limited",
    "store_busy",
    "store_unavailable",
    "internal",
    "ca_error",
    "ca_unavailable",
    "renewal_failed",
    "totp_required",
    "not_verified",    /* issue 14: a domain claim's TXT record is not there */
    "dns_unavailable", /* issue 14: it cannot be looked up now */
    "dns_busy",        /* issue 14: too many claim look-ups under way */
};

static const char *static_code(const char *code)
{
    size_t i;

    for (i = 0; code && i < sizeof(known_codes) / sizeof(known_codes[0]); i++)
        if (!strcmp(code, known_codes[i]))
            return known_codes[i];
    return "ca_error";
}

int cin_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n, k;
        unsigned cp;

        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return 0;
        for (k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

char *cin_utf8_clean(const char *s)
{
    size_t len, i, o = 0;
    char *out;

    if (!s)
        return NULL;
    len = strlen(s);
    if (cin_utf8_valid(s, len))
        return strdup(s);
    out = malloc(len * 4 + 1);
    if (!out)
        return NULL;
    for (i = 0; i < len;) {
        size_t n = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            /* the longest valid sequence starting here, if any */
            n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
            if (n == 0 || i + n > len || !cin_utf8_valid(s + i, n))
                n = 0;
        }
        if (n == 0) {
            o += (size_t)sprintf(out + o, "\\x%02X", c);
            i++;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

__attribute__((format(printf, 5, 0))) static void problem_vset(cin_problem *p, int status,
                                                               const char *code, const char *field,
                                                               const char *fmt, va_list ap)
{
    char *s = NULL;

    cin_problem_clear(p);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    p->status = status;
    p->code = code;
    p->detail = cin_utf8_clean(s);
    p->field = field ? strdup(field) : NULL;
    free(s);
}

void cin_problem_set(cin_problem *p, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (!p)
        return;
    va_start(ap, fmt);
    problem_vset(p, status, code, NULL, fmt, ap);
    va_end(ap);
}

void cin_problem_field(cin_problem *p, int status, const char *code, const char *field,
                       const char *fmt, ...)
{
    va_list ap;

    if (!p)
        return;
    va_start(ap, fmt);
    problem_vset(p, status, code, field, fmt, ap);
    va_end(ap);
}

static const struct status_map {
    int rc;
    int http;
    const char *code;
    const char *detail;
    int retry_after;
} status_map[] = {
    {CIN_EBUSY, 503, "store_busy", "the store is busy; try again in a moment", 1},
    {CIN_EUNAVAIL, 503, "store_unavailable", "the store cannot be reached; try again shortly", 5},
    {CIN_EIO, 503, "store_unavailable", "the store could not be read or written; try again", 5},
    {CIN_ENOTFOUND, 404, "not_found", "no such resource", 0},
    {CIN_EEXIST, 409, "conflict", "it already exists", 0},
    {CIN_ECONFLICT, 409, "conflict", "this is not allowed in the current state", 0},
    {CIN_EPERM, 403, "forbidden", "you may not do this", 0},
    {CIN_ECREDITS, 402, "insufficient_credits", "the account has too few credits", 0},
    {CIN_EINVAL, 400, "bad_request", "the request is not valid", 0},
    {CIN_EAUTH, 401, "unauthorized", "log in or send a valid token", 0},
    {CIN_ELIMIT, 429, "rate_limited", "too many requests; try again later", 60},
};

static const struct status_map internal = {
    CIN_ERR, 500, "internal", "an internal error occurred; the server's error log has details", 0};

static const struct status_map *map_of(int rc)
{
    size_t i;

    for (i = 0; i < sizeof(status_map) / sizeof(status_map[0]); i++)
        if (status_map[i].rc == rc)
            return &status_map[i];
    return &internal;
}

int cin_status_http(int rc, const char **code)
{
    const struct status_map *m = map_of(rc);

    if (code)
        *code = m->code;
    return m->http;
}

int cin_problem_from_status(cin_problem *p, int rc)
{
    const struct status_map *m = map_of(rc);

    if (p) {
        cin_problem_set(p, m->http, m->code, "%s", m->detail);
        p->retry_after = m->retry_after;
    }
    return rc == CIN_OK ? CIN_ERR : rc;
}

void cin_problem_clear(cin_problem *p)
{
    if (!p)
        return;
    free(p->type);
    free(p->title);
    free(p->detail);
    free(p->field);
    free(p->extra_json);
    memset(p, 0, sizeof(*p));
}

void cin_problem_move(cin_problem *dst, cin_problem *src)
{
    cin_problem_clear(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

int cin_problem_copy(cin_problem *dst, const cin_problem *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->status = src->status;
    dst->code = src->code;
    dst->retry_after = src->retry_after;
    dst->type = cin_strdup(src->type);
    dst->title = cin_strdup(src->title);
    dst->detail = cin_strdup(src->detail);
    dst->field = cin_strdup(src->field);
    dst->extra_json = cin_strdup(src->extra_json);
    if ((src->type && !dst->type) || (src->title && !dst->title) || (src->detail && !dst->detail) ||
        (src->field && !dst->field) || (src->extra_json && !dst->extra_json)) {
        cin_problem_clear(dst);
        return CIN_ENOMEM;
    }
    return CIN_OK;
}

const char *cin_http_title(int status)
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
    case 500:
        return "Internal error";
    case 503:
        return "Service unavailable";
    default:
        return "Error";
    }
}

/* A string member, made valid UTF-8 on the way (jansson refuses anything else). */
static void set_str(json_t *j, const char *key, const char *v)
{
    char *clean = cin_utf8_clean(v);

    if (clean)
        json_object_set_new(j, key, json_string(clean));
    free(clean);
}

char *cin_problem_json(const cin_problem *p)
{
    int status = p->status ? p->status : 500;
    json_t *j = json_object(), *extra;
    char type[96];
    char *s;

    if (p->type) {
        set_str(j, "type", p->type);
    } else {
        snprintf(type, sizeof(type), TYPE_PREFIX "%s", p->code ? p->code : "internal");
        json_object_set_new(j, "type", json_string(type));
    }
    set_str(j, "title", p->title ? p->title : cin_http_title(status));
    json_object_set_new(j, "status", json_integer(status));
    set_str(j, "detail", p->detail ? p->detail : cin_http_title(status));
    if (p->field)
        set_str(j, "field", p->field);
    if (p->retry_after > 0)
        json_object_set_new(j, "retry_after", json_integer(p->retry_after));
    if (p->extra_json && (extra = json_loads(p->extra_json, 0, NULL))) {
        if (json_is_object(extra))
            json_object_update_missing(j, extra);
        json_decref(extra);
    }
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

int cin_problem_parse(const char *text, cin_problem *p)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL, *extra;
    const char *type, *key;
    json_t *v;

    memset(p, 0, sizeof(*p));
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return CIN_EINVAL;
    }
    type = json_string_value(json_object_get(j, "type"));
    if (type && !strncmp(type, TYPE_PREFIX, sizeof(TYPE_PREFIX) - 1)) {
        p->code = static_code(type + sizeof(TYPE_PREFIX) - 1);
        if (strcmp(p->code, type + sizeof(TYPE_PREFIX) - 1))
            p->type = strdup(type);
    } else {
        p->code = "ca_error";
        p->type = cin_strdup(type ? type : "about:blank");
    }
    p->title = cin_strdup(json_string_value(json_object_get(j, "title")));
    p->detail = cin_strdup(json_string_value(json_object_get(j, "detail")));
    p->field = cin_strdup(json_string_value(json_object_get(j, "field")));
    p->status = (int)json_integer_value(json_object_get(j, "status"));
    p->retry_after = (int)json_integer_value(json_object_get(j, "retry_after"));
    extra = json_object();
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "type") && strcmp(key, "title") && strcmp(key, "detail") &&
            strcmp(key, "field") && strcmp(key, "status") && strcmp(key, "retry_after"))
            json_object_set(extra, key, v);
    }
    if (json_object_size(extra))
        p->extra_json = json_dumps(extra, JSON_COMPACT);
    json_decref(extra);
    json_decref(j);
    return CIN_OK;
}
