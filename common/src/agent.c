/*
 * agent.c - the issuance agent (see cin_agent.h).
 *
 * The lease: before working an order the agent takes the store lease
 * "order:<id>" for CIN_AGENT_LEASE_TTL seconds.  Only one holder has it at a
 * time; a crashed agent's lease simply expires and the next agent takes the
 * order over.  Whatever the agent obtained is stored in one transaction that
 * first re-reads the order: if it is no longer `processing` (cancelled
 * meanwhile, or finished by another agent after a lease expired) the result is
 * dropped, so an order is never issued twice.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cin_agent.h"
#include "cin_ca.h"
#include "cin_order.h"
#include "cin_util.h"
#include "cin_x509.h"

#include <jansson.h>

void cin_agent_holder(char *buf, size_t len)
{
    char host[64] = "host";

    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, len, "%s:%ld:%lx", host, (long)getpid(), (unsigned long)pthread_self());
}

/*
 * A lease held by a process of this host that no longer exists (a killed
 * worker) need not run out its time: it is released at once.  Holders are
 * "host:pid:thread"; another host's lease is always left to expire.
 */
static int holder_is_dead(const char *holder)
{
    char host[64] = "", mine[64] = "";
    long pid = 0;

    if (!holder || sscanf(holder, "%63[^:]:%ld:", host, &pid) != 2 || pid <= 0)
        return 0;
    gethostname(mine, sizeof(mine) - 1);
    if (strcmp(host, mine))
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int take_lease(cin_store *st, const char *lease, const char *holder)
{
    char *other = NULL;
    int rc = cin_store_lease_acquire(st, lease, holder, CIN_AGENT_LEASE_TTL);

    if (rc != CIN_ECONFLICT)
        return rc;
    if (cin_store_lease_holder(st, lease, &other, NULL) == CIN_OK && holder_is_dead(other) &&
        cin_store_lease_release(st, lease, other) == CIN_OK) {
        cin_log(cin_store_services(st), CIN_LOG_WARN,
                "agent: %s held by %s, which is gone; taking it over", lease, other);
        rc = cin_store_lease_acquire(st, lease, holder, CIN_AGENT_LEASE_TTL);
    }
    free(other);
    return rc;
}

static int backoff(int attempts)
{
    int s = 5;

    while (attempts-- > 1 && s < 3600)
        s *= 2;
    return s > 3600 ? 3600 : s;
}

/* Make the key and CSR of a key_source "server" order, once. */
static int ensure_key(cin_store *st, cin_order *o)
{
    char *pem = NULL, *csr = NULL;
    int64_t key_id = 0;
    cin_order cur;
    int rc;

    if (o->key_id && o->csr_pem)
        return CIN_OK;
    rc = cin_key_generate(o->key_type, &pem);
    if (rc == CIN_OK)
        rc = cin_csr_build(pem, o->sans, o->nsans, &csr);
    if (rc != CIN_OK)
        goto done;
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        goto done;
    rc = cin_store_order_get(st, o->id, &cur);
    if (rc == CIN_OK && strcmp(cur.status, "processing"))
        rc = CIN_ECONFLICT;
    if (rc == CIN_OK)
        rc = cin_store_key_put(st, o->key_type, pem, &key_id);
    if (rc == CIN_OK) {
        cur.key_id = key_id;
        free(cur.csr_pem);
        cur.csr_pem = strdup(csr);
        rc = cin_store_order_update(st, &cur);
    }
    rc = cin_store_end(st, rc);
    if (rc == CIN_OK) {
        o->key_id = key_id;
        free(o->csr_pem);
        o->csr_pem = csr;
        csr = NULL;
    }
    cin_order_clear(&cur);
done:
    if (pem)
        cin_free_secret(pem, strlen(pem));
    free(csr);
    return rc;
}

/* Store the chain: the certificate, the order issued, the generation moved. */
static int store_issued(cin_store *st, cin_order *o, const char *chain, const char *holder)
{
    cin_cert_facts f;
    cin_cert c;
    cin_order cur;
    char detail[160];
    int rc;

    if (cin_cert_facts_get(chain, &f) != CIN_OK)
        return CIN_EINVAL;
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return rc;
    rc = cin_store_order_get(st, o->id, &cur);
    if (rc == CIN_OK && strcmp(cur.status, "processing")) {
        /* cancelled meanwhile, or already stored by another agent */
        rc = CIN_ECONFLICT;
    }
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        if (rc == CIN_ECONFLICT)
            cin_order_clear(&cur);
        return rc;
    }
    memset(&c, 0, sizeof(c));
    c.order_id = cur.id;
    c.account_id = cur.account_id;
    c.serial = f.serial;
    c.names = cur.sans;
    c.nnames = cur.nsans;
    c.not_before = f.not_before;
    c.not_after = f.not_after;
    c.sha256 = f.sha256;
    c.issuer = f.issuer;
    c.chain_pem = (char *)chain;
    c.key_id = cur.key_id;
    rc = cin_store_cert_insert(st, &c);
    free(c.status);
    if (rc == CIN_OK && !strcmp(cur.kind, "reissue") && cur.parent_id) {
        /* a reissue replaces its parent's certificate */
        cin_order parent;
        if (cin_store_order_get(st, cur.parent_id, &parent) == CIN_OK) {
            if (parent.cert_id) {
                cin_cert pc;
                if (cin_store_cert_get(st, parent.cert_id, &pc) == CIN_OK) {
                    if (!strcmp(pc.status, "active"))
                        rc = cin_store_cert_set_status(st, parent.cert_id, "replaced", NULL);
                    cin_cert_clear(&pc);
                }
            }
            cin_order_clear(&parent);
        }
    }
    if (rc == CIN_OK) {
        free(cur.status);
        cur.status = strdup("issued");
        cur.cert_id = c.id;
        free(cur.error_json);
        cur.error_json = NULL;
        rc = cin_store_order_update(st, &cur);
    }
    snprintf(detail, sizeof(detail), "serial %s, not after %s", f.serial, f.not_after);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.issued", holder,
                                 detail);
    rc = cin_store_end(st, rc);
    cin_order_clear(&cur);
    return rc;
}

