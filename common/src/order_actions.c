/*
 * order_actions.c - every change to an order: validated first, then one
 * transaction holding the change, its ledger movement and its audit event.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_groups.h"
#include "cin_names.h"
#include "cin_order.h"
#include "cin_util.h"
#include "cin_x509.h"

#define REASON_MAX 1024

static const char *actor_name(const cin_actor *a)
{
    return cin_actor_name(a);
}

static const char *actor_peer(const cin_actor *a)
{
    return a ? a->peer : NULL;
}

/* A store failure: the error model's answer (503 busy/unavailable, 500). */
static int busy(cin_problem *p, int rc)
{
    return cin_problem_from_status(p, rc);
}

static int has_text(const char *s)
{
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s))
            return 1;
    return 0;
}

typedef struct names {
    char **v;
    size_t n;
} names;

static int names_owned(cin_store *st, int64_t account_id, const names *ns, cin_problem *p);

/* Begin a transaction, load the order and check the action on it; with
 * `owned`, every name of the order must still belong to its account - checked
 * here, in the transaction that makes the change (a domain may have moved to
 * another account since the order was placed). */
static int begin_action(cin_store *st, const cin_actor *a, int64_t id, const char *action,
                        int owned, cin_order *o, cin_problem *p)
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
    if (rc == CIN_OK && owned)
        rc = names_owned(st, o->account_id, &(names){o->sans, o->nsans}, p);
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
static int name_for_product(const cin_product *prod, const char *in, const char *field, char **out,
                            cin_problem *p)
{
    char *err = NULL;
    int flags = 0, rc;

    if (prod->wildcard)
        flags |= CIN_NAME_WILDCARD;
    if (!strcmp(prod->type, "intranet"))
        flags |= CIN_NAME_PRIVATE;
    rc = cin_name_normalize(in, flags, out, &err);
    if (rc != CIN_OK)
        cin_problem_field(p, 400, "invalid_domain", field, "%s", err ? err : "invalid name");
    free(err);
    return rc;
}

/* The product's rules on the whole set of names. */
static int names_fit_product(const cin_product *prod, const names *ns, cin_problem *p)
{
    if (ns->n > (size_t)prod->max_names) {
        cin_problem_field(p, 400, "bad_request", "sans",
                          "%s covers at most %d name%s; this order has %zu", prod->code,
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
            cin_problem_field(p, 400, "invalid_domain", "common_name",
                              "dv-wildcard is for a wildcard name (*.example.com); use dv-ssl "
                              "for a single name");
            return CIN_EINVAL;
        }
        for (i = 0; i < ns->n; i++)
            if (ns->v[i] != w && strcmp(ns->v[i], w + 2)) {
                cin_problem_field(p, 400, "invalid_domain", "sans",
                                  "dv-wildcard covers %s and %s only, not %s", w, w + 2, ns->v[i]);
                return CIN_EINVAL;
            }
    }
    return CIN_OK;
}

/* Every name must belong to the account now (API.md, Domains).  The store's
 * answer decides: a failed lookup is the store's problem (503), never a 403. */
