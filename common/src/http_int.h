/* http_int.h - what the API handler files share; not a public header. */
#ifndef CIN_HTTP_INT_H
#define CIN_HTTP_INT_H

#include <jansson.h>

#include "cin_http.h"
#include "cin_order.h"
#include "cin_store_order.h"

typedef struct http_ctx {
    cin_core *core;
    cin_store *st;
    const cin_request *req;
    cin_response *resp;
    cin_user user; /* the caller, when authed */
    int authed;
    int via_cookie;
    json_t *body;       /* the request body, a JSON object ({} when empty) */
    const char *seg[8]; /* path segments after /api/v1/ */
    size_t nseg;
    cin_actor actor;
} http_ctx;

/* Responses.  http_json steals j. */
void http_json(http_ctx *c, int status, json_t *j);
void http_problem(http_ctx *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 400 bad_request naming the request field at fault. */
void http_problem_field(http_ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reply with p (cleared afterwards); an unset p is a 500. */
void http_problem_from(http_ctx *c, cin_problem *p);
/* Reply with the problem the error model maps rc to (cin_problem_from_status). */
void http_fail(http_ctx *c, int rc);
void http_header(cin_response *r, const char *name, const char *value);
void http_raw(http_ctx *c, int status, const char *type, char *body, size_t len);
void http_no_content(http_ctx *c);
/* Lists as CSV (api_csv.c): ?format=csv asked; rows (taken) as CSV with these
 * columns (dotted paths into each object), formula cells neutralised. */
int http_want_csv(const http_ctx *c);
void http_csv(http_ctx *c, json_t *rows, const char *const *cols, const char *filename);
char *cin_csv_from_json(json_t *rows, const char *const *cols, size_t *len);

/* Request pieces. */
const char *http_req_header(const http_ctx *c, const char *name);
/* Query parameter, URL-decoded into buf; NULL when absent. */
const char *http_query(const http_ctx *c, const char *name, char *buf, size_t len);
/* Body fields: 0 on success (absent optional fields leave *out alone), else
 * a 400 has been answered. */
int http_body_str(http_ctx *c, const char *field, int required, const char **out);
int http_body_int(http_ctx *c, const char *field, int64_t min, int64_t max, int64_t *out);
int http_body_bool(http_ctx *c, const char *field, int *out);
/* String array field: *out malloc'd array of borrowed strings. */
int http_body_strv(http_ctx *c, const char *field, size_t max, const char ***out, size_t *n);
/* limit and cursor query parameters (cursor is the id to continue below). */
int http_paging(http_ctx *c, int *limit, int64_t *cursor);
int http_is_admin(const http_ctx *c);
/* Reply with the order (and its actions for the caller). */
void http_order(http_ctx *c, int status, const cin_order *o);

/* The embedded web page (ui.c). */
void cin_ui_serve(const cin_request *req, cin_response *resp);

/* Handlers (api_orders.c, api_account.c). */
void api_orders(http_ctx *c);
/* GET <mount>metrics (api_metrics.c): account_id 0 for the provider's view. */
void api_metrics(http_ctx *c, int64_t account_id, const char *account);
void api_order_pkcs12(http_ctx *c, int64_t id);
void api_webhooks(http_ctx *c);
void api_notifications(http_ctx *c);
void api_account(http_ctx *c);
void api_acme(http_ctx *c); /* api_acme.c: ACME credentials (issue 13) */
void api_accounts(http_ctx *c);
void api_totp(http_ctx *c);
void api_client_certs(http_ctx *c);
void api_reports(http_ctx *c);
void api_groups(http_ctx *c);
void api_fields(http_ctx *c);
/* The account a list is for: ?account=NAME (the caller's own or, for an
 * administrator, one below it) or the caller's.  -1: a 404 was answered. */
int http_account_scope(http_ctx *c, int64_t *account_id);
void api_domains(http_ctx *c);  /* issue 14 */
void api_distrust(http_ctx *c); /* issue 14 (api_domains.c) */

#endif
