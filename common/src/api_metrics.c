/*
 * api_metrics.c - GET <mount>metrics in the Prometheus text format (0.0.4).
 *
 * Two kinds of series: the host's (handshakes, the certificate cache, the
 * index, issuance latency, CA errors, ACME server requests) from the mapped
 * counters of cin_metrics.h, per server process and summed for the host; and
 * the store's (orders by status, orders stuck at their CA, certificates by
 * days to expiry).  An address in the allow list sees the store's series for
 * every account together; an account administrator (token or session) sees
 * the host's series and the store's for their own account only, labelled
 * with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_metrics.h"
#include "cin_store_metrics.h"
#include "cin_util.h"
#include "http_int.h"

/* Label values escaped as the format wants (backslash, quote, newline). */
static void label(FILE *f, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One host counter with one label, and the same per process. */
typedef struct counter_def {
    const char *name, *help, *lname;
    struct {
        const char *lvalue;
        enum cin_metric m;
    } v[2];
    double scale; /* the stored value times this (microseconds -> seconds) */
} counter_def;

static const counter_def counters[] = {
    {"certinext_tls_handshakes_total",
     "TLS handshakes by where the certificate came from (the store, or the server's own)",
     "source",
     {{"store", CIN_M_HS_STORE}, {"fallback", CIN_M_HS_FALLBACK}},
     1},
    {"certinext_tls_cache_total",
     "certificate look-ups in the parsed-certificate cache, hit or missed (a miss reads, "
     "decrypts and parses)",
     "result",
     {{"hit", CIN_M_CACHE_HIT}, {"miss", CIN_M_CACHE_MISS}},
     1},
    {"certinext_tls_shared_cache_total",
     "cache misses answered by the host's shared cache of DER chains and sealed keys (hit), "
     "or read from the store (miss)",
     "result",
     {{"hit", CIN_M_SHARED_HIT}, {"miss", CIN_M_SHARED_MISS}},
     1},
    {"certinext_tls_cache_load_seconds_total",
     "time spent loading certificates on cache misses",
     NULL,
     {{NULL, CIN_M_LOAD_USEC}, {NULL, CIN_M_COUNT}},
     1e-6},
    {"certinext_index_refreshes_total",
     "name index refreshes after the store's generation moved",
     NULL,
     {{NULL, CIN_M_REFRESH_COUNT}, {NULL, CIN_M_COUNT}},
     1},
    {"certinext_index_refresh_seconds_total",
     "time spent refreshing the name index",
     NULL,
     {{NULL, CIN_M_REFRESH_USEC}, {NULL, CIN_M_COUNT}},
     1e-6},
    {"certinext_agent_ca_errors_total",
     "CA attempts of the agents on this host that failed, retried later (transient) or "
     "failing the order (permanent)",
     "kind",
     {{"transient", CIN_M_AGENT_TRANSIENT}, {"permanent", CIN_M_AGENT_PERMANENT}},
     1},
    /* issue 13's ACME server counts every request it answers into this one */
    {"certinext_acme_server_requests_total",
     "requests answered by the ACME server front door",
     NULL,
     {{NULL, CIN_M_ACME_SERVER_REQUESTS}, {NULL, CIN_M_COUNT}},
     1},
};

static void value(FILE *f, uint64_t v, double scale)
{
    if (scale == 1)
        fprintf(f, "%llu\n", (unsigned long long)v);
    else
        fprintf(f, "%.6f\n", (double)v * scale);
}

static void host_series(FILE *f, const cin_metrics_view *mv, uint64_t gen)
{
    size_t i, j, k;
    char pname[128];

    for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        const counter_def *d = &counters[i];
        head(f, d->name, "counter", d->help);
        for (k = 0; k < 2 && d->v[k].m < CIN_M_COUNT; k++) {
            if (d->lname)
                fprintf(f, "%s{%s=\"%s\"} ", d->name, d->lname, d->v[k].lvalue);
            else
                fprintf(f, "%s ", d->name);
            value(f, mv->host[d->v[k].m], d->scale);
        }
        /* certinext_X_total -> certinext_process_X_total */
        snprintf(pname, sizeof(pname), "certinext_process_%s", d->name + strlen("certinext_"));
        head(f, pname, "counter", "the same, for each live server process");
        for (j = 0; j < mv->nprocs; j++)
            for (k = 0; k < 2 && d->v[k].m < CIN_M_COUNT; k++) {
                fprintf(f, "%s{pid=\"%d\"", pname, mv->procs[j].pid);
                if (d->lname)
                    fprintf(f, ",%s=\"%s\"", d->lname, d->v[k].lvalue);
                fputs("} ", f);
                value(f, mv->procs[j].v[d->v[k].m], d->scale);
            }
    }
    head(f, "certinext_issuance_seconds", "histogram",
         "time from an order's payment to its certificate, for orders issued by agents on "
         "this host");
    {
        uint64_t cum = 0;
        for (k = 0; k < CIN_METRICS_NBUCKETS; k++) {
            cum += mv->host[CIN_M_ISSUED_LE + k];
            if (k < CIN_METRICS_NBUCKETS - 1)
                fprintf(f, "certinext_issuance_seconds_bucket{le=\"%g\"} %llu\n",
                        cin_metrics_buckets[k], (unsigned long long)cum);
            else
                fprintf(f, "certinext_issuance_seconds_bucket{le=\"+Inf\"} %llu\n",
                        (unsigned long long)cum);
        }
        fprintf(f, "certinext_issuance_seconds_sum %.3f\n",
                (double)mv->host[CIN_M_ISSUED_MSEC] / 1000);
        fprintf(f, "certinext_issuance_seconds_count %llu\n",
                (unsigned long long)mv->host[CIN_M_ISSUED_COUNT]);
    }
    head(f, "certinext_index_generation", "gauge",
         "the generation of the certificates this host serves (the store's, or its mirror's)");
    fprintf(f, "certinext_index_generation %llu\n", (unsigned long long)gen);
    head(f, "certinext_process_index_lag_generations", "gauge",
         "how many generations each server process's name index is behind the host's");
    for (j = 0; j < mv->nprocs; j++) {
        uint64_t ig = mv->procs[j].v[CIN_M_INDEX_GEN];
        if (!ig)
            continue; /* a process that serves no TLS (an agent, the CLI) */
        fprintf(f, "certinext_process_index_lag_generations{pid=\"%d\"} %llu\n", mv->procs[j].pid,
                (unsigned long long)(gen > ig ? gen - ig : 0));
    }
}

