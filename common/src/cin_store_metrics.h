/*
 * cin_store_metrics.h - what GET <mount>metrics reads from the store: orders
 * by status, orders the agent could not get through their CA, certificates by
 * days to expiry.  These are facts about the store, the same on every host
 * (the host's own counters are in the mapped file of cin_metrics.h).
 */
#ifndef CIN_STORE_METRICS_H
#define CIN_STORE_METRICS_H

#include "cin_store.h"

typedef struct cin_metric_row {
    char *a, *b; /* the labels' values (b may be NULL) */
    int64_t n;
} cin_metric_row;
void cin_metric_rows_free(cin_metric_row *r, size_t n);

/* account_id 0: every account. */
/* (status, -, count) for every status an order of the account(s) has. */
/* Queued e-mails and webhook deliveries (the outbox) by kind ("mail", "webhook"). */
int cin_store_metrics_backlog(cin_store *st, int64_t account_id, cin_metric_row **out, size_t *n);
int cin_store_metrics_orders(cin_store *st, int64_t account_id, cin_metric_row **out, size_t *n);
/* (CA name, "retrying"|"failed", count): orders whose last CA attempt
 * failed, still retried (processing) or given up (failed). */
int cin_store_metrics_agent_errors(cin_store *st, int64_t account_id, cin_metric_row **out,
                                   size_t *n);
/* Active certificates expiring within each of days[0..ndays) days of now
 * (cumulative; a negative bound counts the expired ones), in out[0..ndays),
 * and all of them in out[ndays]. */
int cin_store_metrics_expiry(cin_store *st, int64_t account_id, time_t now, const int *days,
                             size_t ndays, int64_t *out);
/* When the order was last paid for (its last debit); CIN_ENOTFOUND. */
int cin_store_order_paid_at(cin_store *st, int64_t order_id, time_t *at);

#endif
