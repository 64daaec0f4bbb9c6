/*
 * notify.c - the agent's notification pass (issue 15).
 *
 * 1. Order events after the pass's cursor (a setting) become outbox rows, in
 *    one transaction that moves the cursor only if no other host moved it:
 *    e-mails to the account's administrators (an order waits for approval) and
 *    to requesters (approved, rejected with the reason, issued; failed
 *    renewals to both), for users with an address who did not opt out; and
 *    one JSON delivery per matching webhook.
 * 2. Due outbox rows are claimed one by one (a conditional update), sent
 *    outside any transaction (SMTP or HTTPS through libcurl), then marked
 *    sent, or retried with a doubling delay, up to CIN_NOTIFY_MAX_ATTEMPTS.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cin_crypto.h"
#include "cin_notify.h"
#include "cin_order.h"
#include "cin_store_order.h"
#include "cin_util.h"
#include "db.h"

#define CURSOR_KEY      "notify_cursor"
#define EVENTS_PER_PASS 200
#define SENDS_PER_PASS  20
#define CLAIM_SECONDS   120
/* a pass stops sending after this many seconds: the agent's other work (issuing,
 * renewing) runs in the same thread and must not wait long on a slow mail server */
#define SEND_BUDGET 10

/* ---- pure helpers ---------------------------------------------------------- */

void cin_webhook_signature(const char *secret, time_t t, const char *body, size_t len,
                           char out[CIN_SIGNATURE_MAX])
{
    unsigned char mac[32];
    char ts[24], hex[65];
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[2];
    size_t olen = 0;

    snprintf(ts, sizeof(ts), "%lld", (long long)t);
    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    out[0] = '\0';
    if (c && EVP_MAC_init(c, (const unsigned char *)secret, strlen(secret), params) == 1 &&
        EVP_MAC_update(c, (const unsigned char *)ts, strlen(ts)) == 1 &&
        EVP_MAC_update(c, (const unsigned char *)".", 1) == 1 &&
        EVP_MAC_update(c, (const unsigned char *)body, len) == 1 &&
        EVP_MAC_final(c, mac, &olen, sizeof(mac)) == 1 && olen == sizeof(mac)) {
        cin_hex(mac, sizeof(mac), hex);
        snprintf(out, CIN_SIGNATURE_MAX, "t=%s,v1=%s", ts, hex);
    }
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    cin_memzero(mac, sizeof(mac));
}

static int v4_private(const unsigned char *b)
{
    return b[0] == 127 || b[0] == 10 || b[0] == 0 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
           (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) ||
           (b[0] == 100 && (b[1] & 0xc0) == 64) || b[0] >= 224;
}

static int v6_private(const unsigned char *b)
{
    static const unsigned char loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char any[16] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (!memcmp(b, loop, 16) || !memcmp(b, any, 16))
        return 1;
    if (!memcmp(b, mapped, 12))
        return v4_private(b + 12);
    return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff;
}

int cin_host_is_private(const char *host)
{
    unsigned char b[16];
    char h[256];
    size_t len;

    if (!host || !*host)
        return 1;
    snprintf(h, sizeof(h), "%s", host);
    len = strlen(h);
    if (h[0] == '[' && len > 2 && h[len - 1] == ']') { /* [v6] */
        memmove(h, h + 1, len - 2);
        h[len - 2] = '\0';
    }
    if (inet_pton(AF_INET, h, b) == 1)
        return v4_private(b);
    if (inet_pton(AF_INET6, h, b) == 1)
        return v6_private(b);
    len = strlen(h);
    if (!strcasecmp(h, "localhost") || (len > 10 && !strcasecmp(h + len - 10, ".localhost")))
        return 1;
    return 0;
}

long cin_notify_backoff(long base, int attempts)
{
    long d = base > 0 ? base : 60;
    int i;

    for (i = 1; i < attempts && d < 6 * 3600; i++)
        d *= 2;
    return d > 6 * 3600 ? 6 * 3600 : d;
}

/* ---- settings -------------------------------------------------------------- */

static char *setting(cin_store *st, const char *key)
{
    char *v = NULL;

    if (cin_store_setting_get(st, key, &v) != CIN_OK) {
        free(v);
        return NULL;
    }
    return v;
}