static int names_owned(cin_store *st, int64_t account_id, const names *ns, cin_problem *p)
{
    size_t i;

    for (i = 0; i < ns->n; i++) {
        int64_t owner = 0;
        int rc = cin_store_domain_owner(st, ns->v[i], &owner);
        if (rc != CIN_OK)
            return busy(p, rc);
        if (owner != account_id) {
            cin_problem_field(p, 403, "domain_not_owned", "sans",
                              "%s is not among your account's domains; your provider assigns "
                              "them",
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
        cin_problem_field(p, 400, "bad_request", "common_name", "give the certificate's name");
        return CIN_EINVAL;
    }
    rc = name_for_product(prod, cn, "common_name", &n, p);
    if (rc != CIN_OK)
        return rc;
    rc = names_add(ns, n);
    free(n);
    for (i = 0; rc == CIN_OK && i < nsans; i++) {
        rc = name_for_product(prod, sans[i], "sans", &n, p);
        if (rc != CIN_OK)
            return rc;
        rc = names_add(ns, n);
        free(n);
        if (ns->n > (size_t)prod->max_names + 1)
            break; /* enough to say it is too many */
    }
    if (rc == CIN_ENOMEM)
        busy(p, rc);
    return rc == CIN_OK ? names_fit_product(prod, ns, p) : rc;
}

static int load_product(cin_store *st, const char *code, cin_product *prod, cin_problem *p)
{
    int rc;

    if (!code || !*code) {
        cin_problem_field(p, 400, "bad_request", "product", "choose a product");
        return CIN_EINVAL;
    }
    rc = cin_store_product_get(st, code, prod);
    if (rc == CIN_ENOTFOUND)
        cin_problem_field(p, 400, "bad_request", "product", "there is no product '%s'", code);
    else if (rc != CIN_OK)
        busy(p, rc);
    return rc;
}

/* Exported for the workflows outside this file (import, AutoSSL): the same
 * name rules and ownership checks as an order placed through the API. */
int cin_order_names_for_product(cin_store *st, const char *product, const char **in, size_t n,
                                char ***out, size_t *nout, cin_problem *p)
{
    cin_product prod;
    names ns = {0};
    int rc;

    *out = NULL;
    *nout = 0;
    rc = load_product(st, product, &prod, p);
    if (rc != CIN_OK)
        return rc;
    rc = collect_names(&prod, n ? in[0] : NULL, n ? in + 1 : NULL, n ? n - 1 : 0, &ns, p);
    cin_product_clear(&prod);
    if (rc != CIN_OK) {
        names_free(&ns);
        return rc;
    }
    *out = ns.v;
    *nout = ns.n;
    return CIN_OK;
}

int cin_order_names_owned(cin_store *st, int64_t account_id, char **v, size_t n, cin_problem *p)
{
    return names_owned(st, account_id, &(names){v, n}, p);
}

static int check_csr(const char *csr, const names *ns, cin_problem *p)
{
    const char *code = NULL;
    char *err = NULL;
    int rc = cin_csr_check(csr, ns->v, ns->n, &code, &err);

    if (rc != CIN_OK)
        cin_problem_field(p, 400, code ? code : "invalid_csr", "csr", "%s",
                          err ? err : "the CSR is not valid");
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

/* An administrator of an account above acct_path (a parent, its parent...). */
static int parent_admin_of(const cin_actor *a, const char *acct_path)
{
    return is_admin(a) && cin_account_path_below(a->user->account_path, acct_path);
}

/*
 * A sub-account that requires parent approval sends every order a person of
 * its own places - its administrators' too - to the parent's administrators
 * first (pending_parent_approval); the account's own approval rules follow.
 * An order a parent's administrator places or derives counts as approved by
 * the parent.  Read in the transaction that writes the order.
 */
static int parent_gate(cin_store *st, const cin_actor *a, cin_order *o, cin_problem *p)
{
    cin_account acct;
    int rc;

    if (!a || !a->user ||
        (strcmp(o->status, "pending_approval") && strcmp(o->status, "awaiting_payment") &&
         strcmp(o->status, "pending_signatory")))
        return CIN_OK;
    rc = cin_store_account_get_id(st, o->account_id, &acct);
    if (rc != CIN_OK)
        return busy(p, rc);
    if (acct.parent_id && acct.requires_parent_approval && !parent_admin_of(a, acct.path))
        set_str(&o->status, "pending_parent_approval");
    cin_account_clear(&acct);
    return o->status ? CIN_OK : busy(p, CIN_ENOMEM);
}

/* Insert o (filled by the caller) with its event, in one transaction. */
static int insert_order(cin_store *st, const cin_actor *a, cin_order *o, const json_t *fields,
                        const char *event, const char *detail, cin_problem *p)
{
    const char *key;
    json_t *v;
    int rc = cin_store_begin(st);

    if (rc != CIN_OK)
        return busy(p, rc);
    /* ownership is read in the transaction that writes the order */
    rc = names_owned(st, o->account_id, &(names){o->sans, o->nsans}, p);
    if (rc == CIN_OK)
        rc = parent_gate(st, a, o, p);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        return rc;
    }
    rc = cin_store_order_insert(st, o);
    json_object_foreach((json_t *)fields, key, v)
    {
        if (rc == CIN_OK)
            rc = cin_store_order_field_put(st, o->id, key, json_string_value(v));
    }
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
static int new_order(cin_store *st, const cin_actor *a, const cin_account *acct,
                     const cin_product *prod, names *ns, cin_order *o)
{
    memset(o, 0, sizeof(*o));
    o->account_id = acct ? acct->id : a->user->account_id;
    o->account = strdup(acct ? acct->name : a->user->account);
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
    char csr_kt[16];
    cin_account acct;
    json_t *fields = NULL;
    int rc, validity;

    memset(out, 0, sizeof(*out));
    memset(&acct, 0, sizeof(acct));
    /* an order for a customer: a sub-account the caller administers from
     * above; it belongs to that account, the caller is its requester */
    if (r->account && (!a || !a->user || strcmp(r->account, a->user->account))) {
        if (!a || !a->user) {
            cin_problem_field(p, 400, "bad_request", "account", "orders are placed by users");
            return CIN_EINVAL;
        }
        rc = cin_account_visible(st, a, r->account, &acct, p);
        if (rc != CIN_OK)
            return rc;
    }
    rc = load_product(st, r->product, &prod, p);
    if (rc != CIN_OK) {
        cin_account_clear(&acct);
        return rc;
    }
    rc = collect_names(&prod, r->common_name, r->sans, r->nsans, &ns, p);
    if (rc != CIN_OK)
        goto done;
    rc = CIN_EINVAL;
    if (strcmp(ks, "server") && strcmp(ks, "csr")) {
        cin_problem_field(p, 400, "bad_request", "key_source",
                          "the key comes from the server (\"server\") or from your CSR "
                          "(\"csr\")");
        goto done;
    }
    if (!cin_valid_key_type(kt)) {
        cin_problem_field(p, 400, "bad_request", "key_type",
                          "the key type is one of ec-p256, ec-p384, rsa-2048, rsa-3072, "
                          "rsa-4096");
        goto done;
    }
    validity = r->validity_days ? r->validity_days : prod.max_validity_days;
    if (validity < 1 || validity > prod.max_validity_days) {
        cin_problem_field(p, 400, "bad_request", "validity_days",
                          "a %s certificate is valid for 1 to %d days", prod.code,
                          prod.max_validity_days);
        goto done;
    }
    if (!strcmp(ks, "csr") && (!r->csr || !*r->csr)) {
        cin_problem_field(p, 400, "invalid_csr", "csr",
                          "paste your certificate signing request (CSR) to use your own key");
        goto done;
    }
    if (!strcmp(ks, "server") && r->csr) {
        cin_problem_field(p, 400, "bad_request", "csr",
                          "a CSR was sent but the server is to make the key; send key_source "
                          "\"csr\" to use your own");
        goto done;
    }
    if (r->csr && check_csr(r->csr, &ns, p) != CIN_OK)
        goto done;
    if (r->csr && cin_csr_key_type(r->csr, csr_kt) == CIN_OK)
        kt = csr_kt; /* the order reports the key the customer's CSR carries */
    rc = new_order(st, a, acct.id ? &acct : NULL, &prod, &ns, out);
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
    rc = cin_fields_check(st, out->account_id, prod.code, r->fields, &fields, p);
    if (rc == CIN_OK)
        rc = insert_order(st, a, out, fields, "order.create", r->via, p);
done:
    if (rc != CIN_OK)
        cin_order_clear(out);
    names_free(&ns);
    cin_product_clear(&prod);
    cin_account_clear(&acct);
    json_decref(fields);
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
    rc = begin_action(st, a, id, "approve", 1, out, p);
    if (rc != CIN_OK)
        return rc;
    rc = cin_store_product_get(st, out->product, &prod);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(out);
        return busy(p, rc);
    }
    now_text(st, now);
    if (!strcmp(out->status, "pending_parent_approval")) {
        /* the parent's approval; then the account's own rules, as for a new order */
        const char *next = !out->admin_approved       ? "pending_approval"
                           : !strcmp(prod.type, "ev") ? "pending_signatory"
                                                      : "awaiting_payment";
        set_str(&out->status, next);
        cin_product_clear(&prod);
        return finish_action(st, a, out, "order.parent_approve", comment, p);
    }
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
    int rc, by_parent;

    if (!has_text(reason) || strlen(reason) > REASON_MAX) {
        cin_problem_set(p, 400, "bad_request", "a rejection needs a reason of 1 to %d characters",
                        REASON_MAX);
        return CIN_EINVAL;
    }
    rc = begin_action(st, a, id, "reject", 0, out, p);
    if (rc != CIN_OK)
        return rc;
    by_parent = !strcmp(out->status, "pending_parent_approval");
    set_str(&out->status, "rejected");
    set_str(&out->rejection_reason, reason);
    return finish_action(st, a, out, by_parent ? "order.parent_reject" : "order.reject", reason, p);
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
    rc = begin_action(st, a, id, approve ? "signatory_approve" : "signatory_reject", approve, out,
                      p);
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

/*
 * Debit o's price from the account that pays for it - o's own, or while an
 * account bills its parent, that parent - in the caller's transaction.  Both
 * ledgers show it: the payer's debit and, in o's account, a row of 0 that
 * names the payer.  402 insufficient_credits naming the payer's balance.
 */
static int charge(cin_store *st, const cin_actor *a, cin_order *o, const char *reason,
                  int64_t *balance, cin_problem *p)
{
    cin_account payer;
    char why[200];
    int rc = cin_account_payer(st, o->account_id, &payer);

    if (rc != CIN_OK)
        return busy(p, rc);
    if (payer.id != o->account_id)
        snprintf(why, sizeof(why), "%s for %s", reason, o->account);
    rc = cin_store_credits_move(st, payer.id, -o->price, o->id,
                                payer.id != o->account_id ? why : reason, actor_name(a), balance);
    if (rc == CIN_OK && payer.id != o->account_id) {
        snprintf(why, sizeof(why), "%s billed to %s", reason, payer.name);
        rc = cin_store_credits_move(st, o->account_id, 0, o->id, why, actor_name(a), NULL);
    }
    if (rc == CIN_ECREDITS)
        cin_problem_set(p, 402, "insufficient_credits",
                        "this order costs %lld credits; %s has %lld", (long long)o->price,
                        payer.id != o->account_id ? payer.name : "the account",
                        (long long)payer.credits);
    else if (rc != CIN_OK)
        busy(p, rc);
    cin_account_clear(&payer);
    return rc;
}

/* Give a paid order's price back to the account its payment debited. */
static int refund(cin_store *st, const cin_actor *a, const cin_order *o)
{
    int64_t payer = 0, paid = 0;
    char why[200];
    int rc = cin_store_ledger_debit_of(st, o->id, &payer, &paid);

    if (rc == CIN_ENOTFOUND)
        payer = o->account_id; /* paid before the ledger named orders */
    else if (rc != CIN_OK)
        return rc;
    rc = cin_store_credits_move(
        st, payer, o->price, o->id,
        payer == o->account_id ? "refund" : "refund of a sub-account's order", actor_name(a), NULL);
    if (rc == CIN_OK && payer != o->account_id) {
        cin_account acct;
        rc = cin_store_account_get_id(st, payer, &acct);
        if (rc == CIN_OK) {
            snprintf(why, sizeof(why), "refund to %s", acct.name);
            rc = cin_store_credits_move(st, o->account_id, 0, o->id, why, actor_name(a), NULL);
        }
        cin_account_clear(&acct);
    }
    return rc;
}

int cin_order_pay(cin_store *st, const cin_actor *a, int64_t id, const char *idem_key,
                  cin_order *out, char **replay, int *replay_status, cin_problem *p)
{
    char scope[96], detail[128];
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
    rc = cin_store_order_get(st, id, out);
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no order R-%06lld", (long long)id);
    else if (rc != CIN_OK)
        busy(p, rc);
    /* authorize first, replay second: a key replays only the reply this
     * caller got, and only to a caller who may pay this order at all */
    if (rc == CIN_OK)
        rc = cin_order_may(a ? a->user : NULL, out, "pay", p);
    snprintf(scope, sizeof(scope), "pay:%lld:%lld", (long long)id,
             (long long)(a && a->user ? a->user->id : 0));
    if (rc == CIN_OK && idem_key) {
        rc = cin_store_idem_get(st, scope, idem_key, replay_status, replay);
        if (rc == CIN_OK) {
            /* a retry of a pay that already succeeded: the first reply, nothing new */
            cin_store_rollback(st);
            return CIN_OK;
        }
        if (rc == CIN_ENOTFOUND)
            rc = CIN_OK;
        else
            busy(p, rc);
    }
    if (rc == CIN_OK)
        rc = cin_order_check(a ? a->user : NULL, out, "pay", p);
    if (rc == CIN_OK)
        rc = names_owned(st, out->account_id, &(names){out->sans, out->nsans}, p);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(out);
        return rc;
    }
    rc = charge(st, a, out, "order payment", &balance, p);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(out);
        return rc;
    }
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
        body = j ? json_dumps(j, JSON_COMPACT) : NULL;
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
    rc = begin_action(st, a, id, "csr", 0, out, p);
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
    rc = begin_action(st, a, id, "cancel", 0, out, p);
    if (rc != CIN_OK)
        return rc;
    if (out->order_number && out->price > 0) {
        rc = refund(st, a, out);
        if (rc != CIN_OK) {
            cin_store_rollback(st);
            cin_order_clear(out);
            return busy(p, rc);
        }
    }
    /* an order already at its CA may have a certificate there by now: the
     * agent finds out and revokes it (cin_agent.h) */
    out->ca_cleanup = !strcmp(out->status, "processing");
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
    rc = begin_action(st, a, id, "revoke", 0, out, p);
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
    int rc = begin_action(st, a, id, "retry", 1, out, p);

    if (rc != CIN_OK)
        return rc;
    set_str(&out->status,
            !strcmp(out->key_source, "csr") && !out->csr_pem ? "pending_csr" : "processing");
    set_str(&out->error_json, NULL);
    out->attempts = 0;
    out->next_attempt_at = 0;
    return finish_action(st, a, out, "order.retry", NULL, p);
}

/* ---- renewals, reissues and SAN changes ---------------------------------------- */

/*
 * Each of these creates a child of an issued order in one transaction that
 * loads the parent, checks the action on it, refuses a second open renewal
 * or reissue (a double click, two simultaneous requests: 409 naming the open
 * one), checks that every name still belongs to the account and inserts the
 * child with its audit event.
 */
static int derive_begin(cin_store *st, const cin_actor *a, int64_t id, const char *action,
                        cin_order *parent, cin_product *prod, cin_problem *p)
{
    int64_t child = 0;
    char extra[64];
    int rc;

    memset(prod, 0, sizeof(*prod));
    rc = begin_action(st, a, id, action, 0, parent, p);
    if (rc != CIN_OK)
        return rc;
    rc = cin_store_order_open_child(st, parent->id, &child);
    if (rc != CIN_OK) {
        busy(p, rc);
    } else if (child) {
        cin_problem_set(p, 409, "conflict",
                        "R-%06lld already has an open renewal or reissue, R-%06lld; finish or "
                        "cancel it first",
                        (long long)parent->id, (long long)child);
        snprintf(extra, sizeof(extra), "{\"open_order\":\"R-%06lld\"}", (long long)child);
        p->extra_json = strdup(extra);
        rc = CIN_ECONFLICT;
    }
    if (rc == CIN_OK) {
        rc = cin_store_product_get(st, parent->product, prod);
        if (rc != CIN_OK)
            busy(p, rc);
    }
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        cin_order_clear(parent);
        cin_product_clear(prod);
    }
    return rc;
}

