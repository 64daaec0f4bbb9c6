/*
 * distrust.c - a CA (or a root or intermediate seen in chains) distrusted, and
 * every active certificate that depends on it replaced from the product's next
 * CA (issue 14).
 *
 * `certinext ca distrust NAME | --root-fingerprint SHA256` marks it and, in
 * the same transaction, queues every active, current certificate issued by
 * that CA or whose chain holds a certificate with that SHA-256 fingerprint
 * (distrust_queue), with the CA that replaces it: the first trusted CA of the
 * product's list other than the one that issued it.  A certificate whose
 * product has none is queued "stranded" and reported, never left silently.
 *
 * The agent then starts replacements in batches (setting distrust-rate: so
 * many per minute, default 60): a free reissue of the same names and key
 * type, no charge, no new approval (audited as such), worked at the
 * replacing CA (order_cas).  The old certificate stays served until its
 * replacement is issued, which supersedes it like any reissue.
 * New orders never go to a distrusted CA (agent.c, ca_of).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cin_ca.h"
#include "cin_crypto.h"
#include "cin_order.h"
#include "cin_store_ca.h"
#include "cin_store_order.h"
#include "cin_util.h"
#include "db.h"
#include "store_int.h"

#define DISTRUST_RATE_DEFAULT 60 /* replacements started per minute */

int cin_store_ca_distrusted(cin_store *st, const char *ca)
{
    db_stmt *s = db_prepare(st, "SELECT distrusted_at FROM cas WHERE name = ?1");
    int d = 0;

    db_bind_text(s, 1, ca);
    if (db_one(s) == CIN_OK)
        d = !db_col_null(s, 0);
    db_finalize(s);
    return d;
}

/* Does chain hold a certificate whose SHA-256 is fp (64 lower-case hex)? */
static int chain_has(const char *chain, const char *fp)
{
    BIO *b = BIO_new_mem_buf(chain, -1);
    X509 *x;
    int found = 0;

    while (b && !found && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        char hex[65];
        if (len > 0) {
            cin_sha256_hex(der, (size_t)len, hex);
            found = !strcmp(hex, fp);
        }
        OPENSSL_free(der);
        X509_free(x);
    }
    BIO_free(b);
    return found;
}

/* "AB:CD:..." or "abcd...": 64 lower-case hex digits in out, else 0. */
static int fingerprint_norm(const char *in, char out[65])
{
    size_t n = 0;

    for (; *in && n < 65; in++) {
        if (*in == ':')
            continue;
        if (!((*in >= '0' && *in <= '9') || (*in >= 'a' && *in <= 'f') ||
              (*in >= 'A' && *in <= 'F')))
            return 0;
        out[n++] = (char)(*in >= 'A' && *in <= 'F' ? *in + 32 : *in);
    }
    out[n < 65 ? n : 64] = '\0';
    return n == 64 && !*in;
}

/* The first trusted CA of product's list other than issuer (NULL: none). */
static char *replacing_ca(cin_store *st, const char *product, const char *issuer)
{
    char **cas = NULL, *ca = NULL;
    size_t n = 0, i;

    if (cin_store_product_cas(st, product, &cas, &n) != CIN_OK)
        return NULL;
    for (i = 0; !ca && i < n; i++)
        if (strcmp(cas[i], issuer) && !cin_store_ca_distrusted(st, cas[i]))
            ca = cin_strdup(cas[i]);
    cin_strv_free(cas, n);
    return ca;
}

struct affected {
    int64_t cert_id, order_id;
    char *product, *issuer;
};

/* Active certificates of current issued orders, with the CA that issued each:
 * the one the order was worked at, else its product's. */
