/*
 * cin_store_order.h - orders, audit events, certificates, private keys,
 * leases and challenge answers in the control store.
 *
 * Rows only: the rules that decide which change is allowed live in the order
 * workflow (cin_order.h).  Every function that writes expects the caller to
 * hold a transaction (cin_store_begin) unless it says otherwise.
 */
#ifndef CIN_STORE_ORDER_H
#define CIN_STORE_ORDER_H

#include "cin_store.h"

typedef struct cin_order {
    int64_t id;           /* shown as R-000042 */
    int64_t order_number; /* 0 until paid; shown as CIN-000017 */
    int64_t account_id;
    char *account;
    int64_t requester_id;
    char *requester;
    char *status;
    char *product;
    char *common_name;
    char **sans;
    size_t nsans;
    char *key_source; /* server | csr */
    char *key_type;
    int validity_days;
    int auto_renew;
    int64_t price;
    char *approved_by;
    char *approved_at;
    char *rejection_reason;
    char *signatory_by;
    char *signatory_at;
    int64_t parent_id; /* 0: none */
    char *kind;        /* new | renewal | reissue */
    char *csr_pem;
    int64_t key_id;  /* 0: none */
    int64_t cert_id; /* 0: none */
    char *error_json;
    int attempts;
    time_t next_attempt_at;
    int admin_approved;    /* approved or placed by an administrator */
    int64_t superseded_by; /* 0: none; else the order whose certificate replaced this one's */
    time_t not_after_cap;  /* 0: none; a reissue's certificate ends no later than this */
    int ca_cleanup;        /* cancelled while at the CA: the agent revokes what it issued */
    char *created_at;
    char *updated_at;
    char *account_path;     /* the account's place in the hierarchy (read only) */
    int64_t approver_group; /* 0, or the group that approves this product's orders (read only) */
    char *via;              /* NULL, or "acme": the order came from the ACME server (issue 13) */
    char *via_name;         /* with via: the name of the ACME credential */
} cin_order;

void cin_order_clear(cin_order *o);
/* Insert o (id, created_at, updated_at are set on success). */
int cin_store_order_insert(cin_store *st, cin_order *o);
/* Write every mutable field of o back (status, order_number, approvals,
 * csr, key, cert, error, attempts, price...). updated_at is set. */
int cin_store_order_update(cin_store *st, cin_order *o);
int cin_store_order_get(cin_store *st, int64_t id, cin_order *out);

typedef struct cin_order_filter {
    int64_t account_id;   /* 0: every account */
    const char *subtree;  /* NULL; else only accounts whose path starts with it */
    int64_t requester_id; /* 0: every requester */
    const char *status;   /* NULL: every status */
    const char *q;        /* NULL: no name filter (substring of a name) */
    int64_t before_id;    /* 0: from the newest; else ids below it */
    int limit;            /* <= 0: 50 */
    const char *sort;     /* issue 15: NULL: newest first; else an SQL ordering from
                           * cin_sort_sql (then before_id is unused and offset pages) */
    int64_t offset;
} cin_order_filter;
int cin_store_order_list(cin_store *st, const cin_order_filter *f, cin_order **out, size_t *n);
void cin_order_list_free(cin_order *o, size_t n);
/* Next order number (the sequence is in the store). */
int cin_store_order_number_next(cin_store *st, int64_t *out);
/* Ids of issued auto_renew orders whose certificate has reached its renewal
 * point: not_after - now <= fraction * lifetime, and next_attempt_at passed. */
int cin_store_order_renewal_due(cin_store *st, time_t now, double fraction, int64_t **ids,
                                size_t *n);
/* 1 when the order has a renewal child that is alive (not rejected/cancelled/failed). */
int cin_store_order_has_renewal(cin_store *st, int64_t parent_id);
/* Ids of `issued` orders whose certificate's not_after is before now. */
int cin_store_order_expired(cin_store *st, time_t now, int64_t **ids, size_t *n);
/* Ids of orders in status whose next_attempt_at has come, oldest first. */
int cin_store_order_due(cin_store *st, const char *status, time_t now, int64_t **ids, size_t *n);

/* Ids of orders cancelled while at their CA (ca_cleanup) whose
 * next_attempt_at has come: the agent finds out what the CA issued. */
int cin_store_order_cleanup_due(cin_store *st, time_t now, int64_t **ids, size_t *n);

/* ---- audit events ------------------------------------------------------ */

