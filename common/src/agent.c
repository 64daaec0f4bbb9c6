/*
 * agent.c - the issuance agent (see cin_agent.h).
 *
 * The lease: before working an order the agent takes the store lease
 * "order:<id>" for the store's lease time (setting "lease_ttl", default
 * CIN_AGENT_LEASE_TTL seconds) and renews it every third of that while it
 * talks to the CA (cin_agent_lease_keep, before each exchange).  Only one
 * holder has it at a time, on every host of a fleet (the leases are in the
 * central store); a crashed agent's lease simply expires and the next agent
 * takes the order over.  Whatever the agent obtained is stored in one
 * transaction that first checks the lease is still its own (fencing: a
 * holder that stalled past its lease stores nothing) and re-reads the order:
 * if it is no longer `processing` (cancelled meanwhile, or finished by
 * another agent after a lease expired) the result is dropped, so an order is
 * never issued twice.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cin_agent.h"
#include "cin_autossl.h"
#include "cin_metrics.h"
#include "cin_store_metrics.h"
#include "cin_notify.h"
#include "cin_ca.h"
#include "cin_order.h"
#include "cin_store_ca.h"
#include "cin_util.h"
#include "cin_x509.h"

#include <jansson.h>

/* How long a reissued certificate's predecessor lives on before it is revoked. */
#define REISSUE_REVOKE_AFTER (72 * 3600)

void cin_agent_holder(const char *host_id, char *buf, size_t len)
{
    char host[64] = "host";

    if (host_id && *host_id) {
        snprintf(host, sizeof(host), "%s", host_id);
    } else {
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
    }
    host[strcspn(host, ":")] = '\0';
    snprintf(buf, len, "%s:%ld:%lx", host, (long)getpid(), (unsigned long)pthread_self());
}

int cin_agent_lease_ttl(cin_store *st)
{
    char *v = NULL, *end;
    int ttl = CIN_AGENT_LEASE_TTL;

    if (cin_store_setting_get(st, "lease_ttl", &v) == CIN_OK) {
        long x = strtol(v, &end, 10);
        if (!*end && end != v && x >= CIN_AGENT_LEASE_TTL_MIN && x <= CIN_AGENT_LEASE_TTL_MAX)
            ttl = (int)x;
    }
    free(v);
    return ttl;
}

/*
 * A lease held by a process of this host that no longer exists (a killed
 * worker) need not run out its time: it is released at once.  Holders are
 * "host:pid:thread", host being the host id of a fleet's host (random, kept
 * in its state directory: containers and the tests' "hosts" share hostnames);
 * another host's lease is always left to expire, since its pids mean nothing
 * here.
 */
