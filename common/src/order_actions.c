/*
 * order_actions.c - every change to an order: validated first, then one
 * transaction holding the change, its ledger movement and its audit event.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_names.h"
#include "cin_order.h"
#include "cin_util.h"
#include "cin_x509.h"

#define REASON_MAX 1024

static const char *actor_name(const cin_actor *a)
{
    return a && a->user ? a->user->name : "system";
}

static const char *actor_peer(const cin_actor *a)
{
    return a ? a->peer : NULL;
}

static int busy(cin_problem *p, int rc)
{
    if (rc == CIN_EBUSY)
        cin_problem_set(p, 503, "store_busy", "the store is busy; try again in a moment");
    else
        cin_problem_set(p, 503, "store_busy", "the store could not complete the change (%s)",
                        cin_strstatus(rc));
    return rc;
}

static int has_text(const char *s)
{
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s))
            return 1;
    return 0;
}

/* Begin a transaction, load the order and check the action on it. */
static int begin_action(cin_store *st, const cin_actor *a, int64_t id, const char *action,
                        cin_order *o, cin_problem *p)
{
    int rc;

    memset(o, 0, sizeof(*o));
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return busy(p, rc);
    rc = cin_store_order_get(st, id, o);
    if (rc == CIN_ENOTFOUND) {
        cin_problem_set(p, 404, "not_found", "no order R-%06lld", (long long)id);
        goto fail;
    }
    if (rc != CIN_OK) {
        busy(p, rc);
        goto fail;
    }
    rc = cin_order_check(a ? a->user : NULL, o, action, p);
    if (rc != CIN_OK)
        goto fail;
    return CIN_OK;
fail:
    cin_store_rollback(st);
    cin_order_clear(o);
    return rc ? rc : CIN_EPERM;
}

/* Write the order and its event, commit.  On failure everything rolls back. */
static int finish_action(cin_store *st, const cin_actor *a, cin_order *o, const char *event,
                         const char *detail, cin_problem *p)
{
    int rc = cin_store_order_update(st, o);

    if (rc == CIN_OK)
        rc = cin_store_event_add(st, o->account_id, o->id, actor_name(a), event, actor_peer(a),
                                 detail);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(o);
        return busy(p, rc);
    }
    return CIN_OK;
}

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = v ? strdup(v) : NULL;
}

static void now_text(cin_store *st, char buf[21])
{
    cin_time_rfc3339(cin_now(cin_store_services(st)), buf);
}

static int is_admin(const cin_actor *a)
{
    return a && a->user && !strcmp(a->user->role, "admin");
}

/* ---- names ---------------------------------------------------------------- */

typedef struct names {
    char **v;
    size_t n;
} names;

static void names_free(names *ns)
{
    cin_strv_free(ns->v, ns->n);
    ns->v = NULL;
    ns->n = 0;
}

static int names_has(const names *ns, const char *s)
{
    size_t i;

    for (i = 0; i < ns->n; i++)
        if (!strcmp(ns->v[i], s))
            return 1;
    return 0;
}

static int names_add(names *ns, const char *s)
{
    char **m;

    if (names_has(ns, s))
        return CIN_OK;
    m = realloc(ns->v, (ns->n + 2) * sizeof(char *));
    if (!m)
        return CIN_ENOMEM;
    ns->v = m;
    ns->v[ns->n] = strdup(s);
    if (!ns->v[ns->n])
        return CIN_ENOMEM;
    ns->n++;
    ns->v[ns->n] = NULL;
    return CIN_OK;
}

/* Normalise one name for product p; 400 invalid_domain with the reason. */
static int name_for_product(const cin_product *prod, const char *in, char **out, cin_problem *p)
{
    char *err = NULL;
    int flags = 0, rc;

    if (prod->wildcard)
        flags |= CIN_NAME_WILDCARD;
    if (!strcmp(prod->type, "intranet"))
        flags |= CIN_NAME_PRIVATE;
    rc = cin_name_normalize(in, flags, out, &err);
    if (rc != CIN_OK)
        cin_problem_set(p, 400, "invalid_domain", "%s", err ? err : "invalid name");
    free(err);
    return rc;
}

