/*
 * cin_autossl.h - AutoSSL: a provider's policy that every domain assigned to
 * an account gets a certificate without anyone asking.
 *
 * An account with a policy (a product, and whether www.NAME comes along)
 * has, for each of its domains that no active certificate of the account
 * covers, one order placed, approved and paid by the policy in one
 * transaction (audited as "automatic", charged like any order), which the
 * agent then issues; such orders are of kind "automatic" and renew
 * themselves (auto_renew).  When the credits are short nothing is ordered:
 * the refusal is an audit event ("autossl.refused") and the domain is tried
 * again a few minutes later.  The agent runs the pass (cin_autossl_run) a few
 * seconds after a domain is assigned.
 */
#ifndef CIN_AUTOSSL_H
#define CIN_AUTOSSL_H

#include "cin_account.h"
#include "cin_store_metrics.h"
#include "cin_store_order.h"

/* Set (product non-NULL) or clear (NULL) the policy of account, checked and
 * audited in one transaction (the provider only). */
int cin_autossl_policy_set(cin_store *st, const cin_actor *a, const char *account,
                           const char *product, int include_www, cin_problem *p);

typedef struct cin_autossl_stats {
    int ordered; /* orders placed and paid */
    int refused; /* short credits or another refusal, recorded with its alert */
    int retried; /* orders that failed at their CA placed with it again (no new charge) */
    int held;    /* ... that failed too often: left failed, with an alert */
} cin_autossl_stats;

/* Order for every domain that needs it now (at most `limit`, 0: 1000). */
int cin_autossl_run(cin_store *st, const char *holder, int limit, cin_autossl_stats *stats);

/* The user an automatic or imported order is placed for: the account's first
 * enabled administrator, else its first user (409 when it has none).  *out
 * is freed with cin_user_clear. */
int cin_account_holder(cin_store *st, int64_t account_id, cin_user *out, cin_problem *p);

/* ---- rows (store_auto.c) ---------------------------------------------------- */

/* *product NULL when the account has no policy. */
int cin_store_auto_policy_get(cin_store *st, int64_t account_id, char **product, int *www);
int cin_store_auto_policy_set(cin_store *st, int64_t account_id, const char *product, int www);
/* Domains (name, account_id) of accounts with a policy that have no active
 * certificate of their account under that exact name, no open AutoSSL order
 * and no retry time still ahead of now. */
int cin_store_auto_due(cin_store *st, time_t now, int limit, cin_name_entry **out, size_t *n);
/* 1 when (name, account) has an open AutoSSL order or a retry time ahead of
 * now, 0 when not, or an error status. */
int cin_store_auto_open(cin_store *st, const char *name, int64_t account_id, time_t now);
/* 1 when an active certificate of account_id covers name (exactly or by a
 * wildcard one label up), 0 when none, or an error status. */
int cin_store_name_covered(cin_store *st, int64_t account_id, const char *name, time_t now);
/* Remember the AutoSSL order (0: none) for (name, account), when to look
 * again, and the alert (NULL: none). */
/* The AutoSSL order of (name, account) when it failed at its CA: its id, how
 * often AutoSSL retried it ("autossl.retry" events) and whether the row
 * carries an alert; CIN_ENOTFOUND when the row's order did not fail. */
int cin_store_auto_failed(cin_store *st, const char *name, int64_t account_id, int64_t *order_id,
                          int *retries, int *alerted);
int cin_store_auto_record(cin_store *st, const char *name, int64_t account_id, int64_t order_id,
                          time_t next_at, const char *alert);
/* The account's domains AutoSSL could not order for, and why: (name, alert,
 * when it looks again), at most 100. */
int cin_store_auto_alerts(cin_store *st, int64_t account_id, cin_metric_row **out, size_t *n);
/* The order holding account_id's active certificate with this SHA-256 (for
 * import: the same certificate twice is one order); CIN_ENOTFOUND. */
int cin_store_cert_by_sha256(cin_store *st, int64_t account_id, const char *sha256,
                             int64_t *order_id);

#endif
