/*
 * acme_ari.c - ACME Renewal Information (RFC 9773), the client side (issue 14).
 *
 * For each active certificate from an ACME CA whose directory lists
 * renewalInfo, the agent asks GET renewalInfo/CERTID (CERTID =
 * base64url(AKI keyIdentifier) "." base64url(serial), acme_ari_cert_id) for
 * the CA's suggested window, and asks again after the answer's Retry-After
 * (default 6 hours).  It keeps the window per certificate (cert_ari) and a
 * time picked uniformly inside it, which replaces certinext's own renewal
 * point (renewal_fraction) for that certificate: the renewal is started then,
 * as any automatic renewal (cin_store_order_renewal_due).
 *
 * When the window ends before the time the certificate was planned to be
 * renewed (the time picked in the last window; at the first answer, a tenth
 * of the lifetime before certinext's own point) the CA wants it replaced
 * early (a revocation, a mis-issuance):
 * the replacement starts at once and is the CA's doing, so it is a free
 * reissue (cin_reissue_free): no charge, no approval, no extra validity,
 * audited as order.ari_reissue.  Its order names the certificate it replaces
 * ("replaces", acme_order.c).
 *
 * The window is read outside any transaction; what is decided from it is
 * written in one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme_int.h"
#include "cin_agent.h"
#include "cin_crypto.h"
#include "cin_order.h"
#include "cin_store_order.h"
#include "cin_util.h"
#include "db.h"
#include "store_int.h"

#define ARI_RECHECK      (6 * 3600) /* no Retry-After: ask again in 6 hours (RFC 9773 4.3) */
#define ARI_RECHECK_MIN  60         /* never ask more often */
#define ARI_NONE_RECHECK 86400      /* a CA without renewalInfo: look again in a day */
#define ARI_ERROR_RETRY  3600       /* the CA could not be asked */
#define ARI_BATCH        20         /* windows read in one agent pass */

/* An RFC 3339 date-time ("2026-12-01T10:00:00Z", fractions and offsets
 * allowed). */
static int rfc3339(const char *s, time_t *t)
{
    struct tm tm;
    const char *p;
    int sign, hh, mm;

    if (!s)
        return CIN_EINVAL;
    memset(&tm, 0, sizeof(tm));
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return CIN_EINVAL;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    *t = timegm(&tm);
    if ((*p == 'Z' || *p == 'z') && !p[1])
        return CIN_OK;
    if ((*p != '+' && *p != '-') || sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || strlen(p) != 6)
        return CIN_EINVAL;
    sign = *p == '+' ? 1 : -1;
    *t -= sign * (hh * 3600 + mm * 60);
    return CIN_OK;
}

/* The window of chain_pem's leaf at CA ca.  CIN_OK with w filled (and
 * *retry the seconds until asking again); CIN_ENOTFOUND when the CA offers no
 * renewalInfo; else an error with a sentence in err. */
static int fetch_window(cin_store *st, const char *ca, const char *chain_pem, cin_ari *w,
                        int *retry, char *err, size_t errlen)
{
    cin_ca_result r;
    acme_http_resp h;
    acme a;
    const char *base;
    char *id = NULL, *url = NULL;
    json_t *j = NULL, *win;
    int rc;

    memset(&r, 0, sizeof(r));
    memset(&h, 0, sizeof(h));
    memset(w, 0, sizeof(*w));
    *retry = ARI_ERROR_RETRY;
    rc = acme_open(&a, st, ca, &r);
    if (rc != CIN_OK) {
        snprintf(err, errlen, "%s", r.problem.detail ? r.problem.detail : "the CA cannot be used");
        goto done;
    }
    if (!(base = acme_dir_url(&a, "renewalInfo"))) {
        rc = CIN_ENOTFOUND;
        goto done;
    }
    id = acme_ari_cert_id(chain_pem);
    url = id ? cin_asprintf("%s%s%s", base, base[0] && base[strlen(base) - 1] == '/' ? "" : "/", id)
             : NULL;
    if (!url) {
        snprintf(err, errlen, "the certificate has no ARI identifier (no AKI)");
        rc = CIN_EINVAL;
        goto done;
    }
    rc = a.http->request(a.client, "GET", url, NULL, NULL, &h, err, errlen);
    if (rc != CIN_OK)
        goto done;
    if (h.status != 200) {
        snprintf(err, errlen, "renewalInfo answered %ld", h.status);
        *retry = acme_retry_after(&h, ARI_ERROR_RETRY);
        rc = CIN_EIO;
        goto done;
    }
    j = acme_resp_json(&h);
    win = json_object_get(j, "suggestedWindow");
    if (rfc3339(json_string_value(json_object_get(win, "start")), &w->start) != CIN_OK ||
        rfc3339(json_string_value(json_object_get(win, "end")), &w->end) != CIN_OK ||
        w->end <= w->start) {
        snprintf(err, errlen, "renewalInfo gave no usable suggestedWindow");
        rc = CIN_EINVAL;
        goto done;
    }
    if (json_string_value(json_object_get(j, "explanationURL")))
        w->explanation = cin_strdup(json_string_value(json_object_get(j, "explanationURL")));
    *retry = acme_retry_after(&h, ARI_RECHECK);
    if (*retry < ARI_RECHECK_MIN)
        *retry = ARI_RECHECK_MIN;
done:
    json_decref(j);
    acme_resp_clear(&h);
    free(id);
    free(url);
    acme_close(&a);
    cin_ca_result_clear(&r);
    return rc;
}