/* The product's rules on the whole set of names. */
static int names_fit_product(const cin_product *prod, const names *ns, cin_problem *p)
{
    if (ns->n > (size_t)prod->max_names) {
        cin_problem_set(p, 400, "bad_request",
                        "product %s allows at most %d name%s; this order has %zu", prod->code,
                        prod->max_names, prod->max_names == 1 ? "" : "s", ns->n);
        return CIN_EINVAL;
    }
    if (!strcmp(prod->code, "dv-wildcard")) {
        /* `*.d` and optionally `d` itself */
        const char *w = NULL;
        size_t i;
        for (i = 0; i < ns->n; i++)
            if (!strncmp(ns->v[i], "*.", 2))
                w = ns->v[i];
        if (!w) {
            cin_problem_set(p, 400, "invalid_domain",
                            "dv-wildcard is for a wildcard name (*.example.com); use dv-ssl for "
                            "a single name");
            return CIN_EINVAL;
        }
        for (i = 0; i < ns->n; i++)
            if (ns->v[i] != w && strcmp(ns->v[i], w + 2)) {
                cin_problem_set(p, 400, "invalid_domain",
                                "dv-wildcard covers %s and %s only, not %s", w, w + 2, ns->v[i]);
                return CIN_EINVAL;
            }
    }
    return CIN_OK;
}

/* Every name must belong to the account (API.md, Domains). */
static int names_owned(cin_store *st, int64_t account_id, const names *ns, cin_problem *p)
{
    size_t i;

    for (i = 0; i < ns->n; i++) {
        int64_t owner = 0;
        int rc = cin_store_domain_owner(st, ns->v[i], &owner);
        if (rc != CIN_OK)
            return busy(p, rc);
        if (owner != account_id) {
            cin_problem_set(p, 403, "domain_not_owned",
                            "%s is not among your account's domains (GET /api/v1/domains "
                            "lists them; your provider assigns them)",
                            ns->v[i]);
            return CIN_EPERM;
        }
    }
    return CIN_OK;
}

/* Common name first, then the SANs, normalised and de-duplicated. */
static int collect_names(const cin_product *prod, const char *cn, const char **sans, size_t nsans,
                         names *ns, cin_problem *p)
{
    char *n = NULL;
    size_t i;
    int rc;

    if (!cn || !*cn) {
        cin_problem_set(p, 400, "bad_request", "common_name is required");
        return CIN_EINVAL;
    }
    rc = name_for_product(prod, cn, &n, p);
    if (rc != CIN_OK)
        return rc;
    rc = names_add(ns, n);
    free(n);
    for (i = 0; rc == CIN_OK && i < nsans; i++) {
        rc = name_for_product(prod, sans[i], &n, p);
        if (rc != CIN_OK)
            return rc;
        rc = names_add(ns, n);
        free(n);
        if (ns->n > (size_t)prod->max_names + 1)
            break; /* enough to say it is too many */
    }
    if (rc == CIN_ENOMEM)
        cin_problem_set(p, 503, "store_busy", "out of memory");
    return rc == CIN_OK ? names_fit_product(prod, ns, p) : rc;
}

static int load_product(cin_store *st, const char *code, cin_product *prod, cin_problem *p)
{
    int rc;

    if (!code || !*code) {
        cin_problem_set(p, 400, "bad_request", "product is required (GET /api/v1/products)");
        return CIN_EINVAL;
    }
    rc = cin_store_product_get(st, code, prod);
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 400, "bad_request",
                        "unknown product '%s' (GET /api/v1/products lists them)", code);
    else if (rc != CIN_OK)
        busy(p, rc);
    return rc;
}