static int holder_is_dead(const char *holder, const char *mine)
{
    size_t hl = strcspn(holder ? holder : "", ":"), ml = strcspn(mine, ":");
    long pid = 0;

    if (!holder || hl == 0 || hl != ml || strncmp(holder, mine, hl) || holder[hl] != ':')
        return 0;
    if (sscanf(holder + hl + 1, "%ld:", &pid) != 1 || pid <= 0)
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* The order being worked by this thread, for cin_agent_lease_keep. */
typedef struct lease {
    cin_store *st;
    char name[48];
    const char *holder;
    int ttl;
    time_t renewed;
    int lost;
} lease;

static __thread lease *working;

static int take_lease(cin_store *st, lease *l, int64_t id, const char *holder)
{
    char *other = NULL;
    int rc;

    memset(l, 0, sizeof(*l));
    l->st = st;
    snprintf(l->name, sizeof(l->name), "order:%lld", (long long)id);
    l->holder = holder;
    l->ttl = cin_agent_lease_ttl(st);
    rc = cin_store_lease_acquire(st, l->name, holder, l->ttl);
    if (rc == CIN_ECONFLICT && cin_store_lease_holder(st, l->name, &other, NULL) == CIN_OK &&
        holder_is_dead(other, holder) && cin_store_lease_release(st, l->name, other) == CIN_OK) {
        cin_log(cin_store_services(st), CIN_LOG_WARN,
                "agent: %s held by %s, which is gone; taking it over", l->name, other);
        rc = cin_store_lease_acquire(st, l->name, holder, l->ttl);
    }
    free(other);
    if (rc == CIN_OK) {
        l->renewed = cin_now(cin_store_services(st));
        working = l;
    }
    return rc;
}

static void release_lease(lease *l)
{
    working = NULL;
    if (!l->lost)
        cin_store_lease_release(l->st, l->name, l->holder);
}

int cin_agent_lease_keep(cin_store *st)
{
    lease *l = working;
    time_t now;
    int rc;

    if (!l || l->st != st)
        return CIN_OK;
    if (l->lost)
        return CIN_ECONFLICT;
    now = cin_now(cin_store_services(st));
    if (now - l->renewed < l->ttl / 3 || cin_store_in_transaction(st))
        return CIN_OK;
    rc = cin_store_lease_acquire(st, l->name, l->holder, l->ttl);
    if (rc == CIN_OK) {
        l->renewed = now;
    } else if (rc == CIN_ECONFLICT) {
        l->lost = 1;
        cin_log(cin_store_services(st), CIN_LOG_WARN,
                "agent: %s was taken over by another agent while %s worked it; stopping", l->name,
                l->holder);
    }
    /* the store unreachable for a moment: the lease may still be ours */
    return rc == CIN_ECONFLICT ? rc : CIN_OK;
}

/*
 * Fencing, in the transaction that records a result: the lease is still
 * this holder's (renewed for the store's commit), or nobody else's since it
 * ran out.  CIN_ECONFLICT: another agent holds it; what this one got is
 * dropped.
 */
static int fence(cin_store *st)
{
    lease *l = working;
    int rc;

    if (!l || l->st != st)
        return CIN_OK;
    rc = cin_store_lease_acquire(st, l->name, l->holder, l->ttl);
    if (rc == CIN_ECONFLICT) {
        l->lost = 1;
        cin_log(cin_store_services(st), CIN_LOG_WARN,
                "agent: %s is another agent's now; what %s got from the CA is dropped", l->name,
                l->holder);
    } else if (rc == CIN_OK) {
        l->renewed = cin_now(cin_store_services(st));
    }
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
    memset(&cur, 0, sizeof(cur));
    rc = fence(st);
    if (rc == CIN_OK)
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

/* 1 when every name of o still belongs to its account; 0 when one moved
 * away (p says which); <0 a store error. */
static int still_owned(cin_store *st, const cin_order *o, cin_problem *p)
{
    size_t i;

    for (i = 0; i < o->nsans; i++) {
        int64_t owner = 0;
        int rc = cin_store_domain_owner(st, o->sans[i], &owner);
        if (rc != CIN_OK)
            return rc;
        if (owner != o->account_id) {
            cin_problem_set(p, 403, "domain_not_owned",
                            "%s no longer belongs to the order's account; the certificate is "
                            "not issued",
                            o->sans[i]);
            return 0;
        }
    }
    return 1;
}

/* A problem as the order's error and the audit log keep it; NULL when unset. */
static char *problem_text(const cin_problem *p)
{
    return p->status || p->code || p->type ? cin_problem_json(p) : NULL;
}

static int parent_lifetime(cin_store *st, int64_t parent_id, time_t *start, time_t *end)
{
    cin_order parent;
    cin_cert pc;
    int rc = cin_store_order_get(st, parent_id, &parent);

    if (rc == CIN_OK && parent.cert_id) {
        rc = cin_store_cert_get(st, parent.cert_id, &pc);
        if (rc == CIN_OK) {
            *start = pc.lifetime_start;
            *end = pc.lifetime_end;
            cin_cert_clear(&pc);
        }
    }
    if (rc == CIN_OK || rc == CIN_ENOTFOUND)
        cin_order_clear(&parent);
    return rc == CIN_ENOTFOUND ? CIN_OK : rc;
}

/* The issuance latency histogram (cin_metrics.h): from the order's payment
 * (its last debit) to its certificate. */
static void count_issued(cin_store *st, int64_t order_id, time_t now)
{
    time_t paid = 0;

    if (cin_store_order_paid_at(st, order_id, &paid) == CIN_OK && paid > 0 && paid <= now)
        cin_metrics_issued((double)(now - paid));
    else
        cin_metrics_issued(0);
}

/*
 * Store the chain: the certificate, the order issued, the generation moved,
 * in one transaction that first re-reads the order.  What the CA issued for
 * an order that may no longer have it - cancelled meanwhile, or a name that
 * moved to another account - is stored revoked instead, never served, and
 * the agent tells the CA.  A renewal or reissue supersedes its parent: a
 * lineage has one active certificate.
 */
static int store_issued(cin_store *st, cin_order *o, const char *chain, const char *holder)
{
    time_t now = cin_now(cin_store_services(st));
    cin_cert_facts f;
    cin_cert c;
    cin_order cur;
    cin_problem why = {0};
    char detail[160];
    int rc, owned = 1, live;

    if (cin_cert_facts_get(chain, &f) != CIN_OK)
        return CIN_EINVAL;
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return rc;
    rc = fence(st);
    if (rc == CIN_OK)
        rc = cin_store_order_get(st, o->id, &cur);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        return rc;
    }
    if (strcmp(cur.status, "processing") && strcmp(cur.status, "cancelled")) {
        /* already stored by another agent after a lease expired */
        cin_store_rollback(st);
        cin_order_clear(&cur);
        return CIN_ECONFLICT;
    }
    if (!strcmp(cur.status, "processing")) {
        owned = still_owned(st, &cur, &why);
        if (owned < 0) {
            rc = owned;
            cin_store_rollback(st);
            cin_order_clear(&cur);
            return rc;
        }
    }
    live = !strcmp(cur.status, "processing") && owned;
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
    if (live && !strcmp(cur.kind, "reissue") && cur.parent_id) {
        /* renewal timing follows the lifetime of the certificate replaced */
        rc = parent_lifetime(st, cur.parent_id, &c.lifetime_start, &c.lifetime_end);
        if (rc != CIN_OK) {
            cin_store_rollback(st);
            cin_order_clear(&cur);
            return rc;
        }
    }
    rc = cin_store_cert_insert(st, &c);
    free(c.status);
    c.status = NULL;
    if (rc == CIN_OK && !live) {
        /* never served; revoked at the CA by send_revocations */
        rc = cin_store_cert_set_status(st, c.id, "revoked", "cessationOfOperation");
        if (rc == CIN_OK)
            rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "certificate.revoke",
                                     holder,
                                     owned ? "issued after the order was cancelled; revoked"
                                           : "a name moved to another account; revoked");
        if (rc == CIN_OK && owned) {
            /* the cancelled order's certificate is found: nothing left to clean up */
            cur.ca_cleanup = 0;
            rc = cin_store_order_update(st, &cur);
        }
        if (rc == CIN_OK && !owned) {
            free(cur.status);
            cur.status = strdup("failed");
            free(cur.error_json);
            cur.error_json = problem_text(&why);
            rc = cin_store_order_update(st, &cur);
            if (rc == CIN_OK)
                rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.failed",
                                         holder, cur.error_json);
        }
        rc = cin_store_end(st, rc);
        cin_problem_clear(&why);
        cin_order_clear(&cur);
        return rc == CIN_OK ? CIN_ECONFLICT : rc;
    }
    if (rc == CIN_OK && cur.parent_id && strcmp(cur.kind, "new")) {
        /* the parent's certificate is replaced now; a reissue's is also
         * revoked at its CA after a grace period for the old one's users */
        rc = cin_store_order_supersede(st, cur.parent_id, cur.id,
                                       !strcmp(cur.kind, "reissue") ? now + REISSUE_REVOKE_AFTER
                                                                    : 0);
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
    if (rc == CIN_OK)
        count_issued(st, cur.id, now);
    cin_order_clear(&cur);
    cin_problem_clear(&why);
    return rc;
}