/* A time picked uniformly in [lo, hi]. */
static time_t pick(time_t lo, time_t hi)
{
    uint64_t r = 0;

    if (hi <= lo)
        return lo;
    if (cin_random(&r, sizeof(r)) != CIN_OK)
        r = (uint64_t)lo ^ (uint64_t)hi; /* no randomness: still inside the window */
    return lo + (time_t)(r % (uint64_t)(hi - lo + 1));
}

int cin_store_cert_ari_get(cin_store *st, int64_t cert_id, cin_ari *out)
{
    db_stmt *s = db_prepare(st, "SELECT window_start, window_end, planned_at, next_check,"
                                " checked_at, explanation, moved FROM cert_ari WHERE cert_id = ?1"
                                " AND window_end > 0");
    int rc;

    memset(out, 0, sizeof(*out));
    db_bind_int(s, 1, cert_id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        out->start = (time_t)db_col_int(s, 0);
        out->end = (time_t)db_col_int(s, 1);
        out->planned = (time_t)db_col_int(s, 2);
        out->next_check = (time_t)db_col_int(s, 3);
        out->checked = (time_t)db_col_int(s, 4);
        out->explanation = db_col_null(s, 5) ? NULL : db_col_strdup(s, 5);
        out->moved = (int)db_col_int(s, 6);
    }
    db_finalize(s);
    return rc;
}

void cin_ari_clear(cin_ari *a)
{
    free(a->explanation);
    memset(a, 0, sizeof(*a));
}

static int ari_put(cin_store *st, int64_t cert_id, const cin_ari *w, time_t now)
{
    db_stmt *s = db_prepare(
        st, "INSERT INTO cert_ari(cert_id, window_start, window_end, planned_at, next_check,"
            " explanation, moved, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            " ON CONFLICT(cert_id) DO UPDATE SET window_start = excluded.window_start,"
            " window_end = excluded.window_end, planned_at = excluded.planned_at,"
            " next_check = excluded.next_check, explanation = excluded.explanation,"
            " moved = excluded.moved, checked_at = excluded.checked_at");

    db_bind_int(s, 1, cert_id);
    db_bind_int(s, 2, (int64_t)w->start);
    db_bind_int(s, 3, (int64_t)w->end);
    db_bind_int(s, 4, (int64_t)w->planned);
    db_bind_int(s, 5, (int64_t)w->next_check);
    db_bind_text(s, 6, w->explanation);
    db_bind_int(s, 7, w->moved);
    db_bind_int(s, 8, (int64_t)now);
    return db_run(s);
}

/* Only the time to ask again changes (no window, or the CA not reachable). */
static int ari_later(cin_store *st, int64_t cert_id, time_t next, time_t now)
{
    db_stmt *s = db_prepare(st, "UPDATE cert_ari SET next_check = ?2, checked_at = ?3"
                                " WHERE cert_id = ?1");
    cin_ari none;
    int rc;

    db_bind_int(s, 1, cert_id);
    db_bind_int(s, 2, (int64_t)next);
    db_bind_int(s, 3, (int64_t)now);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0) {
        db_finalize(s);
        memset(&none, 0, sizeof(none));
        none.next_check = next;
        return ari_put(st, cert_id, &none, now);
    }
    db_finalize(s);
    return rc;
}

struct due {
    int64_t cert_id, order_id;
    char *ca, *chain;
    time_t planned, lifetime_start, lifetime_end;
    int moved;
};

/* Certificates whose window is due to be read: active, of a current issued
 * order, from an ACME CA (the one the order was worked at, else its
 * product's). */