/* Fill the child from its parent: the parent's account; the actor requests
 * it (the agent: the parent's requester). */
static int derive(const cin_actor *a, const cin_order *parent, const cin_product *prod, names *ns,
                  const char *kind, cin_order *out)
{
    memset(out, 0, sizeof(*out));
    out->account_id = parent->account_id;
    out->account = cin_strdup(parent->account);
    out->requester_id = a && a->user ? a->user->id : parent->requester_id;
    out->requester = cin_strdup(a && a->user ? a->user->name : parent->requester);
    out->status = strdup(initial_status(a, prod));
    out->product = strdup(prod->code);
    out->common_name = strdup(ns->v[0]);
    out->sans = ns->v;
    out->nsans = ns->n;
    ns->v = NULL;
    ns->n = 0;
    out->admin_approved = is_admin(a);
    out->key_source = strdup(parent->key_source);
    out->key_type = strdup(parent->key_type);
    out->validity_days = parent->validity_days <= prod->max_validity_days ? parent->validity_days
                                                                          : prod->max_validity_days;
    out->auto_renew = parent->auto_renew;
    out->parent_id = parent->id;
    out->kind = strdup(kind);
    return out->account && out->requester && out->status && out->product && out->common_name &&
                   out->key_source && out->key_type && out->kind
               ? CIN_OK
               : CIN_ENOMEM;
}