typedef struct cin_event {
    int64_t id;
    int64_t account_id; /* 0: store-wide */
    int64_t order_id;   /* 0: none */
    char *actor;
    char *action;
    char *at;
    char *peer;
    char *detail;
} cin_event;

int cin_store_event_add(cin_store *st, int64_t account_id, int64_t order_id, const char *actor,
                        const char *action, const char *peer, const char *detail);
/* order_id > 0: that order's trail (oldest first); else the account's log
 * (newest first, ids below before_id when > 0). */
int cin_store_event_list(cin_store *st, int64_t account_id, int64_t order_id, int64_t before_id,
                         int limit, cin_event **out, size_t *n);
/* The account's log filtered (newest first): actor and action exact, since /
 * until days (YYYY-MM-DD, inclusive, UTC), ids below before_id when > 0. */
typedef struct {
    int64_t account_id, before_id;
    int limit;
    const char *actor, *action, *since, *until;
} cin_event_filter;
int cin_store_event_search(cin_store *st, const cin_event_filter *f, cin_event **out, size_t *n);
void cin_event_list_free(cin_event *e, size_t n);

/* ---- idempotency ------------------------------------------------------- */

/* Remember that (scope, key) produced response body for order_id. */
int cin_store_idem_put(cin_store *st, const char *scope, const char *key, int status,
                       const char *body);
/* CIN_ENOTFOUND when unknown; else *status and *body (malloc'd). */
int cin_store_idem_get(cin_store *st, const char *scope, const char *key, int *status, char **body);

/* ---- private keys -------------------------------------------------------- */

/* Seal pem under the store KEK and insert it; *id set. */
int cin_store_key_put(cin_store *st, const char *key_type, const char *pem, int64_t *id);
/* Open key id; *pem is a secret (free with cin_free_secret(*pem, strlen)).
 * CIN_ECRYPTO when the stored blob was tampered with. */
int cin_store_key_get(cin_store *st, int64_t id, char **pem);

/* ---- certificates -------------------------------------------------------- */

typedef struct cin_cert {
    int64_t id;
    int64_t order_id;
    int64_t account_id;
    char *serial;
    char **names;
    size_t nnames;
    char *not_before;
    char *not_after;
    char *sha256;
    char *issuer;
    char *chain_pem;
    int64_t key_id;
    char *status; /* active | revoked | superseded */
    char *revocation_reason;
    int ca_notified;
    /* the lifetime that renewal timing follows: the certificate's own, or for a
     * reissue the one it replaced (a reissue never extends a lineage) */
    time_t lifetime_start, lifetime_end;
} cin_cert;

void cin_cert_clear(cin_cert *c);
/* Insert an active certificate, index its names, bump the generation. */
int cin_store_cert_insert(cin_store *st, cin_cert *c);
int cin_store_cert_get(cin_store *st, int64_t id, cin_cert *out);
/* Set status (revoked/replaced), reason; bumps the generation. */
int cin_store_cert_set_status(cin_store *st, int64_t id, const char *status, const char *reason);
/* The CA was told (done 1) or refused for good (done 2). */
int cin_store_cert_mark_notified(cin_store *st, int64_t id, int done);
/* Try telling the CA again at `when`. */
int cin_store_cert_revoke_later(cin_store *st, int64_t id, time_t when);
/* Revoked certificates the CA has not been told about yet, due at now. */
int cin_store_cert_unnotified(cin_store *st, time_t now, int64_t **ids, size_t *n);
/* Certificates of an account (0: all) that are active, optionally expiring
 * before a time (0: any). */
/* issue 15: server-side sorting. key is "field" or "-field" (descending); the
 * field must be one of cols (NULL-terminated pairs: name, SQL expression). The
 * ordering is written to out (with the id as the tie-break); -1: not allowed. */
int cin_sort_sql(const char *key, const char *const (*cols)[2], const char *tiebreak, char *out,
                 size_t outlen);
extern const char *const cin_order_sort_cols[][2];
extern const char *const cin_cert_sort_cols[][2];
/* The active certificates as cin_store_cert_list, in order (cin_sort_sql), a page of
 * limit rows after offset. */
int cin_store_cert_page(cin_store *st, int64_t account_id, int64_t requester_id, time_t before,
                        const char *order, int limit, int64_t offset, cin_cert **out, size_t *n);