static int check_csr(const char *csr, const names *ns, cin_problem *p)
{
    const char *code = NULL;
    char *err = NULL;
    int rc = cin_csr_check(csr, ns->v, ns->n, &code, &err);

    if (rc != CIN_OK)
        cin_problem_set(p, 400, code ? code : "invalid_csr", "%s", err ? err : "invalid CSR");
    free(err);
    return rc;
}

/* The status a new order starts in, for the user who places it. */
static const char *initial_status(const cin_actor *a, const cin_product *prod)
{
    if (!is_admin(a))
        return "pending_approval";
    return !strcmp(prod->type, "ev") ? "pending_signatory" : "awaiting_payment";
}

/* Insert o (filled by the caller) with its event, in one transaction. */
static int insert_order(cin_store *st, const cin_actor *a, cin_order *o, const char *event,
                        const char *detail, cin_problem *p)
{
    int rc = cin_store_begin(st);

    if (rc != CIN_OK)
        return busy(p, rc);
    rc = cin_store_order_insert(st, o);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, o->account_id, o->id, actor_name(a), event, actor_peer(a),
                                 detail);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        return busy(p, rc);
    }
    return CIN_OK;
}

/* Fill the fields every new order shares, from the actor and a product. */
static int new_order(cin_store *st, const cin_actor *a, const cin_product *prod, names *ns,
                     cin_order *o)
{
    memset(o, 0, sizeof(*o));
    o->account_id = a->user->account_id;
    o->account = strdup(a->user->account);
    o->requester_id = a->user->id;
    o->requester = strdup(a->user->name);
    o->status = strdup(initial_status(a, prod));
    o->product = strdup(prod->code);
    o->common_name = strdup(ns->v[0]);
    o->sans = ns->v;
    o->nsans = ns->n;
    ns->v = NULL;
    ns->n = 0;
    o->admin_approved = is_admin(a);
    (void)st;
    return o->account && o->requester && o->status && o->product && o->common_name ? CIN_OK
                                                                                   : CIN_ENOMEM;
}

int cin_order_create(cin_store *st, const cin_actor *a, const cin_order_request *r, cin_order *out,
                     cin_problem *p)
{
    cin_product prod;
    names ns = {0};
    const char *ks = r->key_source ? r->key_source : "server";
    const char *kt = r->key_type ? r->key_type : "ec-p256";
    int rc, validity;

    memset(out, 0, sizeof(*out));
    rc = load_product(st, r->product, &prod, p);
    if (rc != CIN_OK)
        return rc;
    rc = collect_names(&prod, r->common_name, r->sans, r->nsans, &ns, p);
    if (rc != CIN_OK)
        goto done;
    rc = CIN_EINVAL;
    if (strcmp(ks, "server") && strcmp(ks, "csr")) {
        cin_problem_set(p, 400, "bad_request", "key_source must be \"server\" or \"csr\"");
        goto done;
    }
    if (!cin_valid_key_type(kt)) {
        cin_problem_set(p, 400, "bad_request",
                        "key_type must be one of ec-p256, ec-p384, rsa-2048, rsa-3072, "
                        "rsa-4096");
        goto done;
    }
    validity = r->validity_days ? r->validity_days : prod.max_validity_days;
    if (validity < 1 || validity > prod.max_validity_days) {
        cin_problem_set(p, 400, "bad_request", "validity_days must be from 1 to %d for %s",
                        prod.max_validity_days, prod.code);
        goto done;
    }
    if (!strcmp(ks, "csr") && (!r->csr || !*r->csr)) {
        cin_problem_set(p, 400, "invalid_csr", "csr is required when key_source is \"csr\"");
        goto done;
    }
    if (!strcmp(ks, "server") && r->csr) {
        cin_problem_set(p, 400, "bad_request",
                        "a csr was sent but key_source is \"server\"; send key_source \"csr\"");
        goto done;
    }
    if (r->csr && check_csr(r->csr, &ns, p) != CIN_OK)
        goto done;
    rc = names_owned(st, a->user->account_id, &ns, p);
    if (rc != CIN_OK)
        goto done;
    rc = new_order(st, a, &prod, &ns, out);
    if (rc != CIN_OK) {
        busy(p, rc);
        goto done;
    }
    out->key_source = strdup(ks);
    out->key_type = strdup(kt);
    out->validity_days = validity;
    out->auto_renew = r->auto_renew;
    out->price = cin_product_price(&prod, out->nsans);
    out->kind = strdup("new");
    out->csr_pem = cin_strdup(r->csr);
    rc = insert_order(st, a, out, "order.create", NULL, p);
done:
    if (rc != CIN_OK)
        cin_order_clear(out);
    names_free(&ns);
    cin_product_clear(&prod);
    return rc;
}