/* Ownership, insert, events, commit - ending derive_begin's transaction. */
static int derive_finish(cin_store *st, const cin_actor *a, cin_order *out, const char *event,
                         const char *detail, cin_problem *p)
{
    int rc = names_owned(st, out->account_id, &(names){out->sans, out->nsans}, p);

    if (rc == CIN_OK)
        rc = parent_gate(st, a, out, p);
    if (rc == CIN_OK) {
        rc = cin_store_order_insert(st, out);
        if (rc == CIN_OK)
            rc = cin_store_order_fields_copy(st, out->parent_id, out->id);
        if (rc == CIN_OK)
            rc = cin_store_event_add(st, out->account_id, out->id, actor_name(a), event,
                                     actor_peer(a), detail);
        if (rc == CIN_OK) {
            char child[40];
            snprintf(child, sizeof(child), "%s R-%06lld", out->kind, (long long)out->id);
            rc = cin_store_event_add(st, out->account_id, out->parent_id, actor_name(a), event,
                                     actor_peer(a), child);
        }
        if (rc == CIN_OK)
            rc = cin_store_commit(st);
        if (rc != CIN_OK)
            busy(p, rc);
    }
    if (rc != CIN_OK)
        cin_store_rollback(st);
    return rc;
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
    rc = derive_begin(st, a, id, "renew", &parent, &prod, p);
    if (rc != CIN_OK)
        return rc;
    rc = copy_names(&parent, &ns);
    if (rc == CIN_OK)
        rc = derive(a, &parent, &prod, &ns, "renewal", out);
    if (rc == CIN_OK) {
        out->price = cin_product_price(&prod, out->nsans);
        out->csr_pem = cin_strdup(parent.csr_pem);
        snprintf(detail, sizeof(detail), "renews R-%06lld", (long long)parent.id);
        rc = derive_finish(st, a, out, "order.renew", detail, p);
    } else {
        cin_store_rollback(st);
        busy(p, rc);
    }
    if (rc != CIN_OK)
        cin_order_clear(out);
    names_free(&ns);
    cin_order_clear(&parent);
    cin_product_clear(&prod);
    return rc;
}

