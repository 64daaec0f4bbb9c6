/*
 * cin_report.h - the orders report, the certificates report and the sales
 * summary (issue 16): rows within what the caller may see, filtered, with
 * totals per account; as JSON, or as CSV whose cells cannot start a formula.
 */
#ifndef CIN_REPORT_H
#define CIN_REPORT_H

#include <jansson.h>

#include "cin_store.h"

typedef struct cin_report_filter {
    const char *subtree;  /* accounts whose path starts with this (required) */
    int64_t account_id;   /* 0: every account of the subtree */
    int64_t requester_id; /* 0: every requester (a basic user: their own) */
    const char *product;  /* NULL: all */
    const char *status;   /* NULL: all */
    const char *from;     /* created at or after (RFC 3339 or YYYY-MM-DD), NULL */
    const char *to;       /* created before, NULL */
    const char *group;    /* requested by a member of this group of the order's account */
    const char *field;    /* with field_value: orders whose custom field has that value */
    const char *field_value;
} cin_report_filter;

/* {"orders": [...], "totals": {"orders", "credits_spent", "by_account": [...]}} */
int cin_report_orders(cin_store *st, const cin_report_filter *f, json_t **out);
/* {"certificates": [...], "totals": {"certificates", "by_account": [...]}} */
int cin_report_certificates(cin_store *st, const cin_report_filter *f, json_t **out);

/* The rows (objects) as CSV with these columns, then one row per entry of
 * totals (objects too, may be NULL).  A cell starting with = + - @, a tab or
 * a carriage return gets a leading ' so that a spreadsheet never runs it.
 * malloc'd. */
char *cin_report_csv(const json_t *rows, const json_t *totals, const char *const *columns);
/* One cell as CSV: quoted when needed, neutralised (malloc'd). */
char *cin_csv_cell(const char *text);

#endif