static int setting_true(cin_store *st, const char *key)
{
    char *v = setting(st, key);
    int yes = v && !strcmp(v, "true");

    free(v);
    return yes;
}

/* ---- 1: events into the outbox --------------------------------------------- */

static const struct {
    const char *action; /* the audit action */
    const char *event;  /* the webhook event */
    int to_admins, to_requester;
} MAP[] = {
    {"order.create", "order.created", 1, 0},
    {"order.approve", "order.approved", 0, 1},
    {"order.reject", "order.rejected", 0, 1},
    {"order.pay", "order.paid", 0, 0},
    {"order.issued", "order.issued", 0, 1},
    {"order.cancel", "order.cancelled", 0, 0},
    {"order.revoke", "order.revoked", 0, 0},
    {"order.failed", "order.failed", 0, 0},
    {"order.renewal_failed", "order.renewal_failed", 1, 1},
    {"expiring", "order.expiring", 1, 1}, /* not an audit action: the expiry check */
};

static int queue(cin_store *st, int64_t account, const char *kind, int64_t webhook, const char *to,
                 const char *subject, const char *body, const char *event, int64_t order,
                 time_t now)
{
    db_stmt *s = db_prepare(st, "INSERT INTO outbox (account_id, kind, webhook_id, recipient,"
                                " subject, body, event, order_id, next_at, created_at)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)");

    db_bind_int(s, 1, account);
    db_bind_text(s, 2, kind);
    db_bind_id(s, 3, webhook);
    db_bind_text(s, 4, to);
    db_bind_text(s, 5, subject);
    db_bind_text(s, 6, body);
    db_bind_text(s, 7, event);
    db_bind_id(s, 8, order);
    db_bind_int(s, 9, (int64_t)now);
    return db_run(s);
}

static void mail_text(const cin_order *o, const char *action, char *subj, size_t sl, char *body,
                      size_t bl)
{
    char id[24], names[600] = "";
    size_t i, len = 0;

    snprintf(id, sizeof(id), "R-%06lld", (long long)o->id);
    for (i = 0; i < o->nsans && len + 2 < sizeof(names); i++)
        len +=
            (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "", o->sans[i]);
    if (!strcmp(action, "order.create")) {
        snprintf(subj, sl, "%s waits for your approval", id);
        snprintf(body, bl,
                 "%s requested a certificate for %s (%s, %d credits).\n\n"
                 "Open the order to approve or reject it.\n",
                 o->requester, names, o->product, (int)o->price);
    } else if (!strcmp(action, "order.approve")) {
        snprintf(subj, sl, "%s was approved: pay to continue", id);
        snprintf(body, bl,
                 "Your request %s for %s was approved by %s.\n\n"
                 "Pay for it (%d credits) on the order's page to have it issued.\n",
                 id, names, o->approved_by ? o->approved_by : "an administrator", (int)o->price);
    } else if (!strcmp(action, "order.reject")) {
        snprintf(subj, sl, "%s was rejected", id);
        snprintf(body, bl, "Your request %s for %s was rejected.\n\nReason: %s\n", id, names,
                 o->rejection_reason ? o->rejection_reason : "(none given)");
    } else if (!strcmp(action, "order.issued")) {
        snprintf(subj, sl, "%s was issued", id);
        snprintf(body, bl,
                 "The certificate of %s for %s was issued and is served by your web server.\n", id,
                 names);
    } else if (!strncmp(action, "expiring:", 9)) {
        int days = atoi(action + 9);
        snprintf(subj, sl, "%s expires in %d day%s", id, days, days == 1 ? "" : "s");
        snprintf(body, bl, "The certificate of %s for %s expires in %d day%s.\n\n%s\n", id, names,
                 days, days == 1 ? "" : "s",
                 o->auto_renew ? "It renews automatically; you will hear if that fails."
                               : "Renew it on the order's page to keep the site secure.");
    } else {
        snprintf(subj, sl, "The automatic renewal of %s failed", id);
        snprintf(body, bl,
                 "The automatic renewal of %s for %s failed. Renew it by hand before it "
                 "expires, or ask your provider.\n",
                 id, names);
    }
}

