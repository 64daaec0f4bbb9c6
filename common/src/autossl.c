/*
 * autossl.c - AutoSSL (cin_autossl.h): the provider's per-account policy, and
 * the agent's pass that orders a certificate for every assigned domain that
 * has none, placed, approved and paid by the policy in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_account.h"
#include "cin_autossl.h"
#include "cin_order.h"
#include "cin_util.h"

/* An AutoSSL order that failed at its CA is not placed again: it was paid,
 * so the same order goes back to its CA - after an hour, then 2, 4, 8 and 16
 * hours; after AUTOSSL_RETRY_MAX retries it stays failed with an alert on
 * the account (an administrator can retry it - and cancel it once it is
 * processing again, which refunds it and lets AutoSSL order anew).  An account short of credits is
 * looked at again after five minutes. */
#define AUTOSSL_RETRY_FAILED  3600
#define AUTOSSL_RETRY_HELD    86400
#define AUTOSSL_RETRY_MAX     5
#define AUTOSSL_RETRY_CREDITS 300

int cin_autossl_policy_set(cin_store *st, const cin_actor *a, const char *account,
                           const char *product, int include_www, cin_problem *p)
{
    cin_account acct;
    cin_product prod;
    char detail[160];
    int rc;

    memset(&acct, 0, sizeof(acct));
    if (a && a->user) {
        cin_problem_set(p, 403, "forbidden", "only the provider sets an account's AutoSSL policy");
        return CIN_EPERM;
    }
    memset(&prod, 0, sizeof(prod));
    if (product) {
        rc = cin_store_product_get(st, product, &prod);
        if (rc == CIN_ENOTFOUND) {
            cin_problem_field(p, 400, "bad_request", "product", "there is no product '%s'",
                              product);
            return CIN_EINVAL;
        }
        if (rc != CIN_OK)
            return cin_problem_from_status(p, rc);
        rc = CIN_EINVAL;
        if (!strcmp(prod.type, "ev"))
            cin_problem_field(p, 400, "bad_request", "product",
                              "%s needs an authorized signatory's consent for every order; "
                              "AutoSSL orders without anyone",
                              product);
        else if (include_www && prod.max_names < 2)
            cin_problem_field(p, 400, "bad_request", "product",
                              "%s covers one name; --include-www needs a product for two "
                              "(dv-multi)",
                              product);
        else
            rc = CIN_OK;
        cin_product_clear(&prod);
        if (rc != CIN_OK)
            return rc;
    }
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    rc = cin_store_account_get(st, account ? account : "", &acct);
    if (rc == CIN_ENOTFOUND) {
        cin_store_rollback(st);
        cin_problem_field(p, 404, "not_found", "account", "no account named %s",
                          account ? account : "");
        return rc;
    }
    if (rc == CIN_OK)
        rc = cin_store_auto_policy_set(st, acct.id, product, include_www);
    if (product)
        snprintf(detail, sizeof(detail), "AutoSSL: %s%s", product, include_www ? " + www" : "");
    else
        snprintf(detail, sizeof(detail), "AutoSSL off");
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, acct.id, 0, cin_actor_name(a), "account.autossl",
                                 a ? a->peer : NULL, detail);
    cin_account_clear(&acct);
    rc = cin_store_end(st, rc);
    return rc == CIN_OK ? CIN_OK : cin_problem_from_status(p, rc);
}

/* The names an automatic order for domain carries under the policy. */
static int policy_names(cin_store *st, const char *product, int www, const char *domain, char ***v,
                        size_t *n, cin_problem *p)
{
    const char *in[2] = {domain, NULL};
    char *w = NULL;
    int rc;

    if (www && strncmp(domain, "www.", 4) && strncmp(domain, "*.", 2))
        in[1] = w = cin_asprintf("www.%s", domain);
    rc = cin_order_names_for_product(st, product, in, in[1] ? 2 : 1, v, n, p);
    free(w);
    return rc;
}