/* PENDING or TRANSIENT: when to ask the CA again (a failure counts an attempt). */
static void ask_again(cin_order *cur, const cin_ca_result *r, time_t now)
{
    if (r->outcome == CIN_CA_TRANSIENT)
        cur->attempts++;
    cur->next_attempt_at = now + (r->retry_after > 0 ? r->retry_after : backoff(cur->attempts));
}

/* Record a CA outcome that is not a certificate. */
static int store_outcome(cin_store *st, cin_order *o, const cin_ca_result *r, const char *holder)
{
    time_t now = cin_now(cin_store_services(st));
    char *problem = problem_text(&r->problem);
    cin_order cur;
    int rc = cin_store_begin(st);

    if (rc != CIN_OK) {
        free(problem);
        return rc;
    }
    memset(&cur, 0, sizeof(cur));
    rc = fence(st);
    if (rc == CIN_OK)
        rc = cin_store_order_get(st, o->id, &cur);
    if (rc == CIN_OK && strcmp(cur.status, "processing"))
        rc = CIN_ECONFLICT;
    if (rc == CIN_OK) {
        free(cur.error_json);
        cur.error_json = cin_strdup(problem);
        if (r->outcome == CIN_CA_FAILED) {
            free(cur.status);
            cur.status = strdup("failed");
            cin_metrics_add(CIN_M_AGENT_PERMANENT, 1);
        } else {
            ask_again(&cur, r, now);
            if (r->outcome == CIN_CA_TRANSIENT)
                cin_metrics_add(CIN_M_AGENT_TRANSIENT, 1);
        }
        rc = cin_store_order_update(st, &cur);
    }
    if (rc == CIN_OK && r->outcome == CIN_CA_FAILED)
        rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.failed", holder,
                                 problem);
    else if (rc == CIN_OK && r->outcome == CIN_CA_TRANSIENT)
        rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.retry_later", holder,
                                 problem);
    rc = cin_store_end(st, rc);
    if (rc == CIN_OK || rc == CIN_ECONFLICT)
        cin_order_clear(&cur);
    free(problem);
    return rc;
}