static int active_certs(cin_store *st, const char *ca, const char *fp, struct affected **out,
                        size_t *n)
{
    db_stmt *s =
        db_prepare(st, "SELECT c.id, o.id, o.product, x.name, c.chain_pem FROM certificates c"
                       " JOIN orders o ON o.id = c.order_id JOIN products p ON p.code = o.product"
                       " LEFT JOIN order_cas oc ON oc.order_id = o.id"
                       " JOIN cas x ON x.id = coalesce(oc.ca_id, p.ca_id)"
                       " WHERE c.status = 'active' AND o.status = 'issued' AND o.cert_id = c.id"
                       " AND c.id NOT IN (SELECT cert_id FROM distrust_queue) ORDER BY c.id");
    size_t cap = 16;
    int rc;

    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        const char *issuer = db_col_text(s, 3), *chain = db_col_text(s, 4);
        struct affected *m;
        if (ca ? strcmp(issuer ? issuer : "", ca) : !(chain && chain_has(chain, fp)))
            continue;
        if (!(m = st_grow(*out, *n, &cap, sizeof(**out)))) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        m[*n].cert_id = db_col_int(s, 0);
        m[*n].order_id = db_col_int(s, 1);
        m[*n].product = db_col_strdup(s, 2);
        m[*n].issuer = db_col_strdup(s, 3);
        (*n)++;
    }
    db_finalize(s);
    return rc;
}

static void affected_free(struct affected *a, size_t n)
{
    size_t i;

    for (i = 0; a && i < n; i++) {
        free(a[i].product);
        free(a[i].issuer);
    }
    free(a);
}

int cin_ca_distrust(cin_store *st, const char *ca, const char *fingerprint, const char *actor,
                    cin_distrust_counts *counts, char **err)
{
    char fp[65] = "", detail[200];
    struct affected *aff = NULL;
    size_t n = 0, i;
    db_stmt *s;
    int rc;

    memset(counts, 0, sizeof(*counts));
    if (!ca == !fingerprint) {
        cin_seterr(err, "name a CA or a root fingerprint");
        return CIN_EINVAL;
    }
    if (fingerprint && !fingerprint_norm(fingerprint, fp)) {
        cin_seterr(err, "a fingerprint is 64 hexadecimal digits (SHA-256), colons allowed");
        return CIN_EINVAL;
    }
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return rc;
    if (ca) {
        s = db_prepare(st, "UPDATE cas SET distrusted_at = ?2 WHERE name = ?1");
        db_bind_text(s, 1, ca);
        db_bind_int(s, 2, (int64_t)st_now(st));
        rc = db_step(s);
        if (rc == CIN_OK && db_changes(s) != 1) {
            cin_seterr(err, "no CA named %s (certinext ca list)", ca);
            rc = CIN_ENOTFOUND;
        }
        db_finalize(s);
    }
    if (rc == CIN_OK)
        rc = active_certs(st, ca, fp, &aff, &n);
    for (i = 0; rc == CIN_OK && i < n; i++) {
        char *with = replacing_ca(st, aff[i].product, aff[i].issuer);
        s = db_prepare(st, "INSERT INTO distrust_queue(cert_id, order_id, ca_id, reason, state)"
                           " VALUES (?1, ?2, (SELECT id FROM cas WHERE name = ?3), ?4, ?5)");
        db_bind_int(s, 1, aff[i].cert_id);
        db_bind_int(s, 2, aff[i].order_id);
        db_bind_text(s, 3, with);
        snprintf(detail, sizeof(detail), "%s %s distrusted", ca ? "CA" : "root", ca ? ca : fp);
        db_bind_text(s, 4, detail);
        db_bind_text(s, 5, with ? "queued" : "stranded");
        rc = db_run(s);
        if (with)
            counts->queued++;
        else
            counts->stranded++;
        free(with);
    }
    snprintf(detail, sizeof(detail), "%s %s: %zu certificates to replace, %zu with no other CA",
             ca ? "CA" : "root", ca ? ca : fp, counts->queued, counts->stranded);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, 0, 0, actor, "ca.distrust", NULL, detail);
    rc = cin_store_end(st, rc);
    affected_free(aff, n);
    return rc;
}

/* The free reissue of o's certificate, at CA with: same names and key type,
 * no charge, no approval, no extra validity; the parent's trail says why
 * (action).  In a transaction.  Distrust and ARI windows moved earlier. */