/* Record a CA outcome that is not a certificate. */
static int store_outcome(cin_store *st, cin_order *o, const cin_ca_result *r, const char *holder)
{
    time_t now = cin_now(cin_store_services(st));
    cin_order cur;
    int rc = cin_store_begin(st);

    if (rc != CIN_OK)
        return rc;
    rc = cin_store_order_get(st, o->id, &cur);
    if (rc == CIN_OK && strcmp(cur.status, "processing"))
        rc = CIN_ECONFLICT;
    if (rc == CIN_OK) {
        free(cur.error_json);
        cur.error_json = cin_strdup(r->problem);
        if (r->outcome == CIN_CA_FAILED) {
            free(cur.status);
            cur.status = strdup("failed");
        } else {
            if (r->outcome == CIN_CA_TRANSIENT)
                cur.attempts++;
            cur.next_attempt_at =
                now + (r->retry_after > 0 ? r->retry_after : backoff(cur.attempts));
        }
        rc = cin_store_order_update(st, &cur);
    }
    if (rc == CIN_OK && r->outcome == CIN_CA_FAILED)
        rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.failed", holder,
                                 r->problem);
    else if (rc == CIN_OK && r->outcome == CIN_CA_TRANSIENT)
        rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.retry_later", holder,
                                 r->problem);
    rc = cin_store_end(st, rc);
    if (rc == CIN_OK || rc == CIN_ECONFLICT)
        cin_order_clear(&cur);
    return rc;
}

