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
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    else
        cin_store_rollback(st);
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
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    else
        cin_store_rollback(st);
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
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    else
        cin_store_rollback(st);
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

static void send_revocations(cin_store *st, const char *holder, cin_agent_stats *stats)
{
    int64_t *ids = NULL;
    size_t n = 0, i;

    if (cin_store_cert_unnotified(st, &ids, &n) != CIN_OK)
        return;
    for (i = 0; i < n; i++) {
        cin_ca_result r;
        cin_product prod;
        cin_order o;
        cin_cert c;
        char *kind = NULL;
        const cin_ca_ops *ops;

        memset(&r, 0, sizeof(r));
        if (cin_store_cert_get(st, ids[i], &c) != CIN_OK)
            continue;
        if (cin_store_order_get(st, c.order_id, &o) == CIN_OK) {
            if (cin_store_product_get(st, o.product, &prod) == CIN_OK) {
                if (cin_store_ca_kind(st, prod.ca, &kind) == CIN_OK &&
                    (ops = cin_ca_ops_for(kind)) != NULL) {
                    ops->revoke(st, prod.ca, &c, c.revocation_reason, &r);
                    if (r.outcome == CIN_CA_DONE && cin_store_begin(st) == CIN_OK) {
                        if (cin_store_cert_mark_notified(st, c.id) == CIN_OK &&
                            cin_store_event_add(st, c.account_id, c.order_id, "agent",
                                                "certificate.revocation_sent", holder,
                                                c.serial) == CIN_OK &&
                            cin_store_commit(st) == CIN_OK) {
                            if (stats)
                                stats->revocations_sent++;
                        } else {
                            cin_store_rollback(st);
                        }
                    }
                }
                cin_product_clear(&prod);
            }
            cin_order_clear(&o);
        }
        free(kind);
        cin_ca_result_clear(&r);
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
    cin_store_cert_unnotified(st, &cids, &cn);
    cin_store_order_expired(st, now, &eids, &en);
    due = n > 0 || cn > 0 || en > 0;
    free(ids);
    free(cids);
    free(eids);
    return due;
}