int cin_reissue_free(cin_store *st, const cin_order *parent, const char *with, const char *reason,
                     const char *action, const char *holder, int64_t *child_id)
{
    cin_order c;
    char detail[256];
    int64_t number = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    c.account_id = parent->account_id;
    c.account = parent->account;
    c.requester_id = parent->requester_id;
    c.requester = parent->requester;
    c.status = "processing";
    c.product = parent->product;
    c.common_name = parent->common_name;
    c.sans = parent->sans;
    c.nsans = parent->nsans;
    c.key_source = parent->key_source;
    c.key_type = parent->key_type;
    c.validity_days = parent->validity_days;
    c.auto_renew = parent->auto_renew;
    c.price = 0;
    c.parent_id = parent->id;
    c.kind = "reissue";
    c.csr_pem = !strcmp(parent->key_source, "csr") ? parent->csr_pem : NULL;
    c.admin_approved = 1;
    /* free: no extra validity either (issue 14) */
    rc = cin_order_lineage_end(st, parent, &c.not_after_cap);
    if (rc == CIN_OK)
        rc = cin_store_order_insert(st, &c);
    if (rc == CIN_OK)
        rc = cin_store_order_number_next(st, &number);
    if (rc == CIN_OK) {
        c.order_number = number;
        rc = cin_store_order_update(st, &c);
    }
    if (rc == CIN_OK)
        rc = cin_store_order_ca_set(st, c.id, with, 0);
    snprintf(detail, sizeof(detail),
             "free reissue of R-%06lld from CA %s (%s): no charge, no new approval",
             (long long)parent->id, with, reason);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, c.account_id, c.id, "agent", "order.create", holder, detail);
    snprintf(detail, sizeof(detail), "replaced by R-%06lld from CA %s (%s)", (long long)c.id, with,
             reason);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, parent->account_id, parent->id, "agent", action, holder,
                                 detail);
    *child_id = c.id;
    /* the borrowed fields are the parent's: only what insert made is ours */
    free(c.created_at);
    free(c.updated_at);
    return rc;
}

/* Replacements started in the last minute. */
static int64_t started_recently(cin_store *st, time_t now)
{
    db_stmt *s = db_prepare(st, "SELECT count(*) FROM distrust_queue WHERE state = 'ordered'"
                                " AND started_at > ?1");
    int64_t k = 0;

    db_bind_int(s, 1, (int64_t)now - 60);
    if (db_one(s) == CIN_OK)
        k = db_col_int(s, 0);
    db_finalize(s);
    return k;
}

static int distrust_rate(cin_store *st)
{
    char *v = NULL;
    long r = DISTRUST_RATE_DEFAULT;

    if (cin_store_setting_get(st, "distrust_rate", &v) == CIN_OK && v)
        r = strtol(v, NULL, 10);
    free(v);
    return r > 0 ? (int)r : DISTRUST_RATE_DEFAULT;
}