/* ---- CA failover (issue 14) ------------------------------------------------- */

/* The CA o is at: the one it moved to, while the product still lists it;
 * else the product's first (a new order, a renewal: the preferred CA). */
static char *ca_of(cin_store *st, const cin_order *o)
{
    char **cas = NULL, *at = NULL, *ca = NULL;
    size_t n = 0, i;
    int attempts;

    if (cin_store_product_cas(st, o->product, &cas, &n) != CIN_OK || n == 0)
        return NULL;
    /* a distrusted CA is never used again (issue 14) */
    if (cin_store_order_ca_get(st, o->id, &at, &attempts) == CIN_OK && at)
        for (i = 0; !ca && i < n; i++)
            if (!strcmp(cas[i], at) && !cin_store_ca_distrusted(st, at))
                ca = cin_strdup(at);
    for (i = 0; !ca && i < n; i++)
        if (!cin_store_ca_distrusted(st, cas[i]))
            ca = cin_strdup(cas[i]);
    free(at);
    cin_strv_free(cas, n);
    return ca;
}

/* The CA that worked o (a clean-up, a revocation go there): the one it is
 * recorded at, whatever the product lists now; else the product's first. */
static char *ca_worked(cin_store *st, const cin_order *o)
{
    char *at = NULL;
    int attempts;

    if (cin_store_order_ca_get(st, o->id, &at, &attempts) == CIN_OK && at)
        return at;
    free(at);
    return ca_of(st, o);
}

/*
 * After a CA's TRANSIENT or FAILED outcome for o: one more attempt at ca.
 * When the product has a next CA, a FAILED order is not failed while ca's
 * --failover-after attempts last (it is tried there again, *r becomes
 * TRANSIENT), and at the last one it moves to the next CA: attempts and
 * error start afresh there, audited as order.ca_failover.  1 when it moved
 * (nothing else to record), 0 otherwise.
 */
static int fail_over(cin_store *st, const cin_order *o, const char *ca, cin_ca_result *r,
                     const char *holder)
{
    time_t now = cin_now(cin_store_services(st));
    char **cas = NULL, detail[512];
    const char *next = NULL;
    size_t n = 0, i;
    int at = 0, moved = 0, rc;
    cin_order cur;

    if (r->outcome != CIN_CA_TRANSIENT && r->outcome != CIN_CA_FAILED)
        return 0;
    if (cin_store_product_cas(st, o->product, &cas, &n) != CIN_OK)
        return 0;
    for (i = 0; i < n && strcmp(cas[i], ca); i++)
        ;
    for (i++; i < n && !next; i++) /* the next trusted one */
        if (!cin_store_ca_distrusted(st, cas[i]))
            next = cas[i];
    cin_store_order_ca_get(st, o->id, NULL, &at);
    at++;
    memset(&cur, 0, sizeof(cur));
    rc = cin_store_begin(st);
    if (rc == CIN_OK)
        rc = fence(st);
    if (rc == CIN_OK && next && at >= cin_store_ca_failover_after(st, ca)) {
        rc = cin_store_order_get(st, o->id, &cur);
        if (rc == CIN_OK && strcmp(cur.status, "processing"))
            rc = CIN_ECONFLICT;
        if (rc == CIN_OK) {
            cur.attempts = 0;
            free(cur.error_json);
            cur.error_json = NULL;
            cur.next_attempt_at = now;
            rc = cin_store_order_update(st, &cur);
        }
        if (rc == CIN_OK)
            rc = cin_store_order_ca_set(st, o->id, next, 0);
        snprintf(detail, sizeof(detail), "from CA %s to CA %s after %d attempt%s: %s", ca, next, at,
                 at == 1 ? "" : "s",
                 r->problem.detail ? r->problem.detail : "the CA did not issue");
        if (rc == CIN_OK)
            rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.ca_failover",
                                     holder, detail);
        moved = rc == CIN_OK;
    } else if (rc == CIN_OK) {
        rc = cin_store_order_ca_set(st, o->id, ca, at);
        if (rc == CIN_OK && next && r->outcome == CIN_CA_FAILED)
            r->outcome = CIN_CA_TRANSIENT; /* tried here again before the next CA */
    }
    rc = cin_store_end(st, rc);
    if (moved)
        cin_log(cin_store_services(st), CIN_LOG_INFO, "agent: order R-%06lld moved %s",
                (long long)o->id, detail);
    cin_order_clear(&cur);
    cin_strv_free(cas, n);
    return moved && rc == CIN_OK;
}

