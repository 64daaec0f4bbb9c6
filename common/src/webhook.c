/*
 * webhook.c - webhooks of an account (administrators; the secret returned
 * once and stored sealed), their delivery log, and each user's notification
 * e-mail address and opt-in. Store access through the statement layer;
 * permissions checked in the transaction that changes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cin_crypto.h"
#include "cin_notify.h"
#include "cin_store_order.h"
#include "cin_util.h"
#include "db.h"

#define SECRET_LABEL "webhook-secret"
#define MAX_URL      2000

static const char *const EVENTS[] = {"order.created",
                                     "order.approved",
                                     "order.rejected",
                                     "order.paid",
                                     "order.issued",
                                     "order.cancelled",
                                     "order.revoked",
                                     "order.failed",
                                     "order.renewal_failed",
                                     "order.expiring",
                                     NULL};

static int is_admin(const cin_actor *a)
{
    return a && a->user && !strcmp(a->user->role, "admin");
}

static int known_event(const char *e)
{
    size_t i;

    if (!strcmp(e, "*"))
        return 1;
    for (i = 0; EVENTS[i]; i++)
        if (!strcmp(EVENTS[i], e))
            return 1;
    return 0;
}

static int allow_private(cin_store *st)
{
    char *v = NULL;
    int yes =
        cin_store_setting_get(st, "webhook-allow-private", &v) == CIN_OK && v && !strcmp(v, "true");

    free(v);
    return yes;
}

/* http(s) URL with a host; *host malloc'd. */
static int parse_url(const char *url, char **host)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL;
    int ok = 0;

    *host = NULL;
    if (u && strlen(url) <= MAX_URL && !strpbrk(url, " \r\n\t") &&
        curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        (!strcmp(scheme, "https") || !strcmp(scheme, "http")) && h && *h) {
        *host = strdup(h);
        ok = *host != NULL;
    }
    curl_free(scheme);
    curl_free(h);
    curl_url_cleanup(u);
    return ok;
}