/* The store's series; account NULL: every account, unlabelled. */
static int store_series(FILE *f, cin_store *st, int64_t account_id, const char *account, time_t now)
{
    static const int days[] = {0, 7, 30, 90};
    int64_t exp[sizeof(days) / sizeof(days[0]) + 1];
    cin_metric_row *r = NULL;
    size_t n = 0, i;
    int rc;

    rc = cin_store_metrics_orders(st, account_id, &r, &n);
    if (rc != CIN_OK)
        return rc;
    head(f, "certinext_orders", "gauge", "orders by status");
    for (i = 0; i < n; i++) {
        fputs("certinext_orders{", f);
        if (account) {
            fputs("account=\"", f);
            label(f, account);
            fputs("\",", f);
        }
        fputs("status=\"", f);
        label(f, r[i].a);
        fprintf(f, "\"} %lld\n", (long long)r[i].n);
    }
    cin_metric_rows_free(r, n);
    rc = cin_store_metrics_agent_errors(st, account_id, &r, &n);
    if (rc != CIN_OK)
        return rc;
    head(f, "certinext_agent_errors", "gauge",
         "orders whose last attempt at their CA failed: still retried, or failed for good");
    for (i = 0; i < n; i++) {
        fputs("certinext_agent_errors{", f);
        if (account) {
            fputs("account=\"", f);
            label(f, account);
            fputs("\",", f);
        }
        fputs("ca=\"", f);
        label(f, r[i].a);
        fprintf(f, "\",kind=\"%s\"} %lld\n", r[i].b ? r[i].b : "", (long long)r[i].n);
    }
    cin_metric_rows_free(r, n);
    rc = cin_store_metrics_expiry(st, account_id, now, days, sizeof(days) / sizeof(days[0]), exp);
    if (rc != CIN_OK)
        return rc;
    head(f, "certinext_certificates_expiring", "gauge",
         "active certificates that expire within the given number of days (0: expired; +Inf: "
         "all)");
    for (i = 0; i <= sizeof(days) / sizeof(days[0]); i++) {
        fputs("certinext_certificates_expiring{", f);
        if (account) {
            fputs("account=\"", f);
            label(f, account);
            fputs("\",", f);
        }
        if (i < sizeof(days) / sizeof(days[0]))
            fprintf(f, "within_days=\"%d\"} %lld\n", days[i], (long long)exp[i]);
        else
            fprintf(f, "within_days=\"+Inf\"} %lld\n", (long long)exp[i]);
    }
    rc = cin_store_metrics_backlog(st, account_id, &r, &n);
    if (rc != CIN_OK)
        return rc;
    head(f, "certinext_notification_backlog", "gauge",
         "e-mails and webhook deliveries queued, not yet delivered (retried)");
    {
        static const char *const kinds[] = {"mail", "webhook"};
        size_t k;
        for (k = 0; k < 2; k++) {
            int64_t v = 0;
            for (i = 0; i < n; i++)
                if (r[i].a && !strcmp(r[i].a, kinds[k]))
                    v = r[i].n;
            fputs("certinext_notification_backlog{", f);
            if (account) {
                fputs("account=\"", f);
                label(f, account);
                fputs("\",", f);
            }
            fprintf(f, "kind=\"%s\"} %lld\n", kinds[k], (long long)v);
        }
    }
    cin_metric_rows_free(r, n);
    return CIN_OK;
}

void api_metrics(http_ctx *c, int64_t account_id, const char *account)
{
    cin_metrics_view mv;
    cin_store *serving = cin_core_serving(c->core);
    uint64_t gen = 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = CIN_OK;

    if (!f) {
        http_fail(c, CIN_ENOMEM);
        return;
    }
    if (serving)
        cin_store_generation(serving, &gen);
    if (cin_metrics_read(&mv) != CIN_OK)
        memset(&mv, 0, sizeof(mv));
    host_series(f, &mv, gen);
    cin_metrics_view_clear(&mv);
    if (c->st)
        rc = store_series(f, c->st, account_id, account, cin_now(cin_core_services(c->core)));
    head(f, "certinext_store_up", "gauge", "1 when the store answered this scrape");
    fprintf(f, "certinext_store_up %d\n", c->st && rc == CIN_OK ? 1 : 0);
    fclose(f);
    http_raw(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
}