static json_t *webhook_body(cin_store *st, const cin_order *o, const char *event, int64_t evid,
                            time_t now)
{
    char at[21], id[40];
    json_t *j = json_object();

    cin_time_rfc3339(now, at);
    snprintf(id, sizeof(id), "evt_%lld", (long long)evid);
    json_object_set_new(j, "id", json_string(id));
    json_object_set_new(j, "event", json_string(event));
    json_object_set_new(j, "created_at", json_string(at));
    json_object_set_new(j, "order", cin_order_json(st, NULL, o));
    json_object_del(json_object_get(j, "order"), "actions");
    return j;
}

static int outbox_for(cin_store *st, int64_t evid, int64_t account, int64_t order_id,
                      const char *action, const char *text_key, int smtp, time_t now);

static int event_into_outbox(cin_store *st, int64_t evid, int64_t account, int64_t order_id,
                             const char *action, int smtp, time_t now)
{
    return outbox_for(st, evid, account, order_id, action, action, smtp, now);
}

/* adds the account's own addresses (accounts.notify_emails) not already in to */
static int account_addresses(cin_store *st, int64_t account, char ***to, size_t *n, size_t *cap)
{
    db_stmt *s = db_prepare(st, "SELECT notify_emails FROM accounts WHERE id = ?1");
    char *list = NULL, *tok, *save = NULL;
    size_t i;
    int rc;

    db_bind_int(s, 1, account);
    rc = db_one(s);
    if (rc == CIN_OK)
        list = db_col_strdup(s, 0);
    db_finalize(s);
    if (rc != CIN_OK || !list) {
        free(list);
        return rc == CIN_ENOTFOUND ? CIN_OK : rc;
    }
    for (tok = strtok_r(list, ",", &save); tok && rc == CIN_OK; tok = strtok_r(NULL, ",", &save)) {
        for (i = 0; i < *n && strcasecmp((*to)[i] ? (*to)[i] : "", tok); i++)
            ;
        if (i < *n)
            continue;
        if (*n == *cap) {
            char **g = realloc(*to, (*cap = *cap ? *cap * 2 : 8) * sizeof(**to));
            if (!g) {
                rc = CIN_ENOMEM;
                break;
            }
            *to = g;
        }
        if (!((*to)[*n] = strdup(tok)))
            rc = CIN_ENOMEM;
        else
            (*n)++;
    }
    free(list);
    return rc;
}