int cin_distrust_work(cin_store *st, const char *holder)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t room = distrust_rate(st) - started_recently(st, now), *certs = NULL;
    size_t n = 0, i;
    db_stmt *s;
    int rc, started = 0;

    if (room <= 0)
        return 0;
    s = db_prepare(st, "SELECT cert_id FROM distrust_queue WHERE state = 'queued'"
                       " ORDER BY cert_id LIMIT ?1");
    db_bind_int(s, 1, room);
    if (db_ids(s, &certs, &n) != CIN_OK)
        return 0;
    for (i = 0; i < n; i++) {
        cin_order parent;
        int64_t order_id = 0, child = 0;
        char *with = NULL, *reason = NULL;
        memset(&parent, 0, sizeof(parent));
        rc = cin_store_begin(st);
        if (rc != CIN_OK)
            break;
        s = db_prepare(st, "SELECT q.order_id, c.name, q.reason FROM distrust_queue q"
                           " JOIN cas c ON c.id = q.ca_id WHERE q.cert_id = ?1 AND"
                           " q.state = 'queued'");
        db_bind_int(s, 1, certs[i]);
        rc = db_one(s);
        if (rc == CIN_OK) {
            order_id = db_col_int(s, 0);
            with = db_col_strdup(s, 1);
            reason = db_col_strdup(s, 2);
        }
        db_finalize(s);
        if (rc == CIN_OK)
            rc = cin_store_order_get(st, order_id, &parent);
        /* replaced meanwhile (a renewal, a reissue): nothing to start */
        if (rc == CIN_OK && (strcmp(parent.status, "issued") || parent.cert_id != certs[i]))
            child = -1;
        else if (rc == CIN_OK)
            rc = cin_store_order_open_child(st, parent.id, &child);
        if (rc == CIN_OK && child == 0)
            rc = cin_reissue_free(st, &parent, with, reason, "order.distrust_reissue", holder,
                                  &child);
        s = db_prepare(st, "UPDATE distrust_queue SET state = 'ordered', started_at = ?2,"
                           " replacement_id = ?3 WHERE cert_id = ?1");
        db_bind_int(s, 1, certs[i]);
        db_bind_int(s, 2, (int64_t)now);
        db_bind_id(s, 3, child > 0 ? child : 0);
        if (rc == CIN_OK)
            rc = db_run(s);
        else
            db_finalize(s);
        rc = cin_store_end(st, rc);
        started += rc == CIN_OK;
        cin_order_clear(&parent);
        free(with);
        free(reason);
    }
    free(certs);
    return started;
}

int cin_distrust_pending(cin_store *st)
{
    db_stmt *s = db_prepare(st, "SELECT 1 FROM distrust_queue WHERE state = 'queued' LIMIT 1");
    int due = db_one(s) == CIN_OK;

    db_finalize(s);
    return due;
}

/* Progress of the certificates of account_id (0: every account). */
static int counts(cin_store *st, int64_t account_id, cin_distrust_counts *c)
{
    db_stmt *s = db_prepare(st, "SELECT q.state, o.status FROM distrust_queue q"
                                " LEFT JOIN orders o ON o.id = q.replacement_id"
                                " JOIN orders p ON p.id = q.order_id"
                                " WHERE ?1 = 0 OR p.account_id = ?1");
    int rc;

    memset(c, 0, sizeof(*c));
    db_bind_int(s, 1, account_id);
    while ((rc = db_step(s)) == DB_ROW) {
        const char *state = db_col_text(s, 0), *os = db_col_text(s, 1);
        if (!strcmp(state, "queued"))
            c->queued++;
        else if (!strcmp(state, "stranded"))
            c->stranded++;
        else if (os && (!strcmp(os, "issued") || !strcmp(os, "superseded")))
            c->replaced++;
        else if (os && (!strcmp(os, "failed") || !strcmp(os, "cancelled")))
            c->failed++;
        else
            c->replacing++;
    }
    db_finalize(s);
    return rc;
}

int cin_distrust_counts_of(cin_store *st, int64_t account_id, cin_distrust_counts *c)
{
    return counts(st, account_id, c);
}

int cin_distrust_status(cin_store *st, cin_distrust_counts *c, char ***stranded, size_t *nstranded)
{
    db_stmt *s;
    size_t cap = 4;
    int rc;

    *nstranded = 0;
    *stranded = NULL;
    rc = counts(st, 0, c);
    if (rc != CIN_OK)
        return rc;
    /* the products of stranded certificates: bound to no other CA */
    s = db_prepare(st, "SELECT DISTINCT o.product FROM distrust_queue q JOIN orders o ON"
                       " o.id = q.order_id WHERE q.state = 'stranded' ORDER BY o.product");
    *stranded = calloc(cap, sizeof(**stranded));
    if (!*stranded) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        char **m = st_grow(*stranded, *nstranded, &cap, sizeof(**stranded));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *stranded = m;
        (*stranded)[(*nstranded)++] = db_col_strdup(s, 0);
    }
    db_finalize(s);
    return rc;
}