static void work_order(cin_store *st, int64_t id, const char *holder, cin_agent_stats *stats)
{
    const cin_services *svc = cin_store_services(st);
    const cin_ca_ops *ops;
    cin_ca_result r;
    cin_product prod;
    cin_order o;
    char lease[48], *kind = NULL;
    int rc;

    memset(&r, 0, sizeof(r));
    memset(&prod, 0, sizeof(prod));
    snprintf(lease, sizeof(lease), "order:%lld", (long long)id);
    if (take_lease(st, lease, holder) != CIN_OK)
        return; /* another agent works it */
    rc = cin_store_order_get(st, id, &o);
    if (rc != CIN_OK)
        goto release;
    if (strcmp(o.status, "processing"))
        goto done;
    if (cin_store_product_get(st, o.product, &prod) != CIN_OK ||
        cin_store_ca_kind(st, prod.ca, &kind) != CIN_OK || !(ops = cin_ca_ops_for(kind))) {
        r.outcome = CIN_CA_FAILED;
        r.problem = strdup("{\"type\":\"urn:certinext:error:ca_error\",\"title\":\"The "
                           "product's CA is not configured\",\"status\":500}");
        store_outcome(st, &o, &r, holder);
        if (stats)
            stats->failed++;
        goto done;
    }
    if (!strcmp(o.key_source, "server") && ensure_key(st, &o) != CIN_OK) {
        r.outcome = CIN_CA_TRANSIENT;
        r.problem = strdup("{\"type\":\"urn:certinext:error:ca_error\",\"title\":\"Key "
                           "generation failed\",\"status\":503}");
        store_outcome(st, &o, &r, holder);
        if (stats)
            stats->deferred++;
        goto done;
    }
    if (o.attempts == 0 && !o.error_json)
        ops->submit(st, prod.ca, &o, &r);
    else
        ops->poll(st, prod.ca, &o, &r);
    if (r.outcome == CIN_CA_DONE) {
        rc = store_issued(st, &o, r.chain_pem, holder);
        if (rc == CIN_OK) {
            cin_log(svc, CIN_LOG_INFO, "agent: issued order R-%06lld", (long long)id);
            if (stats)
                stats->issued++;
        }
    } else {
        store_outcome(st, &o, &r, holder);
        if (stats) {
            if (r.outcome == CIN_CA_FAILED)
                stats->failed++;
            else
                stats->deferred++;
        }
    }
done:
    cin_order_clear(&o);
release:
    cin_ca_result_clear(&r);
    cin_product_clear(&prod);
    free(kind);
    cin_store_lease_release(st, lease, holder);
}

/* Tell the CAs about revoked certificates (the request only marked them). */
static void send_revocations(cin_store *st, const char *holder, cin_agent_stats *stats)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t *ids = NULL;
    size_t n = 0, i;

    if (cin_store_cert_unnotified(st, now, &ids, &n) != CIN_OK)
        return;
    for (i = 0; i < n; i++) {
        const cin_ca_ops *ops = NULL;
        cin_ca_result r;
        cin_product prod;
        cin_order o;
        cin_cert c;
        char *kind = NULL;
        int rc;

        memset(&r, 0, sizeof(r));
        memset(&prod, 0, sizeof(prod));
        memset(&o, 0, sizeof(o));
        if (cin_store_cert_get(st, ids[i], &c) != CIN_OK)
            continue;
        if (cin_store_order_get(st, c.order_id, &o) == CIN_OK &&
            cin_store_product_get(st, o.product, &prod) == CIN_OK &&
            cin_store_ca_kind(st, prod.ca, &kind) == CIN_OK)
            ops = cin_ca_ops_for(kind);
        if (ops)
            ops->revoke(st, prod.ca, &c, c.revocation_reason, &r);
        else
            r.outcome = CIN_CA_FAILED;
        if (cin_store_begin(st) == CIN_OK) {
            if (r.outcome == CIN_CA_DONE) {
                rc = cin_store_cert_mark_notified(st, c.id, 1);
                if (rc == CIN_OK)
                    rc = cin_store_event_add(st, c.account_id, c.order_id, "agent",
                                             "certificate.revocation_sent", holder, c.serial);
            } else if (r.outcome == CIN_CA_FAILED) {
                /* the CA refused for good: say so once, in the audit log */
                rc = cin_store_cert_mark_notified(st, c.id, 2);
                if (rc == CIN_OK)
                    rc = cin_store_event_add(st, c.account_id, c.order_id, "agent",
                                             "certificate.revocation_refused", holder,
                                             r.problem ? r.problem : c.serial);
            } else {
                rc = cin_store_cert_revoke_later(st, c.id,
                                                 now + (r.retry_after > 0 ? r.retry_after : 30));
            }
            if (rc == CIN_OK && cin_store_commit(st) == CIN_OK) {
                if (r.outcome == CIN_CA_DONE && stats)
                    stats->revocations_sent++;
            } else {
                cin_store_rollback(st);
            }
        }
        free(kind);
        cin_ca_result_clear(&r);
        cin_product_clear(&prod);
        cin_order_clear(&o);
        cin_cert_clear(&c);
    }
    free(ids);
}