int cin_webhook_create(cin_store *st, const cin_actor *a, const char *url,
                       const char *const *events, size_t nevents, char **secret, cin_webhook *out,
                       cin_problem *p)
{
    unsigned char raw[32], *sealed = NULL;
    char hex[65], ev[1024] = "", *host = NULL, now[21];
    size_t i, len = 0, slen = 0;
    db_stmt *s;
    int rc;

    *secret = NULL;
    memset(out, 0, sizeof(*out));
    if (!is_admin(a)) {
        cin_problem_set(p, 403, "forbidden", "only an administrator manages webhooks");
        return CIN_EPERM;
    }
    if (!url || !parse_url(url, &host)) {
        cin_problem_field(p, 400, "bad_request", "url", "give an http or https URL");
        return CIN_EINVAL;
    }
    if (cin_host_is_private(host) && !allow_private(st)) {
        free(host);
        cin_problem_field(p, 400, "bad_request", "url",
                          "this address is on a private or loopback network; the provider does "
                          "not allow webhooks there");
        return CIN_EINVAL;
    }
    free(host);
    for (i = 0; i < nevents; i++) {
        if (!known_event(events[i])) {
            cin_problem_field(p, 400, "bad_request", "events", "unknown event %.60s", events[i]);
            return CIN_EINVAL;
        }
        if (len + strlen(events[i]) + 2 > sizeof(ev)) {
            cin_problem_field(p, 400, "bad_request", "events", "too many events");
            return CIN_EINVAL;
        }
        len += (size_t)snprintf(ev + len, sizeof(ev) - len, "%s%s", len ? " " : "", events[i]);
    }
    if (!nevents)
        snprintf(ev, sizeof(ev), "*");
    if (cin_random(raw, sizeof(raw)) != CIN_OK)
        return CIN_ERR;
    cin_hex(raw, sizeof(raw), hex);
    cin_memzero(raw, sizeof(raw));
    *secret = malloc(6 + sizeof(hex));
    if (!*secret) {
        cin_memzero(hex, sizeof(hex));
        return CIN_ENOMEM;
    }
    snprintf(*secret, 6 + sizeof(hex), "whsec_%s", hex);
    cin_memzero(hex, sizeof(hex));
    rc = cin_store_seal(st, SECRET_LABEL, (const unsigned char *)*secret, strlen(*secret), &sealed,
                        &slen);
    if (rc == CIN_OK)
        rc = cin_store_begin(st);
    if (rc == CIN_OK) {
        cin_time_rfc3339(cin_now(cin_store_services(st)), now);
        s = db_prepare(st, "INSERT INTO webhooks (account_id, url, events, secret, created_by,"
                           " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        db_bind_int(s, 1, a->user->account_id);
        db_bind_text(s, 2, url);
        db_bind_text(s, 3, ev);
        db_bind_blob(s, 4, sealed, slen);
        db_bind_text(s, 5, a->user->name);
        db_bind_text(s, 6, now);
        rc = db_run(s);
        if (rc == CIN_OK) {
            s = db_prepare(st, "SELECT max(id) FROM webhooks WHERE account_id = ?1");
            db_bind_int(s, 1, a->user->account_id);
            if ((rc = db_one(s)) == CIN_OK)
                out->id = db_col_int(s, 0);
            db_finalize(s);
        }
        if (rc == CIN_OK) {
            char detail[2100];
            snprintf(detail, sizeof(detail), "%s (%s)", url, ev);
            rc = cin_store_event_add(st, a->user->account_id, 0, a->user->name, "webhook.create",
                                     a->peer, detail);
        }
        rc = cin_store_end(st, rc);
    }
    free(sealed);
    if (rc != CIN_OK) {
        cin_free_secret(*secret, strlen(*secret));
        *secret = NULL;
        cin_problem_from_status(p, rc);
        return rc;
    }
    out->url = strdup(url);
    out->events = strdup(ev);
    out->created_by = strdup(a->user->name);
    out->created_at = strdup(now);
    return CIN_OK;
}

void cin_webhook_clear(cin_webhook *w)
{
    if (!w)
        return;
    free(w->url);
    free(w->events);
    free(w->created_by);
    free(w->created_at);
    memset(w, 0, sizeof(*w));
}

void cin_webhook_list_free(cin_webhook *w, size_t n)
{
    size_t i;

    for (i = 0; w && i < n; i++)
        cin_webhook_clear(&w[i]);
    free(w);
}

int cin_webhook_list(cin_store *st, const cin_actor *a, cin_webhook **out, size_t *n,
                     cin_problem *p)
{
    db_stmt *s;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (!is_admin(a)) {
        cin_problem_set(p, 403, "forbidden", "only an administrator manages webhooks");
        return CIN_EPERM;
    }
    s = db_prepare(st, "SELECT id, url, events, created_by, created_at FROM webhooks"
                       " WHERE account_id = ?1 AND deleted = 0 ORDER BY id");
    db_bind_int(s, 1, a->user->account_id);
    while ((rc = db_step(s)) == DB_ROW) {
        if (*n == cap) {
            cin_webhook *m = realloc(*out, (cap = cap ? cap * 2 : 8) * sizeof(**out));
            if (!m) {
                rc = CIN_ENOMEM;
                break;
            }
            *out = m;
        }
        (*out)[*n].id = db_col_int(s, 0);
        (*out)[*n].url = db_col_strdup(s, 1);
        (*out)[*n].events = db_col_strdup(s, 2);
        (*out)[*n].created_by = db_col_strdup(s, 3);
        (*out)[*n].created_at = db_col_strdup(s, 4);
        (*n)++;
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_webhook_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        cin_problem_from_status(p, rc);
    }
    return rc;
}

int cin_webhook_delete(cin_store *st, const cin_actor *a, int64_t id, cin_problem *p)
{
    db_stmt *s;
    int rc;

    if (!is_admin(a)) {
        cin_problem_set(p, 403, "forbidden", "only an administrator manages webhooks");
        return CIN_EPERM;
    }
    if ((rc = cin_store_begin(st)) != CIN_OK) {
        cin_problem_from_status(p, rc);
        return rc;
    }
    /* the secret goes at once; pending deliveries are dropped */
    s = db_prepare(st, "UPDATE webhooks SET deleted = 1, secret = ?3 WHERE id = ?1 AND"
                       " account_id = ?2 AND deleted = 0");
    db_bind_int(s, 1, id);
    db_bind_int(s, 2, a->user->account_id);
    db_bind_blob(s, 3, "", 0);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    if (rc == CIN_OK) {
        s = db_prepare(st, "UPDATE outbox SET state = 'dropped' WHERE webhook_id = ?1 AND"
                           " state = 'queued'");
        db_bind_int(s, 1, id);
        rc = db_run(s);
    }
    if (rc == CIN_OK) {
        char detail[40];
        snprintf(detail, sizeof(detail), "webhook %lld", (long long)id);
        rc = cin_store_event_add(st, a->user->account_id, 0, a->user->name, "webhook.delete",
                                 a->peer, detail);
    }
    rc = cin_store_end(st, rc);
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no webhook %lld", (long long)id);
    else if (rc != CIN_OK)
        cin_problem_from_status(p, rc);
    return rc;
}

void cin_delivery_list_free(cin_delivery *d, size_t n)
{
    size_t i;

    for (i = 0; d && i < n; i++) {
        free(d[i].kind);
        free(d[i].recipient);
        free(d[i].event);
        free(d[i].state);
        free(d[i].last_error);
    }
    free(d);
}

int cin_delivery_list(cin_store *st, const cin_actor *a, int64_t webhook_id, int limit,
                      cin_delivery **out, size_t *n, cin_problem *p)
{
    db_stmt *s;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (!is_admin(a)) {
        cin_problem_set(p, 403, "forbidden", "only an administrator manages webhooks");
        return CIN_EPERM;
    }
    s = db_prepare(st, "SELECT id FROM webhooks WHERE id = ?1 AND account_id = ?2");
    db_bind_int(s, 1, webhook_id);
    db_bind_int(s, 2, a->user->account_id);
    rc = db_one(s);
    db_finalize(s);
    if (rc != CIN_OK) {
        if (rc == CIN_ENOTFOUND)
            cin_problem_set(p, 404, "not_found", "no webhook %lld", (long long)webhook_id);
        else
            cin_problem_from_status(p, rc);
        return rc;
    }
    s = db_prepare(st, "SELECT id, coalesce(order_id, 0), kind, recipient, event, state,"
                       " last_error, attempts, last_status, created_at, next_at, sent_at"
                       " FROM outbox WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2");
    db_bind_int(s, 1, webhook_id);
    db_bind_int(s, 2, limit > 0 ? limit : 100);
    while ((rc = db_step(s)) == DB_ROW) {
        cin_delivery *d;
        if (*n == cap) {
            cin_delivery *m = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(**out));
            if (!m) {
                rc = CIN_ENOMEM;
                break;
            }
            *out = m;
        }
        d = &(*out)[(*n)++];
        d->id = db_col_int(s, 0);
        d->order_id = db_col_int(s, 1);
        d->kind = db_col_strdup(s, 2);
        d->recipient = db_col_strdup(s, 3);
        d->event = db_col_strdup(s, 4);
        d->state = db_col_strdup(s, 5);
        d->last_error = db_col_strdup(s, 6);
        d->attempts = (int)db_col_int(s, 7);
        d->last_status = (int)db_col_int(s, 8);
        d->created_at = db_col_int(s, 9);
        d->next_at = db_col_int(s, 10);
        d->sent_at = db_col_int(s, 11);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_delivery_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        cin_problem_from_status(p, rc);
    }
    return rc;
}

/* one @, no spaces or control characters, at most 254 characters */
static int valid_email(const char *e)
{
    const char *at = strchr(e, '@');
    const unsigned char *c;

    if (!at || at == e || !at[1] || strchr(at + 1, '@') || strlen(e) > 254 || !strchr(at, '.'))
        return 0;
    for (c = (const unsigned char *)e; *c; c++)
        if (*c <= ' ' || *c == 0x7f || *c == '<' || *c == '>' || *c == ',' || *c == '"')
            return 0;
    return 1;
}

int cin_email_valid(const char *e)
{
    return e && valid_email(e);
}