int cin_order_approve(cin_store *st, const cin_actor *a, int64_t id, const char *comment,
                      cin_order *out, cin_problem *p)
{
    cin_product prod;
    char now[21];
    int rc;

    if (comment && strlen(comment) > REASON_MAX) {
        cin_problem_set(p, 400, "bad_request", "comment is longer than %d characters", REASON_MAX);
        return CIN_EINVAL;
    }
    rc = begin_action(st, a, id, "approve", out, p);
    if (rc != CIN_OK)
        return rc;
    rc = cin_store_product_get(st, out->product, &prod);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(out);
        return busy(p, rc);
    }
    now_text(st, now);
    set_str(&out->status, !strcmp(prod.type, "ev") ? "pending_signatory" : "awaiting_payment");
    set_str(&out->approved_by, actor_name(a));
    set_str(&out->approved_at, now);
    out->admin_approved = 1;
    cin_product_clear(&prod);
    return finish_action(st, a, out, "order.approve", comment, p);
}

int cin_order_reject(cin_store *st, const cin_actor *a, int64_t id, const char *reason,
                     cin_order *out, cin_problem *p)
{
    int rc;

    if (!has_text(reason) || strlen(reason) > REASON_MAX) {
        cin_problem_set(p, 400, "bad_request", "a rejection needs a reason of 1 to %d characters",
                        REASON_MAX);
        return CIN_EINVAL;
    }
    rc = begin_action(st, a, id, "reject", out, p);
    if (rc != CIN_OK)
        return rc;
    set_str(&out->status, "rejected");
    set_str(&out->rejection_reason, reason);
    return finish_action(st, a, out, "order.reject", reason, p);
}

int cin_order_signatory(cin_store *st, const cin_actor *a, int64_t id, int approve,
                        const char *reason, cin_order *out, cin_problem *p)
{
    char now[21];
    int rc;

    if (!approve && (!has_text(reason) || strlen(reason) > REASON_MAX)) {
        cin_problem_set(p, 400, "bad_request", "a rejection needs a reason of 1 to %d characters",
                        REASON_MAX);
        return CIN_EINVAL;
    }
    if (approve && reason && strlen(reason) > REASON_MAX) {
        cin_problem_set(p, 400, "bad_request", "comment is longer than %d characters", REASON_MAX);
        return CIN_EINVAL;
    }
    rc = begin_action(st, a, id, approve ? "signatory_approve" : "signatory_reject", out, p);
    if (rc != CIN_OK)
        return rc;
    now_text(st, now);
    set_str(&out->signatory_by, actor_name(a));
    set_str(&out->signatory_at, now);
    if (approve) {
        set_str(&out->status, "awaiting_payment");
    } else {
        set_str(&out->status, "rejected");
        set_str(&out->rejection_reason, reason);
    }
    return finish_action(st, a, out, approve ? "order.signatory_approve" : "order.signatory_reject",
                         reason, p);
}