/* The connector of o's CA; NULL (r FAILED) when there is none. */
static const cin_ca_ops *ops_of(cin_store *st, const cin_order *o, cin_product *prod,
                                const char *ca, cin_ca_result *r)
{
    const cin_ca_ops *ops = NULL;
    char *kind = NULL;

    if (cin_store_product_get(st, o->product, prod) == CIN_OK && ca &&
        cin_store_ca_kind(st, ca, &kind) == CIN_OK)
        ops = cin_ca_ops_for(kind);
    free(kind);
    if (!ops) {
        r->outcome = CIN_CA_FAILED;
        cin_problem_set(&r->problem, 500, "ca_error",
                        "product %s has no usable CA (none configured, or every one distrusted)",
                        o->product);
    }
    return ops;
}

static void work_order(cin_store *st, int64_t id, const char *holder, cin_agent_stats *stats)
{
    const cin_services *svc = cin_store_services(st);
    const cin_ca_ops *ops;
    cin_ca_result r;
    cin_product prod;
    cin_order o;
    lease l;
    char *ca = NULL;
    int rc, owned;

    memset(&r, 0, sizeof(r));
    memset(&prod, 0, sizeof(prod));
    if (take_lease(st, &l, id, holder) != CIN_OK)
        return; /* another agent works it */
    rc = cin_store_order_get(st, id, &o);
    if (rc != CIN_OK)
        goto release;
    if (strcmp(o.status, "processing"))
        goto done;
    /* a name that moved to another account since payment: the CA is not asked */
    owned = still_owned(st, &o, &r.problem);
    if (owned <= 0) {
        if (owned == 0) {
            r.outcome = CIN_CA_FAILED;
            store_outcome(st, &o, &r, holder);
            if (stats)
                stats->failed++;
        }
        goto done;
    }
    ca = ca_of(st, &o);
    if (!(ops = ops_of(st, &o, &prod, ca, &r))) {
        store_outcome(st, &o, &r, holder);
        if (stats)
            stats->failed++;
        goto done;
    }
    if (!strcmp(o.key_source, "server") && ensure_key(st, &o) != CIN_OK) {
        r.outcome = CIN_CA_TRANSIENT;
        cin_problem_set(&r.problem, 503, "ca_unavailable", "%s",
                        "the order's key and CSR could not be made; this will be retried");
        store_outcome(st, &o, &r, holder);
        if (stats)
            stats->deferred++;
        goto done;
    }
    if (o.attempts == 0 && !o.error_json)
        ops->submit(st, ca, &o, &r);
    else
        ops->poll(st, ca, &o, &r);
    if (r.outcome == CIN_CA_DONE) {
        rc = store_issued(st, &o, r.chain_pem, holder);
        if (rc == CIN_OK) {
            cin_log(svc, CIN_LOG_INFO, "agent: issued order R-%06lld", (long long)id);
            if (stats)
                stats->issued++;
        }
    } else if (fail_over(st, &o, ca, &r, holder)) {
        if (stats)
            stats->deferred++;
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
    free(ca);
    cin_ca_result_clear(&r);
    cin_product_clear(&prod);
    release_lease(&l);
}

/* Record a clean-up outcome that is not a certificate: FAILED ends the
 * clean-up (nothing was issued), anything else asks again later. */
static int cleanup_record(cin_store *st, int64_t id, const cin_ca_result *r, const char *holder)
{
    time_t now = cin_now(cin_store_services(st));
    char *problem = problem_text(&r->problem);
    cin_order cur;
    int rc = cin_store_begin(st);

    memset(&cur, 0, sizeof(cur));
    if (rc != CIN_OK)
        goto done;
    rc = fence(st);
    if (rc == CIN_OK)
        rc = cin_store_order_get(st, id, &cur);
    if (rc == CIN_OK && (strcmp(cur.status, "cancelled") || !cur.ca_cleanup))
        rc = CIN_ECONFLICT; /* done meanwhile by another agent */
    if (rc == CIN_OK) {
        if (r->outcome == CIN_CA_FAILED) {
            cur.ca_cleanup = 0;
        } else {
            ask_again(&cur, r, now);
        }
        rc = cin_store_order_update(st, &cur);
    }
    if (rc == CIN_OK && r->outcome == CIN_CA_FAILED)
        rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.ca_cleanup", holder,
                                 problem);
    else if (rc == CIN_OK && r->outcome == CIN_CA_TRANSIENT)
        rc = cin_store_event_add(st, cur.account_id, cur.id, "agent", "order.ca_cleanup_later",
                                 holder, problem);
    rc = cin_store_end(st, rc);
done:
    cin_order_clear(&cur);
    free(problem);
    return rc;
}