/* A reissue never extends a lineage: its certificate ends when the one it
 * replaces does (the built-in CA honours the cap; an ACME CA decides, but
 * renewal timing still follows the original's). */
int cin_order_lineage_end(cin_store *st, const cin_order *parent, time_t *cap)
{
    cin_cert c;
    int rc;

    *cap = 0;
    if (!parent->cert_id)
        return CIN_OK;
    rc = cin_store_cert_get(st, parent->cert_id, &c);
    if (rc == CIN_OK)
        rc = cin_time_parse(c.not_after, cap);
    cin_cert_clear(&c);
    return rc;
}

int cin_order_reissue(cin_store *st, const cin_actor *a, int64_t id, const char *csr,
                      const char *key_type, cin_order *out, cin_problem *p)
{
    cin_order parent;
    cin_product prod;
    names ns = {0};
    char detail[64], csr_kt[16];
    int rc;

    memset(out, 0, sizeof(*out));
    if (key_type && !cin_valid_key_type(key_type)) {
        cin_problem_field(p, 400, "bad_request", "key_type",
                          "the key type is one of ec-p256, ec-p384, rsa-2048, rsa-3072, "
                          "rsa-4096");
        return CIN_EINVAL;
    }
    rc = derive_begin(st, a, id, "reissue", &parent, &prod, p);
    if (rc != CIN_OK)
        return rc;
    rc = copy_names(&parent, &ns);
    if (rc == CIN_OK && csr)
        rc = check_csr(csr, &ns, p);
    if (rc == CIN_OK)
        rc = derive(a, &parent, &prod, &ns, "reissue", out);
    if (rc == CIN_OK)
        rc = cin_order_lineage_end(st, &parent, &out->not_after_cap);
    if (rc == CIN_OK) {
        out->price = 0; /* a reissue is free */
        if (csr) {
            set_str(&out->key_source, "csr");
            out->csr_pem = strdup(csr);
            if (cin_csr_key_type(csr, csr_kt) == CIN_OK)
                set_str(&out->key_type, csr_kt);
        } else if (key_type) {
            set_str(&out->key_type, key_type);
        }
        snprintf(detail, sizeof(detail), "reissues R-%06lld", (long long)parent.id);
        rc = derive_finish(st, a, out, "order.reissue", detail, p);
    } else {
        cin_store_rollback(st);
        if (!p || !p->status)
            busy(p, rc);
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
        cin_problem_field(p, 400, "bad_request", "add", "give names to add or to remove");
        return CIN_EINVAL;
    }
    rc = derive_begin(st, a, id, "sans", &parent, &prod, p);
    if (rc != CIN_OK)
        return rc;
    for (i = 0; rc == CIN_OK && i < nrm; i++) {
        rc = name_for_product(&prod, rm[i], "remove", &n, p);
        if (rc != CIN_OK)
            break;
        if (!strcmp(n, parent.common_name)) {
            cin_problem_field(p, 400, "bad_request", "remove",
                              "%s is the certificate's main name and cannot be removed; order a "
                              "new certificate instead",
                              n);
            rc = CIN_EINVAL;
        } else if (!names_has(&(names){parent.sans, parent.nsans}, n)) {
            cin_problem_field(p, 400, "bad_request", "remove",
                              "%s is not a name of this certificate", n);
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
        rc = name_for_product(&prod, add[i], "add", &n, p);
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
        cin_problem_field(p, 400, "bad_request", nadd ? "add" : "remove",
                          "the names would not change");
        rc = CIN_EINVAL;
    }
    if (rc == CIN_OK && names_fit_product(&prod, &ns, p) != CIN_OK) {
        set_str(&p->field, nadd ? "add" : "remove");
        rc = CIN_EINVAL;
    }
    if (rc == CIN_OK)
        rc = derive(a, &parent, &prod, &ns, "reissue", out);
    if (rc == CIN_OK)
        rc = cin_order_lineage_end(st, &parent, &out->not_after_cap);
    if (rc == CIN_OK) {
        /* added names are charged at the product's per-name price */
        out->price = (int64_t)added * prod.price_per_name;
        /* a customer CSR no longer matches the names: a new one is needed */
        out->csr_pem = NULL;
        snprintf(detail, sizeof(detail), "changes names of R-%06lld: +%zu -%zu",
                 (long long)parent.id, added, removed.n);
        rc = derive_finish(st, a, out, "order.sans", detail, p);
        if (rc == CIN_EPERM && p && p->field)
            set_str(&p->field, "add");
    } else {
        cin_store_rollback(st);
        if (!p || !p->status)
            busy(p, rc);
    }
    if (rc != CIN_OK)
        cin_order_clear(out);
    names_free(&ns);
    names_free(&removed);
    cin_order_clear(&parent);
    cin_product_clear(&prod);
    return rc;
}

/*
 * Automatic renewal (the agent): the same child a renewal by the requester
 * would be, except that an order an administrator approved or placed skips
 * the approval - not an EV order's signatory consent - and, when nothing
 * else waits, is charged and sent to the CA at once.
 */
int cin_order_renew_auto(cin_store *st, const cin_actor *a, int64_t id, cin_order *out,
                         cin_problem *p)
{
    cin_order parent;
    cin_product prod;
    names ns = {0};
    char detail[96];
    int64_t number = 0, balance = 0;
    int rc, alive;

    memset(out, 0, sizeof(*out));
    memset(&prod, 0, sizeof(prod));
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return busy(p, rc);
    rc = cin_store_order_get(st, id, &parent);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        return rc == CIN_ENOTFOUND ? rc : busy(p, rc);
    }
    alive = cin_store_order_has_renewal(st, parent.id);
    if (strcmp(parent.status, "issued") || !parent.auto_renew || alive) {
        /* renewed meanwhile, or no longer due: nothing to do */
        cin_store_rollback(st);
        cin_order_clear(&parent);
        if (alive < 0)
            return busy(p, alive);
        cin_problem_set(p, 409, "conflict", "R-%06lld needs no renewal now", (long long)id);
        return CIN_ECONFLICT;
    }
    rc = cin_store_product_get(st, parent.product, &prod);
    if (rc == CIN_OK)
        rc = copy_names(&parent, &ns);
    if (rc == CIN_OK)
        rc = derive(a, &parent, &prod, &ns, "renewal", out);
    if (rc != CIN_OK) {
        busy(p, rc);
        goto fail;
    }
    set_str(&out->status, "pending_approval");
    if (parent.admin_approved) {
        out->admin_approved = 1;
        set_str(&out->approved_by, parent.approved_by);
        set_str(&out->approved_at, parent.approved_at);
        set_str(&out->status, !strcmp(prod.type, "ev") ? "pending_signatory" : "processing");
    }
    out->price = cin_product_price(&prod, out->nsans);
    out->csr_pem = !strcmp(parent.key_source, "csr") ? cin_strdup(parent.csr_pem) : NULL;
    rc = names_owned(st, out->account_id, &(names){out->sans, out->nsans}, p);
    if (rc != CIN_OK)
        goto fail;
    /* a sub-account that needs its parent's approval, or bills its parent,
     * renews unattended only under a policy the parent set */
    alive = cin_account_policy_allows(st, out->account_id, CIN_POLICY_AUTO_RENEW);
    if (alive < 0) {
        rc = alive;
        busy(p, rc);
        goto fail;
    }
    if (!alive)
        set_str(&out->status, "pending_parent_approval");
    rc = cin_store_order_insert(st, out);
    if (rc == CIN_OK)
        rc = cin_store_order_fields_copy(st, parent.id, out->id);
    if (rc == CIN_OK && !strcmp(out->status, "processing")) {
        rc = charge(st, a, out, "automatic renewal", &balance, p);
        if (rc != CIN_OK)
            goto fail;
        if (rc == CIN_OK)
            rc = cin_store_order_number_next(st, &number);
        if (rc == CIN_OK) {
            out->order_number = number;
            rc = cin_store_order_update(st, out);
        }
    }
    snprintf(detail, sizeof(detail), "automatic renewal of R-%06lld", (long long)parent.id);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, out->account_id, out->id, actor_name(a), "order.create",
                                 actor_peer(a), detail);
    snprintf(detail, sizeof(detail), "renewal R-%06lld (%s)", (long long)out->id, out->status);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, parent.account_id, parent.id, actor_name(a),
                                 "order.auto_renew", actor_peer(a), detail);
    if (rc == CIN_OK && parent.error_json) {
        /* the alert of an earlier failed attempt is over */
        set_str(&parent.error_json, NULL);
        parent.attempts = 0;
        rc = cin_store_order_update(st, &parent);
    }
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc != CIN_OK) {
        busy(p, rc);
        goto fail;
    }
    names_free(&ns);
    cin_order_clear(&parent);
    cin_product_clear(&prod);
    return CIN_OK;
fail:
    cin_store_rollback(st);
    cin_order_clear(out);
    names_free(&ns);
    cin_order_clear(&parent);
    cin_product_clear(&prod);
    return rc ? rc : CIN_ERR;
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
    return cin_order_key_for(st, a, id, "order.key_download", pem, p);
}

int cin_order_key_for(cin_store *st, const cin_actor *a, int64_t id, const char *audit, char **pem,
                      cin_problem *p)
{
    cin_order o;
    int rc;

    *pem = NULL;
    rc = begin_action(st, a, id, "key", 0, &o, p);
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
        rc = cin_store_event_add(st, o.account_id, o.id, actor_name(a), audit, actor_peer(a), NULL);
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