int cin_order_pay(cin_store *st, const cin_actor *a, int64_t id, const char *idem_key,
                  cin_order *out, char **replay, int *replay_status, cin_problem *p)
{
    char scope[64], detail[128];
    int64_t number = 0, balance = 0;
    json_t *j;
    char *body;
    int rc;

    *replay = NULL;
    memset(out, 0, sizeof(*out));
    if (idem_key && (!*idem_key || strlen(idem_key) > 255)) {
        cin_problem_set(p, 400, "bad_request", "Idempotency-Key must be 1 to 255 characters");
        return CIN_EINVAL;
    }
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return busy(p, rc);
    snprintf(scope, sizeof(scope), "pay:%lld", (long long)id);
    if (idem_key && cin_store_idem_get(st, scope, idem_key, replay_status, replay) == CIN_OK) {
        /* a retry of a pay that already succeeded: the first reply, nothing new */
        cin_store_rollback(st);
        rc = cin_store_order_get(st, id, out);
        if (rc != CIN_OK || !cin_order_visible(a->user, out)) {
            free(*replay);
            *replay = NULL;
            cin_order_clear(out);
            cin_problem_set(p, 404, "not_found", "no order R-%06lld", (long long)id);
            return CIN_EPERM;
        }
        return CIN_OK;
    }
    cin_store_rollback(st);
    rc = begin_action(st, a, id, "pay", out, p);
    if (rc != CIN_OK)
        return rc;
    snprintf(detail, sizeof(detail), "order R-%06lld", (long long)id);
    rc = cin_store_credits_move(st, out->account_id, -out->price, out->id, "order payment",
                                actor_name(a), &balance);
    if (rc == CIN_ECREDITS) {
        cin_account acct;
        cin_store_account_get_id(st, out->account_id, &acct);
        cin_problem_set(p, 402, "insufficient_credits",
                        "this order costs %lld credits; the account has %lld",
                        (long long)out->price, (long long)acct.credits);
        cin_account_clear(&acct);
        cin_store_rollback(st);
        cin_order_clear(out);
        return CIN_ECREDITS;
    }
    if (rc == CIN_OK)
        rc = cin_store_order_number_next(st, &number);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(out);
        return busy(p, rc);
    }
    out->order_number = number;
    set_str(&out->status,
            !strcmp(out->key_source, "csr") && !out->csr_pem ? "pending_csr" : "processing");
    out->next_attempt_at = 0;
    out->attempts = 0;
    rc = cin_store_order_update(st, out);
    snprintf(detail, sizeof(detail), "CIN-%06lld; debited %lld credits, balance %lld",
             (long long)number, (long long)out->price, (long long)balance);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, out->account_id, out->id, actor_name(a), "order.pay",
                                 actor_peer(a), detail);
    if (rc == CIN_OK && idem_key) {
        j = cin_order_json(st, a->user, out);
        body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        rc = body ? cin_store_idem_put(st, scope, idem_key, 200, body) : CIN_ENOMEM;
        free(body);
    }
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(out);
        return busy(p, rc);
    }
    return CIN_OK;
}

int cin_order_set_csr(cin_store *st, const cin_actor *a, int64_t id, const char *csr,
                      cin_order *out, cin_problem *p)
{
    names ns;
    int rc;

    if (!csr || !*csr) {
        cin_problem_set(p, 400, "invalid_csr", "csr is required");
        return CIN_EINVAL;
    }
    rc = begin_action(st, a, id, "csr", out, p);
    if (rc != CIN_OK)
        return rc;
    ns.v = out->sans;
    ns.n = out->nsans;
    rc = check_csr(csr, &ns, p);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(out);
        return rc;
    }
    set_str(&out->csr_pem, csr);
    if (!strcmp(out->status, "pending_csr"))
        set_str(&out->status, "processing");
    return finish_action(st, a, out, "order.csr", NULL, p);
}