static int outbox_for(cin_store *st, int64_t evid, int64_t account, int64_t order_id,
                      const char *action, const char *text_key, int smtp, time_t now)
{
    cin_order o;
    size_t m, i;
    db_stmt *s;
    int rc = CIN_OK;

    for (m = 0; m < sizeof(MAP) / sizeof(MAP[0]); m++)
        if (!strcmp(MAP[m].action, action))
            break;
    if (m == sizeof(MAP) / sizeof(MAP[0]) || order_id <= 0)
        return CIN_OK;
    if ((rc = cin_store_order_get(st, order_id, &o)) != CIN_OK)
        return rc == CIN_ENOTFOUND ? CIN_OK : rc;
    if (smtp && (MAP[m].to_admins || MAP[m].to_requester)) {
        char subj[200], body[4096];
        int self_approved = 0;
        /* an administrator's own order waits for nobody: no approval mail */
        if (!strcmp(action, "order.create")) {
            s = db_prepare(st, "SELECT role FROM users WHERE id = ?1");
            db_bind_int(s, 1, o.requester_id);
            self_approved = db_one(s) == CIN_OK && !strcmp(db_col_text(s, 0), "admin");
            db_finalize(s);
        }
        mail_text(&o, text_key, subj, sizeof(subj), body, sizeof(body));
        /* users who did not opt out of this event (issue 15: per event), then the
         * account's own addresses for what goes to its administrators */
        s = db_prepare(st, "SELECT email FROM users WHERE account_id = ?1 AND disabled = 0 AND"
                           " notify = 1 AND email IS NOT NULL AND ((?2 = 1 AND role = 'admin' AND"
                           " id <> ?4) OR (?3 = 1 AND id = ?4)) AND"
                           " ' ' || notify_off || ' ' NOT LIKE ?5 ORDER BY id");
        db_bind_int(s, 1, account);
        db_bind_int(s, 2, MAP[m].to_admins && !self_approved);
        db_bind_int(s, 3, MAP[m].to_requester);
        db_bind_int(s, 4, o.requester_id);
        {
            char like[80];
            snprintf(like, sizeof(like), "%% %s %%", MAP[m].event);
            db_bind_text(s, 5, like);
        }
        {
            char **to = NULL;
            size_t n = 0, cap = 0;
            while ((rc = db_step(s)) == DB_ROW) {
                char **g = n == cap ? realloc(to, (cap = cap ? cap * 2 : 8) * sizeof(*to)) : to;
                if (!g) {
                    rc = CIN_ENOMEM;
                    break;
                }
                to = g;
                to[n++] = db_col_strdup(s, 0);
            }
            db_finalize(s);
            if (rc == CIN_OK && MAP[m].to_admins && !self_approved)
                rc = account_addresses(st, account, &to, &n, &cap);
            for (i = 0; i < n; i++) {
                if (rc == CIN_OK && to[i])
                    rc = queue(st, account, "mail", 0, to[i], subj, body, MAP[m].event, order_id,
                               now);
                free(to[i]);
            }
            free(to);
        }
    }
    if (rc == CIN_OK) {
        int64_t *hooks = NULL;
        size_t n = 0;
        s = db_prepare(st, "SELECT id FROM webhooks WHERE account_id = ?1 AND deleted = 0 AND"
                           " (events = '*' OR ' ' || events || ' ' LIKE ?2) ORDER BY id");
        db_bind_int(s, 1, account);
        {
            char like[80];
            snprintf(like, sizeof(like), "%% %s %%", MAP[m].event);
            db_bind_text(s, 2, like);
        }
        rc = db_ids(s, &hooks, &n);
        if (rc == CIN_OK && n) {
            json_t *j = webhook_body(st, &o, MAP[m].event, evid, now);
            char *body = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            for (i = 0; rc == CIN_OK && i < n; i++)
                rc = body ? queue(st, account, "webhook", hooks[i], "", NULL, body, MAP[m].event,
                                  order_id, now)
                          : CIN_ENOMEM;
            free(body);
        }
        free(hooks);
    }
    cin_order_clear(&o);
    return rc;
}

static int64_t cursor_of(cin_store *st, int *set)
{
    char *v = setting(st, CURSOR_KEY);
    int64_t c = v ? strtoll(v, NULL, 10) : 0;

    *set = v != NULL;
    free(v);
    return c;
}

static int max_event(cin_store *st, int64_t *max)
{
    db_stmt *s = db_prepare(st, "SELECT coalesce(max(id), 0) FROM order_events");
    int rc = db_one(s);

    *max = rc == CIN_OK ? db_col_int(s, 0) : 0;
    db_finalize(s);
    return rc;
}

static int collect_events(cin_store *st, time_t now)
{
    int64_t cursor, max = 0, last;
    char buf[32];
    db_stmt *s;
    int rc, set, smtp;

    if (max_event(st, &max) != CIN_OK)
        return CIN_ERR;
    cursor = cursor_of(st, &set);
    if (set && cursor >= max)
        return CIN_OK;
    if ((rc = cin_store_begin(st)) != CIN_OK)
        return rc;
    /* re-read inside the transaction: another host may have moved it */
    cursor = cursor_of(st, &set);
    last = cursor;
    smtp = 0;
    {
        char *url = setting(st, "smtp-url"), *from = setting(st, "smtp-from");
        smtp = url && from;
        free(url);
        free(from);
    }
    if (!set) {
        /* a store's first pass starts now: history is not mailed */
        rc = max_event(st, &last);
    } else {
        struct ev {
            int64_t id, account, order;
            char *action;
        } *evs = NULL;
        size_t n = 0, i;
        s = db_prepare(st, "SELECT id, coalesce(account_id, 0), coalesce(order_id, 0), action"
                           " FROM order_events WHERE id > ?1 ORDER BY id LIMIT ?2");
        db_bind_int(s, 1, cursor);
        db_bind_int(s, 2, EVENTS_PER_PASS);
        evs = calloc(EVENTS_PER_PASS, sizeof(*evs));
        if (!evs)
            rc = CIN_ENOMEM;
        while (evs && (rc = db_step(s)) == DB_ROW && n < EVENTS_PER_PASS) {
            evs[n].id = db_col_int(s, 0);
            evs[n].account = db_col_int(s, 1);
            evs[n].order = db_col_int(s, 2);
            evs[n].action = db_col_strdup(s, 3);
            n++;
        }
        db_finalize(s);
        for (i = 0; i < n; i++) {
            if (rc == CIN_OK && evs[i].action)
                rc = event_into_outbox(st, evs[i].id, evs[i].account, evs[i].order, evs[i].action,
                                       smtp, now);
            if (rc == CIN_OK)
                last = evs[i].id;
            free(evs[i].action);
        }
        free(evs);
    }
    if (rc == CIN_OK) {
        snprintf(buf, sizeof(buf), "%lld", (long long)last);
        rc = cin_store_setting_set(st, CURSOR_KEY, buf);
    }
    return cin_store_end(st, rc);
}