static int due_windows(cin_store *st, time_t now, struct due *d, size_t max, size_t *n)
{
    db_stmt *s = db_prepare(
        st, "SELECT c.id, o.id, x.name, c.chain_pem, coalesce(a.planned_at, 0),"
            " c.lifetime_start, c.lifetime_end, coalesce(a.moved, 0) FROM certificates c"
            " JOIN orders o ON o.id = c.order_id AND o.cert_id = c.id"
            " JOIN products p ON p.code = o.product LEFT JOIN order_cas oc ON oc.order_id = o.id"
            " JOIN cas x ON x.id = coalesce(oc.ca_id, p.ca_id)"
            " LEFT JOIN cert_ari a ON a.cert_id = c.id"
            " WHERE c.status = 'active' AND o.status = 'issued' AND x.kind = 'acme'"
            " AND (a.cert_id IS NULL OR a.next_check <= ?1) ORDER BY c.id LIMIT ?2");
    int rc;

    *n = 0;
    db_bind_int(s, 1, (int64_t)now);
    db_bind_int(s, 2, (int64_t)max);
    while ((rc = db_step(s)) == DB_ROW) {
        struct due *e = &d[(*n)++];
        e->cert_id = db_col_int(s, 0);
        e->order_id = db_col_int(s, 1);
        e->ca = db_col_strdup(s, 2);
        e->chain = db_col_strdup(s, 3);
        e->planned = (time_t)db_col_int(s, 4);
        e->lifetime_start = (time_t)db_col_int(s, 5);
        e->lifetime_end = (time_t)db_col_int(s, 6);
        e->moved = (int)db_col_int(s, 7);
    }
    db_finalize(s);
    return rc;
}

/* The window read for e: plan, and when it moved earlier than planned,
 * start the free reissue.  In a transaction. */
static int plan(cin_store *st, const struct due *e, cin_ari *w, time_t now, const char *holder)
{
    double fraction = cin_agent_renew_fraction(st);
    time_t own =
        e->lifetime_end - (time_t)(fraction * (double)(e->lifetime_end - e->lifetime_start));
    /* earlier than planned: than the time picked in the last window, else
     * clearly earlier than certinext's own point (a tenth of the lifetime,
     * so that a CA's ordinary window is never taken for a revocation) */
    time_t ref = e->planned ? e->planned : own - (e->lifetime_end - e->lifetime_start) / 10;
    cin_order parent;
    int64_t child = 0;
    char reason[256];
    int rc;

    if (e->moved) {
        rc = cin_store_order_open_child(st, e->order_id, &child);
        if (rc != CIN_OK)
            return rc;
        if (child) { /* the free reissue is under way */
            w->moved = 1;
            w->planned = e->planned;
            return ari_put(st, e->cert_id, w, now);
        }
        /* it ended without replacing the certificate: plan afresh (the
         * ordinary renewal is held while moved is set) */
        child = 0;
        ref = own - (e->lifetime_end - e->lifetime_start) / 10;
    }
    w->moved = 0;
    if (w->end < ref) {
        /* the CA wants it replaced before it would have been: now, free */
        memset(&parent, 0, sizeof(parent));
        rc = cin_store_order_get(st, e->order_id, &parent);
        if (rc == CIN_OK && !strcmp(parent.status, "issued") && parent.cert_id == e->cert_id)
            rc = cin_store_order_open_child(st, parent.id, &child);
        if (rc == CIN_OK && child == 0) {
            snprintf(reason, sizeof(reason), "the CA's renewal window ends %s%s",
                     "before the planned renewal",
                     w->explanation ? "; see the CA's explanation" : "");
            rc = cin_reissue_free(st, &parent, e->ca, reason, "order.ari_reissue", holder, &child);
        }
        cin_order_clear(&parent);
        if (rc != CIN_OK)
            return rc;
        w->moved = 1;
        w->planned = now;
        return ari_put(st, e->cert_id, w, now);
    }
    if (w->start <= now)
        w->planned = now; /* the window is open: renew at once (an ordinary renewal) */
    else if (e->planned && e->planned >= w->start && e->planned <= w->end)
        w->planned = e->planned; /* still inside: keep the time picked */
    else
        w->planned = pick(w->start, w->end);
    return ari_put(st, e->cert_id, w, now);
}

int cin_ari_work(cin_store *st, const char *holder)
{
    time_t now = cin_now(cin_store_services(st));
    struct due d[ARI_BATCH];
    size_t n = 0, i;
    int read = 0;

    memset(d, 0, sizeof(d));
    if (due_windows(st, now, d, ARI_BATCH, &n) != CIN_OK)
        n = 0; /* freed below all the same */
    for (i = 0; i < n; i++) {
        cin_ari w;
        char err[256] = "";
        int retry, rc = fetch_window(st, d[i].ca, d[i].chain, &w, &retry, err, sizeof(err));
        if (cin_store_begin(st) != CIN_OK) {
            cin_ari_clear(&w);
            continue;
        }
        if (rc == CIN_OK) {
            w.next_check = now + retry;
            rc = plan(st, &d[i], &w, now, holder);
            read++;
        } else {
            if (rc != CIN_ENOTFOUND)
                cin_log(cin_store_services(st), CIN_LOG_WARN,
                        "agent: renewal window of certificate %lld from CA %s: %s",
                        (long long)d[i].cert_id, d[i].ca, err);
            rc = ari_later(st, d[i].cert_id, now + (rc == CIN_ENOTFOUND ? ARI_NONE_RECHECK : retry),
                           now);
        }
        cin_store_end(st, rc);
        cin_ari_clear(&w);
    }
    for (i = 0; i < n; i++) {
        free(d[i].ca);
        free(d[i].chain);
    }
    return read;
}