int cin_order_cancel(cin_store *st, const cin_actor *a, int64_t id, const char *note,
                     cin_order *out, cin_problem *p)
{
    int rc;

    if (note && strlen(note) > REASON_MAX) {
        cin_problem_set(p, 400, "bad_request", "note is longer than %d characters", REASON_MAX);
        return CIN_EINVAL;
    }
    rc = begin_action(st, a, id, "cancel", out, p);
    if (rc != CIN_OK)
        return rc;
    if (out->order_number && out->price > 0) {
        rc = cin_store_credits_move(st, out->account_id, out->price, out->id, "refund",
                                    actor_name(a), NULL);
        if (rc != CIN_OK) {
            cin_store_rollback(st);
            cin_order_clear(out);
            return busy(p, rc);
        }
    }
    set_str(&out->status, "cancelled");
    return finish_action(st, a, out, "order.cancel", note, p);
}

int cin_order_revoke(cin_store *st, const cin_actor *a, int64_t id, const char *reason,
                     cin_order *out, cin_problem *p)
{
    int rc;

    if (!reason)
        reason = "unspecified";
    if (!cin_revocation_reason_valid(reason)) {
        cin_problem_set(p, 400, "bad_request",
                        "reason must be one of unspecified, keyCompromise, affiliationChanged, "
                        "superseded, cessationOfOperation");
        return CIN_EINVAL;
    }
    rc = begin_action(st, a, id, "revoke", out, p);
    if (rc != CIN_OK)
        return rc;
    /* stop serving at once (the generation moves); the agent tells the CA */
    if (out->cert_id)
        rc = cin_store_cert_set_status(st, out->cert_id, "revoked", reason);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(out);
        return busy(p, rc);
    }
    set_str(&out->status, "revoked");
    return finish_action(st, a, out, "order.revoke", reason, p);
}

int cin_order_retry(cin_store *st, const cin_actor *a, int64_t id, cin_order *out, cin_problem *p)
{
    int rc = begin_action(st, a, id, "retry", out, p);

    if (rc != CIN_OK)
        return rc;
    set_str(&out->status,
            !strcmp(out->key_source, "csr") && !out->csr_pem ? "pending_csr" : "processing");
    set_str(&out->error_json, NULL);
    out->attempts = 0;
    out->next_attempt_at = 0;
    return finish_action(st, a, out, "order.retry", NULL, p);
}

/* Load the parent for renew/reissue/sans and check the action on it; no
 * transaction is held afterwards (the new order is inserted in its own). */
static int load_parent(cin_store *st, const cin_actor *a, int64_t id, const char *action,
                       cin_order *parent, cin_product *prod, cin_problem *p)
{
    int rc = begin_action(st, a, id, action, parent, p);

    if (rc != CIN_OK)
        return rc;
    cin_store_rollback(st);
    rc = cin_store_product_get(st, parent->product, prod);
    if (rc != CIN_OK) {
        cin_order_clear(parent);
        return busy(p, rc);
    }
    return CIN_OK;
}

static int derive(cin_store *st, const cin_actor *a, const cin_order *parent,
                  const cin_product *prod, names *ns, const char *kind, cin_order *out,
                  cin_problem *p)
{
    int rc = names_owned(st, a->user->account_id, ns, p);

    if (rc != CIN_OK)
        return rc;
    rc = new_order(st, a, prod, ns, out);
    if (rc != CIN_OK)
        return busy(p, rc);
    out->key_source = strdup(parent->key_source);
    out->key_type = strdup(parent->key_type);
    out->validity_days = parent->validity_days <= prod->max_validity_days ? parent->validity_days
                                                                          : prod->max_validity_days;
    out->auto_renew = parent->auto_renew;
    out->parent_id = parent->id;
    out->kind = strdup(kind);
    return CIN_OK;
}

static int copy_names(const cin_order *o, names *ns)
{
    size_t i;
    int rc = CIN_OK;

    for (i = 0; rc == CIN_OK && i < o->nsans; i++)
        rc = names_add(ns, o->sans[i]);
    return rc;
}