/* ---- 1b: expiry warnings, 30, 7 and 1 day(s) before ------------------------- */

#define EXPIRY_CHECK_EVERY 600
static time_t last_expiry_check;

static int expiry_level(time_t left)
{
    return left <= 86400 ? 1 : left <= 7 * 86400 ? 7 : 30;
}

static int check_expiry(cin_store *st, time_t now)
{
    struct ex {
        int64_t cert, order, account, not_after;
    } *ex = NULL;
    size_t n = 0, i;
    db_stmt *s;
    int rc, smtp;
    char *url = setting(st, "smtp-url"), *from = setting(st, "smtp-from");

    smtp = url && from;
    free(url);
    free(from);
    __atomic_store_n(&last_expiry_check, now, __ATOMIC_RELAXED);
    if ((rc = cin_store_begin(st)) != CIN_OK)
        return rc;
    ex = calloc(EVENTS_PER_PASS, sizeof(*ex));
    s = db_prepare(st, "SELECT id, order_id, account_id, not_after_ts FROM certificates WHERE"
                       " status = 'active' AND not_after_ts > ?1 AND not_after_ts <= ?2"
                       " ORDER BY not_after_ts LIMIT ?3");
    db_bind_int(s, 1, (int64_t)now);
    db_bind_int(s, 2, (int64_t)now + 30 * 86400);
    db_bind_int(s, 3, EVENTS_PER_PASS);
    while (ex && (rc = db_step(s)) == DB_ROW && n < EVENTS_PER_PASS) {
        ex[n].cert = db_col_int(s, 0);
        ex[n].order = db_col_int(s, 1);
        ex[n].account = db_col_int(s, 2);
        ex[n].not_after = db_col_int(s, 3);
        n++;
    }
    db_finalize(s);
    if (!ex)
        rc = CIN_ENOMEM;
    if (rc == CIN_OK && n == 0) { /* nothing near its end: nothing written */
        cin_store_rollback(st);
        free(ex);
        return CIN_OK;
    }
    for (i = 0; rc == CIN_OK && i < n; i++) {
        int level = expiry_level((time_t)(ex[i].not_after - now));
        long days = (long)((ex[i].not_after - now + 86399) / 86400);
        char key[32];
        s = db_prepare(st, "SELECT 1 FROM expiry_notices WHERE cert_id = ?1 AND level = ?2");
        db_bind_int(s, 1, ex[i].cert);
        db_bind_int(s, 2, level);
        rc = db_one(s);
        db_finalize(s);
        if (rc == CIN_OK) /* already told */
            continue;
        if (rc != CIN_ENOTFOUND)
            break;
        s = db_prepare(st, "INSERT INTO expiry_notices (cert_id, level) VALUES (?1, ?2)");
        db_bind_int(s, 1, ex[i].cert);
        db_bind_int(s, 2, level);
        rc = db_run(s);
        snprintf(key, sizeof(key), "expiring:%ld", days);
        if (rc == CIN_OK)
            rc = outbox_for(st, 0, ex[i].account, ex[i].order, "expiring", key, smtp, now);
    }
    free(ex);
    return cin_store_end(st, rc);
}