/*
 * An order cancelled while it was at its CA (ca_cleanup): the CA may have
 * issued its certificate all the same.  The connector looks, and never
 * validates or finalizes anything: a certificate it finds is stored revoked
 * (cessationOfOperation), never served, and send_revocations tells the CA;
 * "nothing was issued" ends the clean-up; a CA still issuing, or unreachable,
 * is asked again later.  Under the order's lease, as work_order.
 */
static void cleanup_order(cin_store *st, int64_t id, const char *holder, cin_agent_stats *stats)
{
    const cin_ca_ops *ops;
    cin_ca_result r;
    cin_product prod;
    cin_order o;
    lease l;
    char *ca = NULL;
    int rc;

    memset(&r, 0, sizeof(r));
    memset(&prod, 0, sizeof(prod));
    memset(&o, 0, sizeof(o));
    if (take_lease(st, &l, id, holder) != CIN_OK)
        return;
    if (cin_store_order_get(st, id, &o) != CIN_OK || strcmp(o.status, "cancelled") || !o.ca_cleanup)
        goto done;
    ca = ca_worked(st, &o);
    ops = ops_of(st, &o, &prod, ca, &r);
    if (ops)
        ops->cleanup(st, ca, &o, &r);
    if (r.outcome == CIN_CA_DONE) {
        /* store_issued's branch for a cancelled order: revoked, ca_cleanup cleared */
        rc = store_issued(st, &o, r.chain_pem, holder);
        if (rc == CIN_OK || rc == CIN_ECONFLICT) {
            if (stats)
                stats->cleanups++;
            goto done;
        }
        cin_ca_result_clear(&r);
        r.outcome = CIN_CA_TRANSIENT;
        cin_problem_set(&r.problem, 503, "ca_unavailable",
                        "the certificate the CA issued could not be stored (%s)",
                        cin_strstatus(rc));
    }
    if (cleanup_record(st, id, &r, holder) == CIN_OK && r.outcome == CIN_CA_FAILED && stats)
        stats->cleanups++;
done:
    free(ca);
    cin_order_clear(&o);
    cin_ca_result_clear(&r);
    cin_product_clear(&prod);
    release_lease(&l);
}

static void cleanup_cancelled(cin_store *st, const char *holder, cin_agent_stats *stats)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t *ids = NULL;
    size_t n = 0, i;

    if (cin_store_order_cleanup_due(st, now, &ids, &n) != CIN_OK)
        return;
    for (i = 0; i < n; i++)
        cleanup_order(st, ids[i], holder, stats);
    free(ids);
}