/* Record that domain could not be ordered for, and why, where the account
 * sees it (the audit log) - one transaction. */
static int refuse(cin_store *st, const cin_name_entry *d, const cin_problem *why, time_t next)
{
    char detail[512];
    int rc = cin_store_begin(st);

    if (rc != CIN_OK)
        return rc;
    snprintf(detail, sizeof(detail), "%s: %s", d->name,
             why->detail ? why->detail : "could not be ordered");
    rc = cin_store_auto_record(st, d->name, d->account_id, 0, next, detail);
    if (rc == CIN_OK)
        rc =
            cin_store_event_add(st, d->account_id, 0, "automatic", "autossl.refused", NULL, detail);
    return cin_store_end(st, rc);
}

/* In the transaction: does (domain, account) still need an order?  The pass's
 * query ran outside it; another agent may have ordered meanwhile. */
static int still_due(cin_store *st, const cin_name_entry *d, time_t now)
{
    int rc = cin_store_auto_open(st, d->name, d->account_id, now);

    if (rc != 0)
        return rc < 0 ? rc : 0;
    rc = cin_store_name_covered(st, d->account_id, d->name, now);
    return rc < 0 ? rc : !rc;
}

/* In order_one's transaction: d's AutoSSL order failed at its CA.  Retried
 * (status back to processing, no new order, no new charge) or, after
 * AUTOSSL_RETRY_MAX retries, held with an alert.  Commits on success. */
static int retry_failed(cin_store *st, const cin_name_entry *d, int64_t order_id, int retries,
                        int alerted, const char *holder_name, cin_autossl_stats *stats,
                        cin_problem *p)
{
    time_t now = cin_now(cin_store_services(st));
    char detail[512];
    cin_order o;
    int rc;

    memset(&o, 0, sizeof(o));
    rc = cin_store_order_get(st, order_id, &o);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    if (retries >= AUTOSSL_RETRY_MAX) {
        snprintf(detail, sizeof(detail),
                 "%s: the automatic order CIN-%06lld failed at its CA %d times; AutoSSL stopped "
                 "retrying it (an administrator can retry it): %s",
                 d->name, (long long)o.order_number, retries + 1,
                 o.error_json ? o.error_json : "no detail");
        rc = cin_store_auto_record(st, d->name, d->account_id, o.id, now + AUTOSSL_RETRY_HELD,
                                   detail);
        if (rc == CIN_OK && !alerted)
            rc = cin_store_event_add(st, o.account_id, o.id, "automatic", "autossl.held",
                                     holder_name, detail);
        if (rc == CIN_OK && stats)
            stats->held++;
    } else {
        time_t wait = (time_t)AUTOSSL_RETRY_FAILED << (retries + 1);
        cin_problem why = {0};
        rc = cin_order_names_owned(st, o.account_id, o.sans, o.nsans, &why);
        if (rc != CIN_OK && why.status >= 400 && why.status < 500) {
            /* a name is no longer the account's: said, looked at again later,
             * the paid order kept (never a second charge) */
            snprintf(detail, sizeof(detail), "%s: %s", d->name,
                     why.detail ? why.detail : "could not be retried");
            cin_problem_clear(&why);
            rc = cin_store_auto_record(st, d->name, d->account_id, o.id,
                                       now + AUTOSSL_RETRY_CREDITS, detail);
            if (rc == CIN_OK && !alerted)
                rc = cin_store_event_add(st, o.account_id, o.id, "automatic", "autossl.refused",
                                         holder_name, detail);
            if (rc == CIN_OK && stats)
                stats->refused++;
            goto out;
        }
        cin_problem_clear(&why);
        if (rc != CIN_OK)
            goto out;
        free(o.status);
        o.status = strdup("processing");
        free(o.error_json);
        o.error_json = NULL;
        o.attempts = 0;
        o.next_attempt_at = 0;
        rc = o.status ? cin_store_order_update(st, &o) : CIN_ENOMEM;
        snprintf(detail, sizeof(detail),
                 "retry %d of %d after the CA failed; the same order, no new charge", retries + 1,
                 AUTOSSL_RETRY_MAX);
        if (rc == CIN_OK)
            rc = cin_store_event_add(st, o.account_id, o.id, "automatic", "autossl.retry",
                                     holder_name, detail);
        if (rc == CIN_OK)
            rc = cin_store_auto_record(
                st, d->name, d->account_id, o.id,
                now + (wait < AUTOSSL_RETRY_HELD ? wait : AUTOSSL_RETRY_HELD), NULL);
        if (rc == CIN_OK && stats)
            stats->retried++;
    }
out:
    cin_order_clear(&o);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    return rc == CIN_OK ? CIN_OK : cin_problem_from_status(p, rc);
}

