/*
 * cin_order.h - the order workflow: one transition table decides who may do
 * what in which status, and every change is one transaction with its audit
 * event.
 *
 * Status names and the actions are those of API.md.  The table drives both
 * the endpoints (cin_order_check) and the `actions` list each order shows to
 * its caller (cin_order_actions).
 */
#ifndef CIN_ORDER_H
#define CIN_ORDER_H

#include <jansson.h>

#include "cin_account.h"
#include "cin_problem.h"
#include "cin_store_order.h"

/* The statuses of API.md. */
int cin_order_status_valid(const char *status);

/* 1 when user may see the order (same account; basic: own orders only). */
int cin_order_visible(const cin_user *user, const cin_order *o);

/*
 * Is `action` allowed for user on o now?  CIN_OK, or CIN_EPERM with p set:
 * 404 when the user may not see the order, 403 when the role (or being the
 * requester) forbids it, 409 when the order's status does not allow it.
 */
int cin_order_check(const cin_user *user, const cin_order *o, const char *action, cin_problem *p);
/* The same rules without the status: may user ever take `action` on o
 * (visibility, role, requester)?  An idempotent replay is authorized so. */
int cin_order_may(const cin_user *user, const cin_order *o, const char *action, cin_problem *p);
/* The actions user may take on o now, as a JSON array of names. */
json_t *cin_order_actions(const cin_user *user, const cin_order *o);

/* The order as API.md's JSON object (actions for `user`; user may be NULL). */
json_t *cin_order_json(cin_store *st, const cin_user *user, const cin_order *o);
/* The same, or NULL with *rc set when the order's certificate cannot be read. */
json_t *cin_order_json_rc(cin_store *st, const cin_user *user, const cin_order *o, int *rc);
/* "R-000042" -> 42 (plain digits accepted too); 0 when malformed. */
int64_t cin_order_parse_id(const char *s);

/* Fields of a new order, as parsed from a request. */
typedef struct cin_order_request {
    const char *product;
    const char *common_name;
    const char **sans;
    size_t nsans;
    const char *key_source; /* NULL: server */
    const char *key_type;   /* NULL: ec-p256 */
    int validity_days;      /* 0: the product's maximum */
    int auto_renew;
    const char *csr;
    const char *via;      /* NULL; else the audit detail of its creation ("over ACME ...") */
    const char *account;  /* NULL: the actor's own; else a sub-account of it (an admin's) */
    const json_t *fields; /* custom fields {"name": value} (cin_groups.h), may be NULL */
} cin_order_request;

/* Each creates or changes an order in one transaction and fills *out with the
 * order as it now is (the new one for create/renew/reissue/sans). */
int cin_order_create(cin_store *st, const cin_actor *a, const cin_order_request *r, cin_order *out,
                     cin_problem *p);
int cin_order_approve(cin_store *st, const cin_actor *a, int64_t id, const char *comment,
                      cin_order *out, cin_problem *p);
int cin_order_reject(cin_store *st, const cin_actor *a, int64_t id, const char *reason,
                     cin_order *out, cin_problem *p);
int cin_order_signatory(cin_store *st, const cin_actor *a, int64_t id, int approve,
                        const char *reason, cin_order *out, cin_problem *p);
/* Pay: debit, ledger, order number, all at once.  idem_key (may be NULL) makes
 * a retry return the first reply: *replay then holds that reply's JSON. */
int cin_order_pay(cin_store *st, const cin_actor *a, int64_t id, const char *idem_key,
                  cin_order *out, char **replay, int *replay_status, cin_problem *p);
int cin_order_set_csr(cin_store *st, const cin_actor *a, int64_t id, const char *csr,
                      cin_order *out, cin_problem *p);
int cin_order_cancel(cin_store *st, const cin_actor *a, int64_t id, const char *note,
                     cin_order *out, cin_problem *p);
int cin_order_revoke(cin_store *st, const cin_actor *a, int64_t id, const char *reason,
                     cin_order *out, cin_problem *p);