int cin_order_renew(cin_store *st, const cin_actor *a, int64_t id, cin_order *out, cin_problem *p)
{
    cin_order parent;
    cin_product prod;
    names ns = {0};
    char detail[64];
    int rc;

    memset(out, 0, sizeof(*out));
    rc = load_parent(st, a, id, "renew", &parent, &prod, p);
    if (rc != CIN_OK)
        return rc;
    rc = copy_names(&parent, &ns);
    if (rc == CIN_OK)
        rc = derive(st, a, &parent, &prod, &ns, "renewal", out, p);
    if (rc == CIN_OK) {
        out->price = cin_product_price(&prod, out->nsans);
        out->csr_pem = cin_strdup(parent.csr_pem);
        snprintf(detail, sizeof(detail), "renews R-%06lld", (long long)parent.id);
        rc = insert_order(st, a, out, "order.renew", detail, p);
    }
    if (rc != CIN_OK)
        cin_order_clear(out);
    names_free(&ns);
    cin_order_clear(&parent);
    cin_product_clear(&prod);
    return rc;
}

int cin_order_reissue(cin_store *st, const cin_actor *a, int64_t id, const char *csr,
                      const char *key_type, cin_order *out, cin_problem *p)
{
    cin_order parent;
    cin_product prod;
    names ns = {0};
    char detail[64];
    int rc;

    memset(out, 0, sizeof(*out));
    if (key_type && !cin_valid_key_type(key_type)) {
        cin_problem_set(p, 400, "bad_request",
                        "key_type must be one of ec-p256, ec-p384, rsa-2048, rsa-3072, "
                        "rsa-4096");
        return CIN_EINVAL;
    }
    rc = load_parent(st, a, id, "reissue", &parent, &prod, p);
    if (rc != CIN_OK)
        return rc;
    rc = copy_names(&parent, &ns);
    if (rc == CIN_OK && csr)
        rc = check_csr(csr, &ns, p);
    if (rc == CIN_OK)
        rc = derive(st, a, &parent, &prod, &ns, "reissue", out, p);
    if (rc == CIN_OK) {
        out->price = 0; /* a reissue is free */
        if (csr) {
            set_str(&out->key_source, "csr");
            out->csr_pem = strdup(csr);
        }
        if (key_type)
            set_str(&out->key_type, key_type);
        snprintf(detail, sizeof(detail), "reissues R-%06lld", (long long)parent.id);
        rc = insert_order(st, a, out, "order.reissue", detail, p);
    }
    if (rc != CIN_OK)
        cin_order_clear(out);
    names_free(&ns);
    cin_order_clear(&parent);
    cin_product_clear(&prod);
    return rc;
}