int cin_store_cert_list(cin_store *st, int64_t account_id, int64_t requester_id, time_t before,
                        cin_cert **out, size_t *n);
void cin_cert_list_free(cin_cert *c, size_t n);

/* What a handshake's cache miss needs of a certificate, in one read: its
 * chain, whether it is active, and its key (a secret: opened here, wiped by
 * cin_cert_material_clear).  A key that fails its integrity check leaves the
 * certificate inactive (never served). */
typedef struct cin_cert_material {
    char *chain_pem;
    char *key_pem;
    char key_type[16];
    int64_t key_id;
    int active;            /* active, and its key passed its integrity check */
    int key_failed;        /* active, but its key failed its integrity check */
    unsigned char *sealed; /* the key as the store holds it (sealed) */
    size_t sealed_len;
} cin_cert_material;
int cin_store_cert_material(cin_store *st, int64_t cert_id, cin_cert_material *out);
void cin_cert_material_clear(cin_cert_material *m);

/*
 * SNI index.  For every name carried by a certificate whose row changed
 * after generation `since` (0: every name), one entry per account holding an
 * active certificate for it: the newest such certificate.  A name with no
 * active certificate any more comes back once with cert_id 0.  Entries are
 * sorted by name.  Who may be served a name is decided per handshake from
 * the domain assignments (cin_store_domains_since): a certificate is served
 * for a name only while its account owns the name.
 */
typedef struct cin_name_entry {
    char *name;
    int64_t cert_id;    /* 0: the name no longer has an active certificate */
    int64_t account_id; /* the certificate's account */
} cin_name_entry;
int cin_store_names_since(cin_store *st, uint64_t since, cin_name_entry **out, size_t *n,
                          uint64_t *generation);
/* Domain assignments changed after `since` (0: all): name -> account id, 0
 * when the name is no longer assigned.  Uses cin_name_entry with cert_id 0. */
int cin_store_domains_since(cin_store *st, uint64_t since, cin_name_entry **out, size_t *n);
void cin_name_entries_free(cin_name_entry *e, size_t n);

/* ---- lineage: renewals and reissues (store_lineage.c) ---------------------- */

/* The open renewal or reissue of parent_id (not yet issued, rejected or
 * cancelled): *child its id, or 0 when there is none. */
int cin_store_order_open_child(cin_store *st, int64_t parent_id, int64_t *child);
/* parent_id's certificate was replaced by child_id's: the order becomes
 * `superseded` (superseded_by set), its certificate stops being served (the
 * generation moves) and, when revoke_at > 0, is revoked at its CA then with
 * reason `superseded`. */
int cin_store_order_supersede(cin_store *st, int64_t parent_id, int64_t child_id, time_t revoke_at);

/* ---- leases ---------------------------------------------------------------- */

/* Take or renew the lease `name` for holder for ttl seconds: CIN_OK when held
 * by holder now, CIN_ECONFLICT when another holder's lease has not expired.
 * Runs its own transaction. */
int cin_store_lease_acquire(cin_store *st, const char *name, const char *holder, int ttl);
int cin_store_lease_release(cin_store *st, const char *name, const char *holder);
/* The current holder of a lease (*holder malloc'd); CIN_ENOTFOUND when free. */
int cin_store_lease_holder(cin_store *st, const char *name, char **holder, time_t *expires_at);

/* ---- durable ACME steps ---------------------------------------------------- */

/* The JSON state of an order at an ACME CA (*json malloc'd); CIN_ENOTFOUND
 * when the order has none.  put with json NULL forgets it. */
int cin_store_acme_state_get(cin_store *st, int64_t order_id, char **ca, char **json);
int cin_store_acme_state_put(cin_store *st, int64_t order_id, const char *ca, const char *json);

/* ---- challenge answers ----------------------------------------------------- */

/* kind: "acme" (token -> key authorization) or "pki" (file -> content). */
int cin_store_challenge_put(cin_store *st, const char *kind, const char *token, const char *content,
                            int64_t order_id, time_t expires_at);
int cin_store_challenge_get(cin_store *st, const char *kind, const char *token, char **content);
int cin_store_challenge_delete_order(cin_store *st, int64_t order_id);
/* The contents of an order's answers of one kind (issue 14: the DNS records
 * to remove); *out a malloc'd array of malloc'd strings. */
int cin_store_challenge_list_order(cin_store *st, const char *kind, int64_t order_id, char ***out,
                                   size_t *n);

#endif