int cin_notify_check_expiry(cin_store *st)
{
    return check_expiry(st, cin_now(cin_store_services(st)));
}

/* ---- 2: delivery ------------------------------------------------------------ */

typedef struct {
    const char *data;
    size_t len, off;
} upload;

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
    upload *u = ud;
    size_t k = size * n;

    if (k > u->len - u->off)
        k = u->len - u->off;
    memcpy(buf, u->data + u->off, k);
    u->off += k;
    return k;
}

static size_t discard_cb(char *buf, size_t size, size_t n, void *ud)
{
    (void)buf;
    (void)ud;
    return size * n;
}

static curl_socket_t open_public_only(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    int allow = *(int *)ud;

    (void)purpose;
    if (!allow) {
        if (a->family == AF_INET &&
            v4_private((const unsigned char *)&((struct sockaddr_in *)&a->addr)->sin_addr))
            return CURL_SOCKET_BAD;
        if (a->family == AF_INET6 &&
            v6_private((const unsigned char *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr))
            return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* CRLF line ends, for SMTP */
static char *crlf(const char *s)
{
    size_t n = 0, i, k = 0;
    char *out;

    for (i = 0; s[i]; i++)
        n += s[i] == '\n' ? 2 : 1;
    out = malloc(n + 1);
    if (!out)
        return NULL;
    for (i = 0; s[i]; i++) {
        if (s[i] == '\r')
            continue;
        if (s[i] == '\n')
            out[k++] = '\r';
        out[k++] = s[i];
    }
    out[k] = '\0';
    return out;
}

static int send_mail(cin_store *st, int64_t id, const char *to, const char *subject,
                     const char *body, time_t now, char *err, size_t errlen)
{
    char *url = setting(st, "smtp-url"), *from = setting(st, "smtp-from");
    char *user = setting(st, "smtp-user"), *sealed = setting(st, "smtp-password");
    char *cafile = setting(st, "smtp-ca-file");
    char *pw = NULL, *msg = NULL, *text = NULL, date[64], ebuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *rcpt = NULL;
    struct tm tm;
    CURL *c = NULL;
    CURLcode cc;
    upload u;
    int rc = CIN_ERR;
    size_t len;

    if (!url || !from) {
        snprintf(err, errlen,
                 "SMTP is not configured (certinext settings set smtp-url, smtp-from)");
        goto done;
    }
    if (sealed) {
        size_t rawlen = 0, plen = 0;
        unsigned char *raw = cin_b64url_decode(sealed, &rawlen), *pt = NULL;
        if (raw && cin_store_unseal(st, "smtp-password", raw, rawlen, &pt, &plen) == CIN_OK) {
            pw = malloc(plen + 1);
            if (pw) {
                memcpy(pw, pt, plen);
                pw[plen] = '\0';
            }
            cin_free_secret(pt, plen);
        }
        free(raw);
        if (!pw) {
            snprintf(err, errlen, "the SMTP password could not be opened");
            goto done;
        }
    }
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    text = crlf(body);
    len = strlen(from) + strlen(to) + strlen(subject) + (text ? strlen(text) : 0) + 512;
    msg = text ? malloc(len) : NULL;
    if (!msg) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    snprintf(msg, len,
             "Date: %s\r\nFrom: certinext <%s>\r\nTo: <%s>\r\nSubject: [certinext] %s\r\n"
             "Message-ID: <outbox-%lld.%lld@certinext>\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
             "Auto-Submitted: auto-generated\r\n\r\n%s",
             date, from, to, subject, (long long)id, (long long)now, text);
    u.data = msg;
    u.len = strlen(msg);
    u.off = 0;
    c = curl_easy_init();
    if (!c || !(rcpt = curl_slist_append(NULL, to))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    /* smtps:// is TLS from the start; smtp:// with smtp-starttls refuses to go on
     * in the clear. Either way the server's certificate is checked (smtp-ca-file:
     * the provider's own CA). A user name makes STARTTLS required: credentials
     * never cross the network in the clear. */
    if (setting_true(st, "smtp-starttls") || (user && strncmp(url, "smtps://", 8)))
        curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (cafile)
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    if (user)
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
    if (pw)
        curl_easy_setopt(c, CURLOPT_PASSWORD, pw);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        rc = CIN_OK;
    } else if (cc == CURLE_LOGIN_DENIED) {
        snprintf(err, errlen,
                 "the mail server refused the login of %.60s (check smtp-user and "
                 "smtp-password)%s%.120s",
                 user ? user : "(no user)", *ebuf ? ": " : "", ebuf);
    } else if (cc == CURLE_USE_SSL_FAILED) {
        snprintf(err, errlen, "the mail server does not offer STARTTLS (smtp-starttls is true)");
    } else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE) {
        snprintf(err, errlen, "the mail server's certificate is not trusted (smtp-ca-file)%s%.160s",
                 *ebuf ? ": " : "", ebuf);
    } else {
        snprintf(err, errlen, "%s", *ebuf ? ebuf : "the SMTP server refused the message");
    }
done:
    if (c)
        curl_easy_cleanup(c);
    curl_slist_free_all(rcpt);
    if (pw)
        cin_free_secret(pw, strlen(pw));
    free(url);
    free(from);
    free(user);
    free(cafile);
    free(sealed);
    free(msg);
    free(text);
    return rc;
}

static int send_webhook(cin_store *st, int64_t id, int64_t hook, const char *event,
                        const char *body, time_t now, long *status, char *err, size_t errlen)
{
    char *url = NULL, *secret = NULL, sig[CIN_SIGNATURE_MAX], hdr[200], ebuf[CURL_ERROR_SIZE] = "";
    unsigned char *sealed = NULL, *pt = NULL;
    size_t slen = 0, plen = 0;
    struct curl_slist *h = NULL;
    int allow = setting_true(st, "webhook-allow-private"), rc = CIN_ERR;
    db_stmt *s;
    CURL *c = NULL;

    *status = 0;
    s = db_prepare(st, "SELECT url, secret FROM webhooks WHERE id = ?1 AND deleted = 0");
    db_bind_int(s, 1, hook);
    if (db_one(s) == CIN_OK) {
        url = db_col_strdup(s, 0);
        sealed = db_col_blob(s, 1, &slen);
    }
    db_finalize(s);
    if (!url || !sealed ||
        cin_store_unseal(st, "webhook-secret", sealed, slen, &pt, &plen) != CIN_OK ||
        !(secret = malloc(plen + 1))) {
        snprintf(err, errlen, "the webhook is gone or its secret cannot be opened");
        goto done;
    }
    memcpy(secret, pt, plen);
    secret[plen] = '\0';
    cin_webhook_signature(secret, now, body, strlen(body), sig);
    snprintf(hdr, sizeof(hdr), "X-Certinext-Signature: %s", sig);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, hdr);
    snprintf(hdr, sizeof(hdr), "X-Certinext-Event: %s", event);
    h = curl_slist_append(h, hdr);
    snprintf(hdr, sizeof(hdr), "X-Certinext-Delivery: %lld", (long long)id);
    h = curl_slist_append(h, hdr);
    c = curl_easy_init();
    if (!c || !h) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_public_only);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &allow);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (*status >= 200 && *status < 300)
            rc = CIN_OK;
        else
            snprintf(err, errlen, "the receiver answered HTTP %ld", *status);
    } else {
        snprintf(err, errlen, "%s", *ebuf ? ebuf : "the receiver could not be reached");
    }