/* Issued orders whose certificate has passed not_after become `expired`. */
static void mark_expired(cin_store *st, cin_agent_stats *stats)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t *ids = NULL;
    size_t n = 0, i;

    if (cin_store_order_expired(st, now, &ids, &n) != CIN_OK)
        return;
    for (i = 0; i < n; i++) {
        cin_order cur;
        int rc;

        if (cin_store_begin(st) != CIN_OK)
            break;
        rc = cin_store_order_get(st, ids[i], &cur);
        if (rc == CIN_OK && !strcmp(cur.status, "issued")) {
            free(cur.status);
            cur.status = strdup("expired");
            rc = cin_store_order_update(st, &cur);
            if (rc == CIN_OK)
                rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.expired", NULL,
                                         NULL);
        }
        if (rc == CIN_OK && cin_store_commit(st) == CIN_OK) {
            if (stats)
                stats->expired++;
        } else {
            cin_store_rollback(st);
        }
        cin_order_clear(&cur);
    }
    free(ids);
}

double cin_agent_renew_fraction(cin_store *st)
{
    char *v = NULL, *end;
    double f = CIN_RENEW_FRACTION_DEFAULT;

    if (cin_store_setting_get(st, "renew_fraction", &v) == CIN_OK) {
        double x = strtod(v, &end);
        if (!*end && x >= 0.05 && x <= 0.95)
            f = x;
    }
    free(v);
    return f;
}

/* A renewal that cannot be placed (credits short): keep the alert on the
 * parent, in the audit log, and try again later. */
static void renewal_failed(cin_store *st, cin_order *parent, const char *detail)
{
    time_t now = cin_now(cin_store_services(st));
    json_t *p =
        json_pack("{s:s, s:s, s:i, s:s}", "type", "urn:certinext:error:renewal_failed", "title",
                  "Automatic renewal failed; it will be retried", "status", 402, "detail", detail);

    if (cin_store_begin(st) != CIN_OK) {
        json_decref(p);
        return;
    }
    free(parent->error_json);
    parent->error_json = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    parent->attempts++;
    parent->next_attempt_at = now + backoff(parent->attempts + 4); /* from a minute or so */
    if (cin_store_order_update(st, parent) == CIN_OK &&
        cin_store_event_add(st, parent->account_id, parent->id, "agent", "order.renewal_failed",
                            NULL, detail) == CIN_OK &&
        cin_store_commit(st) == CIN_OK)
        return;
    cin_store_rollback(st);
}

/*
 * Renew auto_renew certificates at their renewal point.  An order that an
 * administrator approved or placed is renewed, charged and sent to the CA
 * without a new approval; any other renewal waits for approval like a new
 * order by its requester.
 */