int cin_order_sans(cin_store *st, const cin_actor *a, int64_t id, const char **add, size_t nadd,
                   const char **rm, size_t nrm, cin_order *out, cin_problem *p)
{
    cin_order parent;
    cin_product prod;
    names ns = {0}, removed = {0};
    size_t i, added = 0;
    char detail[96], *n = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (nadd == 0 && nrm == 0) {
        cin_problem_set(p, 400, "bad_request", "give names to \"add\" or \"remove\"");
        return CIN_EINVAL;
    }
    rc = load_parent(st, a, id, "sans", &parent, &prod, p);
    if (rc != CIN_OK)
        return rc;
    for (i = 0; rc == CIN_OK && i < nrm; i++) {
        rc = name_for_product(&prod, rm[i], &n, p);
        if (rc != CIN_OK)
            break;
        if (!strcmp(n, parent.common_name)) {
            cin_problem_set(p, 400, "bad_request",
                            "%s is the common name and cannot be removed; order a new "
                            "certificate instead",
                            n);
            rc = CIN_EINVAL;
        } else if (!names_has(&(names){parent.sans, parent.nsans}, n)) {
            cin_problem_set(p, 400, "bad_request", "%s is not a name of this certificate", n);
            rc = CIN_EINVAL;
        } else {
            rc = names_add(&removed, n);
        }
        free(n);
        n = NULL;
    }
    for (i = 0; rc == CIN_OK && i < parent.nsans; i++)
        if (!names_has(&removed, parent.sans[i]))
            rc = names_add(&ns, parent.sans[i]);
    for (i = 0; rc == CIN_OK && i < nadd; i++) {
        rc = name_for_product(&prod, add[i], &n, p);
        if (rc != CIN_OK)
            break;
        if (!names_has(&ns, n)) {
            added++;
            rc = names_add(&ns, n);
        }
        free(n);
        n = NULL;
    }
    if (rc == CIN_OK && added == 0 && removed.n == 0) {
        cin_problem_set(p, 400, "bad_request", "the names would not change");
        rc = CIN_EINVAL;
    }
    if (rc == CIN_OK)
        rc = names_fit_product(&prod, &ns, p);
    if (rc == CIN_OK)
        rc = derive(st, a, &parent, &prod, &ns, "reissue", out, p);
    if (rc == CIN_OK) {
        /* added names are charged at the product's per-name price */
        out->price = (int64_t)added * prod.price_per_name;
        /* a customer CSR no longer matches the names: a new one is needed */
        out->csr_pem = NULL;
        snprintf(detail, sizeof(detail), "changes names of R-%06lld: +%zu -%zu",
                 (long long)parent.id, added, removed.n);
        rc = insert_order(st, a, out, "order.sans", detail, p);
    }
    if (rc != CIN_OK)
        cin_order_clear(out);
    names_free(&ns);
    names_free(&removed);
    cin_order_clear(&parent);
    cin_product_clear(&prod);
    return rc;
}

int cin_order_get_visible(cin_store *st, const cin_actor *a, int64_t id, cin_order *out,
                          cin_problem *p)
{
    int rc = cin_store_order_get(st, id, out);

    if (rc == CIN_OK && !cin_order_visible(a ? a->user : NULL, out)) {
        cin_order_clear(out);
        rc = CIN_ENOTFOUND;
    }
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no order R-%06lld", (long long)id);
    else if (rc != CIN_OK)
        busy(p, rc);
    return rc;
}

int cin_order_chain(cin_store *st, const cin_actor *a, int64_t id, char **pem, cin_problem *p)
{
    cin_order o;
    cin_cert c;
    int rc;

    *pem = NULL;
    rc = cin_order_get_visible(st, a, id, &o, p);
    if (rc != CIN_OK)
        return rc;
    rc = cin_order_check(a->user, &o, "download", p);
    if (rc == CIN_OK) {
        rc = cin_store_cert_get(st, o.cert_id, &c);
        if (rc == CIN_OK) {
            *pem = c.chain_pem;
            c.chain_pem = NULL;
            cin_cert_clear(&c);
        } else {
            cin_problem_set(p, 409, "conflict", "this order has no certificate");
        }
    }
    cin_order_clear(&o);
    return rc;
}

int cin_order_key(cin_store *st, const cin_actor *a, int64_t id, char **pem, cin_problem *p)
{
    cin_order o;
    int rc;

    *pem = NULL;
    rc = begin_action(st, a, id, "key", &o, p);
    if (rc != CIN_OK)
        return rc;
    if (!o.key_id) {
        cin_store_rollback(st);
        cin_order_clear(&o);
        cin_problem_set(p, 409, "conflict", "this order has no stored key");
        return CIN_ECONFLICT;
    }
    rc = cin_store_key_get(st, o.key_id, pem);
    if (rc == CIN_ECRYPTO) {
        cin_store_rollback(st);
        cin_order_clear(&o);
        cin_problem_set(p, 409, "conflict",
                        "the stored key failed its integrity check; it will not be used");
        return rc;
    }
    /* the download is audited in the same transaction, or not given at all */
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, o.account_id, o.id, actor_name(a), "order.key_download",
                                 actor_peer(a), NULL);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        if (*pem)
            cin_free_secret(*pem, strlen(*pem));
        *pem = NULL;
        busy(p, rc);
    }
    cin_order_clear(&o);
    return rc;
}