done:
    if (c)
        curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (secret)
        cin_free_secret(secret, strlen(secret));
    if (pt)
        cin_free_secret(pt, plen);
    free(sealed);
    free(url);
    return rc;
}

static void deliver(cin_store *st, int64_t id, time_t now)
{
    char *kind = NULL, *to = NULL, *subject = NULL, *body = NULL, *event = NULL, err[300] = "";
    int64_t hook = 0;
    int attempts = 0, rc;
    long status = 0, base = 60;
    db_stmt *s;

    /* claim it: only one host sends it now */
    s = db_prepare(st, "UPDATE outbox SET next_at = ?2 WHERE id = ?1 AND state = 'queued' AND"
                       " next_at <= ?3");
    db_bind_int(s, 1, id);
    db_bind_int(s, 2, (int64_t)now + CLAIM_SECONDS);
    db_bind_int(s, 3, (int64_t)now);
    if (db_step(s) != CIN_OK || db_changes(s) != 1) {
        db_finalize(s);
        return;
    }
    db_finalize(s);
    s = db_prepare(st, "SELECT kind, recipient, subject, body, event, coalesce(webhook_id, 0),"
                       " attempts FROM outbox WHERE id = ?1");
    db_bind_int(s, 1, id);
    if (db_one(s) == CIN_OK) {
        kind = db_col_strdup(s, 0);
        to = db_col_strdup(s, 1);
        subject = db_col_strdup(s, 2);
        body = db_col_strdup(s, 3);
        event = db_col_strdup(s, 4);
        hook = db_col_int(s, 5);
        attempts = (int)db_col_int(s, 6);
    }
    db_finalize(s);
    if (!kind || !body) {
        rc = CIN_ERR;
        snprintf(err, sizeof(err), "the delivery could not be read");
    } else if (!strcmp(kind, "mail")) {
        rc = send_mail(st, id, to, subject ? subject : "", body, now, err, sizeof(err));
    } else {
        rc = send_webhook(st, id, hook, event ? event : "", body, now, &status, err, sizeof(err));
    }
    {
        char *b = setting(st, "notify-retry-base");
        if (b)
            base = strtol(b, NULL, 10);
        free(b);
    }
    attempts++;
    if (rc == CIN_OK) {
        s = db_prepare(st, "UPDATE outbox SET state = 'sent', attempts = ?2, sent_at = ?3,"
                           " last_status = ?4, last_error = NULL WHERE id = ?1");
        db_bind_int(s, 3, (int64_t)now);
    } else {
        s = db_prepare(st, "UPDATE outbox SET state = ?5, attempts = ?2, next_at = ?3,"
                           " last_status = ?4, last_error = ?6 WHERE id = ?1");
        db_bind_int(s, 3, (int64_t)now + cin_notify_backoff(base, attempts));
        db_bind_text(s, 5, attempts >= CIN_NOTIFY_MAX_ATTEMPTS ? "failed" : "queued");
        db_bind_text(s, 6, err);
    }
    db_bind_int(s, 1, id);
    db_bind_int(s, 2, attempts);
    db_bind_int(s, 4, status);
    db_run(s);
    free(kind);
    free(to);
    free(subject);
    free(body);
    free(event);
}