static void renew_due(cin_store *st, const char *holder, cin_agent_stats *stats)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t *ids = NULL, number = 0;
    size_t n = 0, i;

    if (cin_store_order_renewal_due(st, now, cin_agent_renew_fraction(st), &ids, &n) != CIN_OK)
        return;
    for (i = 0; i < n; i++) {
        cin_order parent, child;
        cin_product prod;
        char detail[96];
        int rc;

        memset(&child, 0, sizeof(child));
        memset(&prod, 0, sizeof(prod));
        if (cin_store_begin(st) != CIN_OK)
            break;
        rc = cin_store_order_get(st, ids[i], &parent);
        if (rc != CIN_OK || strcmp(parent.status, "issued") || !parent.auto_renew ||
            cin_store_order_has_renewal(st, parent.id) ||
            cin_store_product_get(st, parent.product, &prod) != CIN_OK) {
            cin_store_rollback(st);
            cin_order_clear(&parent);
            continue;
        }
        child.account_id = parent.account_id;
        child.requester_id = parent.requester_id;
        child.product = parent.product;
        child.common_name = parent.common_name;
        child.sans = parent.sans;
        child.nsans = parent.nsans;
        child.key_source = parent.key_source;
        child.key_type = parent.key_type;
        child.validity_days = parent.validity_days <= prod.max_validity_days
                                  ? parent.validity_days
                                  : prod.max_validity_days;
        child.auto_renew = 1;
        child.price = cin_product_price(&prod, parent.nsans);
        child.parent_id = parent.id;
        child.kind = "renewal";
        child.csr_pem = !strcmp(parent.key_source, "csr") ? parent.csr_pem : NULL;
        child.admin_approved = parent.admin_approved;
        child.approved_by = parent.admin_approved ? parent.approved_by : NULL;
        child.approved_at = parent.admin_approved ? parent.approved_at : NULL;
        child.status = parent.admin_approved ? "processing" : "pending_approval";
        rc = cin_store_order_insert(st, &child);
        if (rc == CIN_OK && parent.admin_approved) {
            rc = cin_store_credits_move(st, parent.account_id, -child.price, child.id,
                                        "automatic renewal", "agent", NULL);
            if (rc == CIN_OK)
                rc = cin_store_order_number_next(st, &number);
            if (rc == CIN_OK) {
                child.order_number = number;
                rc = cin_store_order_update(st, &child);
            }
        }
        snprintf(detail, sizeof(detail), "automatic renewal of R-%06lld", (long long)parent.id);
        if (rc == CIN_OK)
            rc = cin_store_event_add(st, child.account_id, child.id, "agent", "order.create",
                                     holder, detail);
        snprintf(detail, sizeof(detail), "renewal R-%06lld (%s)", (long long)child.id,
                 child.status);
        if (rc == CIN_OK)
            rc = cin_store_event_add(st, parent.account_id, parent.id, "agent", "order.auto_renew",
                                     holder, detail);
        if (rc == CIN_OK && parent.error_json) {
            free(parent.error_json);
            parent.error_json = NULL;
            parent.attempts = 0;
            rc = cin_store_order_update(st, &parent);
        }
        rc = cin_store_end(st, rc);
        if (rc == CIN_ECREDITS) {
            cin_account a;
            char why[160];
            cin_store_account_get_id(st, parent.account_id, &a);
            snprintf(why, sizeof(why), "the renewal costs %lld credits; the account has %lld",
                     (long long)child.price, (long long)a.credits);
            cin_account_clear(&a);
            renewal_failed(st, &parent, why);
        } else if (rc == CIN_OK && stats) {
            stats->renewals++;
        }
        /* child borrowed the parent's strings: only its own are freed */
        free(child.created_at);
        free(child.updated_at);
        cin_order_clear(&parent);
        cin_product_clear(&prod);
    }
    free(ids);
}

/*
 * Renewal points are checked every few seconds, not on every short poll: the
 * scan grows with the number of auto_renew certificates, and a renewal is
 * never urgent to the second.
 */
#define RENEWAL_CHECK_INTERVAL 5
static time_t last_renewal_check;

static int renewal_check_due(time_t now)
{
    return now - __atomic_load_n(&last_renewal_check, __ATOMIC_RELAXED) >= RENEWAL_CHECK_INTERVAL;
}

int cin_agent_run_once(cin_store *st, const char *holder, cin_agent_stats *stats)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t *ids = NULL;
    size_t n = 0, i;
    int rc;

    if (stats)
        memset(stats, 0, sizeof(*stats));
    rc = cin_store_order_due(st, "processing", now, &ids, &n);
    if (rc != CIN_OK)
        return rc;
    for (i = 0; i < n; i++)
        work_order(st, ids[i], holder, stats);
    free(ids);
    send_revocations(st, holder, stats);
    mark_expired(st, stats);
    if (renewal_check_due(now)) {
        __atomic_store_n(&last_renewal_check, now, __ATOMIC_RELAXED);
        renew_due(st, holder, stats);
    }
    return CIN_OK;
}

int cin_agent_work_due(cin_store *st)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t *ids = NULL, *cids = NULL, *eids = NULL;
    size_t n = 0, cn = 0, en = 0;
    int due;

    /* three indexed look-ups: a poll costs the same with 100 000 certificates */
    if (cin_store_order_due(st, "processing", now, &ids, &n) != CIN_OK)
        return 0;
    cin_store_cert_unnotified(st, now, &cids, &cn);
    cin_store_order_expired(st, now, &eids, &en);
    due = n > 0 || cn > 0 || en > 0;
    free(ids);
    free(cids);
    free(eids);
    return due || renewal_check_due(now);
}