static int order_one(cin_store *st, const cin_name_entry *d, const char *holder_name,
                     cin_autossl_stats *stats, cin_problem *p)
{
    time_t now = cin_now(cin_store_services(st));
    cin_product prod;
    cin_account acct, payer;
    cin_user holder;
    cin_order o;
    char *product = NULL, **names = NULL, nowtxt[21], detail[160];
    size_t nn = 0;
    int64_t number = 0, balance = 0, failed_id = 0;
    int www = 0, rc, due, retries = 0, alerted = 0;

    memset(&o, 0, sizeof(o));
    memset(&prod, 0, sizeof(prod));
    memset(&holder, 0, sizeof(holder));
    memset(&acct, 0, sizeof(acct));
    memset(&payer, 0, sizeof(payer));
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    due = still_due(st, d, now);
    if (due <= 0) {
        cin_store_rollback(st);
        return due < 0 ? cin_problem_from_status(p, due) : CIN_ECONFLICT;
    }
    rc = cin_store_auto_policy_get(st, d->account_id, &product, &www);
    if (rc == CIN_OK && !product)
        rc = CIN_ECONFLICT; /* the policy was switched off meanwhile */
    if (rc == CIN_OK)
        rc = cin_store_product_get(st, product, &prod);
    if (rc == CIN_OK)
        rc = cin_store_account_get_id(st, d->account_id, &acct);
    if (rc != CIN_OK) {
        if (rc != CIN_ECONFLICT)
            cin_problem_from_status(p, rc);
        goto fail;
    }
    /* a sub-account that needs its parent's approval or bills its parent
     * orders automatically only under a policy its parent set */
    rc = cin_account_policy_allows(st, d->account_id, CIN_POLICY_AUTOSSL);
    if (rc == 0) {
        cin_problem_set(p, 403, "forbidden",
                        "AutoSSL needs the parent account's permission for automatic orders");
        rc = CIN_EPERM;
        goto fail;
    } else if (rc < 0) {
        cin_problem_from_status(p, rc);
        goto fail;
    }
    /* paid already: the order that failed at its CA goes back to it */
    rc = cin_store_auto_failed(st, d->name, d->account_id, &failed_id, &retries, &alerted);
    if (rc == CIN_OK) {
        rc = retry_failed(st, d, failed_id, retries, alerted, holder_name, stats, p);
        if (rc != CIN_OK)
            goto fail;
        rc = CIN_ECONFLICT; /* no new order */
        goto done;
    } else if (rc != CIN_ENOTFOUND) {
        cin_problem_from_status(p, rc);
        goto fail;
    }
    rc = cin_account_payer(st, d->account_id, &payer);
    if (rc != CIN_OK) {
        cin_problem_from_status(p, rc);
        goto fail;
    }
    rc = policy_names(st, product, www, d->name, &names, &nn, p);
    if (rc == CIN_OK)
        rc = cin_order_names_owned(st, d->account_id, names, nn, p);
    if (rc == CIN_OK)
        rc = cin_account_holder(st, d->account_id, &holder, p);
    if (rc != CIN_OK)
        goto fail;
    cin_time_rfc3339(now, nowtxt);
    o.account_id = d->account_id;
    o.account = strdup(acct.name);
    o.requester_id = holder.id;
    o.requester = strdup(holder.name);
    o.status = strdup("processing");
    o.product = strdup(product);
    o.common_name = strdup(names[0]);
    o.sans = names;
    o.nsans = nn;
    names = NULL;
    o.key_source = strdup("server");
    o.key_type = strdup("ec-p256");
    o.validity_days = prod.max_validity_days;
    o.auto_renew = 1;
    o.price = cin_product_price(&prod, o.nsans);
    o.kind = strdup("automatic");
    o.admin_approved = 1;
    o.approved_by = strdup("automatic");
    o.approved_at = strdup(nowtxt);
    rc = cin_store_order_insert(st, &o);
    if (rc == CIN_OK) /* charged to the account that pays: its own, or the parent it bills */
        rc = cin_store_credits_move(
            st, payer.id, -o.price, o.id,
            payer.id == o.account_id ? "order payment" : "order payment (AutoSSL, sub-account)",
            "automatic", &balance);
    if (rc == CIN_OK && payer.id != o.account_id)
        rc = cin_store_credits_move(st, o.account_id, 0, o.id, "order payment billed to parent",
                                    "automatic", NULL);
    if (rc == CIN_ECREDITS) {
        cin_problem_set(p, 402, "insufficient_credits",
                        "AutoSSL could not order a certificate: it costs %lld credits; %s has "
                        "%lld",
                        (long long)o.price,
                        payer.id != o.account_id && payer.name ? payer.name : "the account",
                        (long long)payer.credits);
        goto fail;
    }
    if (rc == CIN_OK)
        rc = cin_store_order_number_next(st, &number);
    o.order_number = number;
    if (rc == CIN_OK)
        rc = cin_store_order_update(st, &o);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, o.account_id, o.id, "automatic", "order.create", holder_name,
                                 "AutoSSL");
    snprintf(detail, sizeof(detail), "CIN-%06lld; debited %lld credits, balance %lld",
             (long long)number, (long long)o.price, (long long)balance);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, o.account_id, o.id, "automatic", "order.pay", holder_name,
                                 detail);
    if (rc == CIN_OK)
        rc = cin_store_auto_record(st, d->name, d->account_id, o.id, now + AUTOSSL_RETRY_FAILED,
                                   NULL);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc != CIN_OK) {
        cin_problem_from_status(p, rc);
        goto fail;
    }
    goto done;