int cin_order_retry(cin_store *st, const cin_actor *a, int64_t id, cin_order *out, cin_problem *p);
int cin_order_renew(cin_store *st, const cin_actor *a, int64_t id, cin_order *out, cin_problem *p);
/* The agent's automatic renewal of an issued auto_renew order (cin_agent.h):
 * CIN_ECONFLICT when it needs none now, CIN_ECREDITS (402) when the account
 * cannot pay, CIN_EPERM (403 domain_not_owned) when a name moved away. */
int cin_order_renew_auto(cin_store *st, const cin_actor *a, int64_t id, cin_order *out,
                         cin_problem *p);
/* When a reissue of parent must end: its certificate's not_after (0: none).
 * A replacement never buys extra validity; the built-in CA honours the cap. */
int cin_order_lineage_end(cin_store *st, const cin_order *parent, time_t *cap);

int cin_order_reissue(cin_store *st, const cin_actor *a, int64_t id, const char *csr,
                      const char *key_type, cin_order *out, cin_problem *p);
int cin_order_sans(cin_store *st, const cin_actor *a, int64_t id, const char **add, size_t nadd,
                   const char **rm, size_t nrm, cin_order *out, cin_problem *p);
/* Read an order the actor may see (404 otherwise). */
int cin_order_get_visible(cin_store *st, const cin_actor *a, int64_t id, cin_order *out,
                          cin_problem *p);
/* The PEM chain / the private key (audited) of an order. */
int cin_order_chain(cin_store *st, const cin_actor *a, int64_t id, char **pem, cin_problem *p);
int cin_order_key(cin_store *st, const cin_actor *a, int64_t id, char **pem, cin_problem *p);
/* The same, audited as `audit` (e.g. "order.pkcs12_download"). */
int cin_order_key_for(cin_store *st, const cin_actor *a, int64_t id, const char *audit, char **pem,
                      cin_problem *p);
/* A PKCS#12 file (DER) of the order's key, certificate and chain, encrypted with
 * password (8-1024 characters): an administrator's, audited as
 * "order.pkcs12_download" (pkcs12.c). */
int cin_order_pkcs12(cin_store *st, const cin_actor *a, int64_t id, const char *password,
                     unsigned char **der, size_t *len, cin_problem *p);

/* The names in[0..n) (in[0] the common name) as an order for product would
 * carry them: normalised, de-duplicated, within the product's rules.  *out
 * (n entries, NULL-terminated) is freed with cin_strv_free.  400 otherwise. */
int cin_order_names_for_product(cin_store *st, const char *product, const char **in, size_t n,
                                char ***out, size_t *nout, cin_problem *p);
/* 403 domain_not_owned unless every name belongs to account_id now; call it
 * inside the transaction that writes. */
int cin_order_names_owned(cin_store *st, int64_t account_id, char **v, size_t n, cin_problem *p);

/* ---- issue 15: a renewal gives what was paid for (renewal.c) ---- */
/* The longest certificate the built-in CA issues, in days: a renewal's carried-over
 * validity stops there. */
#define CIN_CA_LOCAL_MAX_DAYS 397
/* The end of a renewal's certificate issued at now: validity_days counted from the
 * later of now and the renewed certificate's end (parent_end; 0: none), at most
 * max_days from now. *capped (may be NULL) is 1 when some carried-over time is lost. */
time_t cin_renewal_not_after(time_t now, time_t parent_end, int validity_days, int max_days,
                             int *capped);
/* The end of the certificate a renewal order renews (*end = 0 when none). */
int cin_renewal_parent_end(cin_store *st, const cin_order *o, time_t *end);
/* Adds "renewal" to an issued or expired order's JSON: the expiry a renewal placed now
 * would give, the days carried over, whether the CA's maximum cut it short. */
int cin_renewal_json(cin_store *st, const cin_order *o, json_t *j);

/* RFC 5280 reason names accepted by revoke. */
int cin_revocation_reason_valid(const char *reason);

#endif