int cin_notify_due(cin_store *st)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t max = 0, cursor;
    db_stmt *s;
    int set, due;

    s = db_prepare(st, "SELECT id FROM outbox WHERE state = 'queued' AND next_at <= ?1 LIMIT 1");
    db_bind_int(s, 1, (int64_t)now);
    due = db_one(s) == CIN_OK;
    db_finalize(s);
    if (due)
        return 1;
    if (max_event(st, &max) != CIN_OK)
        return 0;
    cursor = cursor_of(st, &set);
    return !set || cursor < max ||
           now - __atomic_load_n(&last_expiry_check, __ATOMIC_RELAXED) >= EXPIRY_CHECK_EVERY;
}

int cin_notify_run(cin_store *st, const char *holder)
{
    time_t now = cin_now(cin_store_services(st)), started = time(NULL);
    int64_t *ids = NULL;
    size_t n = 0, i;
    db_stmt *s;
    int rc;

    (void)holder;
    rc = collect_events(st, now);
    if (now - __atomic_load_n(&last_expiry_check, __ATOMIC_RELAXED) >= EXPIRY_CHECK_EVERY)
        check_expiry(st, now);
    s = db_prepare(st, "SELECT id FROM outbox WHERE state = 'queued' AND next_at <= ?1"
                       " ORDER BY id LIMIT ?2");
    db_bind_int(s, 1, (int64_t)now);
    db_bind_int(s, 2, SENDS_PER_PASS);
    if (db_ids(s, &ids, &n) == CIN_OK)
        for (i = 0; i < n && time(NULL) - started < SEND_BUDGET; i++)
            deliver(st, ids[i], now); /* the network, outside any transaction */
    free(ids);
    return rc;
}