fail:
    cin_store_rollback(st);
done:
    cin_strv_free(names, nn);
    cin_order_clear(&o);
    cin_user_clear(&holder);
    cin_account_clear(&acct);
    cin_account_clear(&payer);
    cin_product_clear(&prod);
    free(product);
    return rc;
}

int cin_autossl_run(cin_store *st, const char *holder, int limit, cin_autossl_stats *stats)
{
    time_t now = cin_now(cin_store_services(st));
    cin_name_entry *due = NULL;
    size_t n = 0, i;
    int rc;

    if (stats)
        memset(stats, 0, sizeof(*stats));
    rc = cin_store_auto_due(st, now, limit, &due, &n);
    if (rc != CIN_OK)
        return rc;
    for (i = 0; i < n; i++) {
        cin_problem p = {0};
        int covered = cin_store_name_covered(st, due[i].account_id, due[i].name, now);
        if (covered != 0)
            continue; /* a wildcard certificate serves it already (or the store failed) */
        rc = order_one(st, &due[i], holder, stats, &p);
        if (rc == CIN_OK && stats)
            stats->ordered++;
        else if (rc != CIN_OK && rc != CIN_ECONFLICT && p.status >= 400 && p.status < 500) {
            /* short credits, a name the product refuses, no user: said once, retried later */
            if (refuse(st, &due[i], &p, now + AUTOSSL_RETRY_CREDITS) == CIN_OK && stats)
                stats->refused++;
        }
        cin_problem_clear(&p);
    }
    cin_name_entries_free(due, n);
    return CIN_OK;
}