/* Record what the CA said to a revocation: told, refused for good, or later. */
static int revocation_record(cin_store *st, const cin_cert *c, const cin_ca_result *r,
                             const char *holder)
{
    time_t now = cin_now(cin_store_services(st));
    char *why = NULL;
    int rc = cin_store_begin(st);

    if (rc != CIN_OK)
        return rc;
    if (r->outcome == CIN_CA_DONE) {
        rc = cin_store_cert_mark_notified(st, c->id, 1);
        if (rc == CIN_OK)
            rc = cin_store_event_add(st, c->account_id, c->order_id, "agent",
                                     "certificate.revocation_sent", holder, c->serial);
    } else if (r->outcome == CIN_CA_FAILED) {
        /* the CA refused for good: say so once, in the audit log */
        why = problem_text(&r->problem);
        rc = cin_store_cert_mark_notified(st, c->id, 2);
        if (rc == CIN_OK)
            rc = cin_store_event_add(st, c->account_id, c->order_id, "agent",
                                     "certificate.revocation_refused", holder,
                                     why ? why : c->serial);
    } else {
        rc = cin_store_cert_revoke_later(st, c->id,
                                         now + (r->retry_after > 0 ? r->retry_after : 30));
    }
    free(why);
    return cin_store_end(st, rc);
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
        char *ca = NULL;

        memset(&r, 0, sizeof(r));
        memset(&prod, 0, sizeof(prod));
        memset(&o, 0, sizeof(o));
        if (cin_store_cert_get(st, ids[i], &c) != CIN_OK)
            continue;
        if (cin_store_order_get(st, c.order_id, &o) == CIN_OK) {
            ca = ca_worked(st, &o);
            ops = ops_of(st, &o, &prod, ca, &r);
        }
        if (ops)
            ops->revoke(st, ca, &c, c.revocation_reason, &r);
        else
            r.outcome = CIN_CA_FAILED;
        if (revocation_record(st, &c, &r, holder) == CIN_OK && r.outcome == CIN_CA_DONE && stats)
            stats->revocations_sent++;
        free(ca);
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

/* A renewal that cannot be placed (credits short, a name moved away): keep
 * the alert on the parent, in the audit log, and try again later. */
static void renewal_failed(cin_store *st, int64_t parent_id, const cin_problem *why,
                           const char *holder)
{
    time_t now = cin_now(cin_store_services(st));
    cin_problem alert = {0};
    cin_order parent;

    cin_problem_set(&alert, why->status ? why->status : 503, why->code ? why->code : "internal",
                    "automatic renewal failed; it will be retried: %s",
                    why->detail ? why->detail : "");
    alert.title = strdup("Automatic renewal failed; it will be retried");
    if (cin_store_begin(st) != CIN_OK) {
        cin_problem_clear(&alert);
        return;
    }
    if (cin_store_order_get(st, parent_id, &parent) == CIN_OK) {
        free(parent.error_json);
        parent.error_json = cin_problem_json(&alert);
        parent.attempts++;
        parent.next_attempt_at = now + backoff(parent.attempts + 4); /* from a minute or so */
        if (parent.error_json && cin_store_order_update(st, &parent) == CIN_OK &&
            cin_store_event_add(st, parent.account_id, parent.id, "agent", "order.renewal_failed",
                                holder, alert.detail) == CIN_OK &&
            cin_store_commit(st) == CIN_OK) {
            cin_order_clear(&parent);
            cin_problem_clear(&alert);
            return;
        }
        cin_order_clear(&parent);
    }
    cin_store_rollback(st);
    cin_problem_clear(&alert);
}

/*
 * Renew auto_renew certificates at their renewal point, through the same
 * workflow function as every other renewal (cin_order_renew_auto): ownership
 * is checked again, an EV order waits for its signatory, and an order an
 * administrator approved is charged and sent to the CA at once.
 */
int cin_agent_renewals(cin_store *st, const char *holder, cin_agent_stats *stats)
{
    time_t now = cin_now(cin_store_services(st));
    const cin_actor agent = {NULL, "agent", holder};
    int64_t *ids = NULL;
    size_t n = 0, i;
    int rc = cin_store_order_renewal_due(st, now, cin_agent_renew_fraction(st), &ids, &n);

    if (rc != CIN_OK)
        return rc;
    for (i = 0; i < n; i++) {
        cin_problem p = {0};
        cin_order child;

        rc = cin_order_renew_auto(st, &agent, ids[i], &child, &p);
        if (rc == CIN_OK) {
            if (stats)
                stats->renewals++;
            cin_order_clear(&child);
        } else if (rc == CIN_ECREDITS || rc == CIN_EPERM) {
            renewal_failed(st, ids[i], &p, holder);
        } else if (rc != CIN_ECONFLICT && rc != CIN_ENOTFOUND) {
            cin_log(cin_store_services(st), CIN_LOG_WARN, "agent: renewal of R-%06lld deferred: %s",
                    (long long)ids[i], p.detail ? p.detail : cin_strstatus(rc));
        }
        cin_problem_clear(&p);
    }
    free(ids);
    return CIN_OK;
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

/* ARI windows (acme_ari.c, issue 14) are looked for every ari_interval
 * seconds (default a minute), the first time that long after the agent
 * starts; each certificate's window is read again only when its
 * Retry-After has passed. */
#define ARI_CHECK_INTERVAL 60
static time_t last_ari_check;

static int ari_check_due(cin_store *st, time_t now)
{
    time_t last = __atomic_load_n(&last_ari_check, __ATOMIC_RELAXED);
    long interval = ARI_CHECK_INTERVAL;
    char *v = NULL;

    if (cin_store_setting_get(st, "ari_interval", &v) == CIN_OK && v && atol(v) > 0)
        interval = atol(v);
    free(v);
    if (!last || now - last >= interval) {
        __atomic_store_n(&last_ari_check, now, __ATOMIC_RELAXED);
        return last != 0;
    }
    return 0;
}

/* AutoSSL (autossl.c) looks for domains without a certificate when the
 * store's published generation moved (assigning a domain moves it: the
 * agent's next poll, a fraction of a second later, orders for it and issues
 * in the same pass), and at least this often (a central store publishes no
 * generation here).  The look costs one query when nothing is due. */
#define AUTOSSL_CHECK_INTERVAL 2
static time_t last_autossl_check;
static uint64_t last_autossl_gen;

static int autossl_check_due(cin_store *st, time_t now)
{
    uint64_t g = cin_store_generation_published(st);

    return now - __atomic_load_n(&last_autossl_check, __ATOMIC_RELAXED) >= AUTOSSL_CHECK_INTERVAL ||
           (g && g != __atomic_load_n(&last_autossl_gen, __ATOMIC_RELAXED));
}

int cin_agent_run_once(cin_store *st, const char *holder, cin_agent_stats *stats)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t *ids = NULL;
    size_t n = 0, i;
    int rc;

    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (autossl_check_due(st, now)) {
        /* before the issuing below, which then takes the new orders at once */
        __atomic_store_n(&last_autossl_check, now, __ATOMIC_RELAXED);
        __atomic_store_n(&last_autossl_gen, cin_store_generation_published(st), __ATOMIC_RELAXED);
        cin_autossl_run(st, holder, 0, NULL);
    }
    rc = cin_store_order_due(st, "processing", now, &ids, &n);
    if (rc != CIN_OK)
        return rc;
    for (i = 0; i < n; i++)
        work_order(st, ids[i], holder, stats);
    free(ids);
    cleanup_cancelled(st, holder, stats);
    cin_distrust_work(st, holder); /* issue 14: replacements of distrusted certificates */
    send_revocations(st, holder, stats);
    mark_expired(st, stats);
    if (renewal_check_due(now)) {
        __atomic_store_n(&last_renewal_check, now, __ATOMIC_RELAXED);
        if (ari_check_due(st, now))
            cin_ari_work(st, holder); /* before renewals: a window may make one due */
        cin_agent_renewals(st, holder, stats);
    }
    cin_notify_run(st, holder); /* e-mails and webhooks (notify.c) */
    return CIN_OK;
}

int cin_agent_work_due(cin_store *st)
{
    time_t now = cin_now(cin_store_services(st));
    int64_t *ids = NULL, *cids = NULL, *eids = NULL, *xids = NULL;
    size_t n = 0, cn = 0, en = 0, xn = 0;
    int due;

    /* four indexed look-ups: a poll costs the same with 100 000 certificates */
    if (cin_store_order_due(st, "processing", now, &ids, &n) != CIN_OK)
        return 0;
    cin_store_cert_unnotified(st, now, &cids, &cn);
    cin_store_order_expired(st, now, &eids, &en);
    cin_store_order_cleanup_due(st, now, &xids, &xn);
    due = n > 0 || cn > 0 || en > 0 || xn > 0;
    free(ids);
    free(cids);
    free(eids);
    free(xids);
    return due || renewal_check_due(now) || autossl_check_due(st, now) ||
           cin_distrust_pending(st) || cin_notify_due(st);
}
