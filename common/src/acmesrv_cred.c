/*
 * acmesrv_cred.c - ACME credentials (External Account Binding): a user makes
 * them for themselves, an administrator for any user of the account, the
 * provider (CLI) for anyone.  Only administrators set auto_pay.  The HMAC
 * key is shown once and kept sealed.
 */
#include <stdlib.h>
#include <string.h>

#include "acmesrv_int.h"
#include "cin_crypto.h"
#include "cin_groups.h"
#include "cin_store_order.h"
#include "cin_util.h"

static int is_admin(const cin_actor *a)
{
    return a && a->user && !strcmp(a->user->role, "admin");
}

static int fail(cin_store *st, cin_problem *p, int rc)
{
    if (cin_store_in_transaction(st))
        cin_store_rollback(st);
    if (!p->status)
        cin_problem_from_status(p, rc);
    return rc;
}

int acmesrv_cred_create(cin_store *st, const cin_actor *a, int64_t account_id,
                        const acmesrv_cred_fields *f, acmesrv_cred *out, char **hmac_b64,
                        cin_problem *p)
{
    unsigned char hmac[ACMESRV_HMAC_LEN], kid[12];
    cin_user u;
    cin_product prod;
    json_t *preset = NULL;
    int rc;

    *hmac_b64 = NULL;
    memset(out, 0, sizeof(*out));
    memset(&u, 0, sizeof(u));
    if (!f->name || !*f->name || strlen(f->name) > 64 ||
        !cin_utf8_valid(f->name, strlen(f->name))) {
        cin_problem_field(p, 400, "bad_request", "name",
                          "a credential's name is 1 to 64 characters");
        return CIN_EINVAL;
    }
    if (a && a->user && !is_admin(a) && f->user && strcmp(f->user, a->user->name)) {
        cin_problem_field(p, 403, "forbidden", "user",
                          "only an administrator makes credentials for another user");
        return CIN_EPERM;
    }
    if (f->auto_pay && a && a->user && !is_admin(a)) {
        cin_problem_field(p, 403, "forbidden", "auto_pay",
                          "only an administrator lets a credential pay on its own");
        return CIN_EPERM;
    }
    if (!f->user && !(a && a->user)) {
        cin_problem_field(p, 400, "bad_request", "user", "name the user the credential acts as");
        return CIN_EINVAL;
    }
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return fail(st, p, rc);
    rc = cin_store_user_get(st, f->user ? f->user : a->user->name, &u);
    if (rc == CIN_OK && (account_id && u.account_id != account_id))
        rc = CIN_ENOTFOUND;
    if (rc == CIN_ENOTFOUND) {
        cin_problem_field(p, 404, "not_found", "user", "no such user in your account");
        return fail(st, p, rc);
    }
    if (rc == CIN_OK && u.disabled) {
        cin_problem_field(p, 409, "conflict", "user", "%s is disabled", u.name);
        rc = CIN_ECONFLICT;
    }
    if (rc == CIN_OK && f->product) {
        rc = cin_store_product_get(st, f->product, &prod);
        if (rc == CIN_ENOTFOUND)
            cin_problem_field(p, 400, "bad_request", "product", "there is no product '%s'",
                              f->product);
        else if (rc == CIN_OK)
            cin_product_clear(&prod);
    }
    /* the custom fields its orders carry: a product's required ones all given */
    if (rc == CIN_OK && (f->fields || f->product))
        rc = cin_fields_preset(st, u.account_id, f->product, f->fields, &preset, p);
    if (rc == CIN_OK &&
        (cin_random(hmac, sizeof(hmac)) != CIN_OK || cin_random(kid, sizeof(kid)) != CIN_OK))
        rc = CIN_ERR;
    if (rc == CIN_OK) {
        char *k = cin_b64url_encode(kid, sizeof(kid));
        out->key_id = k ? cin_asprintf("acme-%s", k) : NULL;
        free(k);
        out->user_id = u.id;
        out->account_id = u.account_id;
        out->name = strdup(f->name);
        out->product = cin_strdup(f->product);
        out->auto_pay = f->auto_pay;
        out->created_by = strdup(cin_actor_name(a));
        out->user = strdup(u.name);
        out->fields = preset && json_object_size(preset) ? json_dumps(preset, JSON_COMPACT) : NULL;
        rc = out->key_id && out->name && out->created_by ? CIN_OK : CIN_ENOMEM;
    }
    if (rc == CIN_OK)
        rc = acmesrv_cred_insert(st, out, hmac, sizeof(hmac));
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, u.account_id, 0, cin_actor_name(a), "acme_credential.create",
                                 a ? a->peer : NULL, out->key_id);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc == CIN_OK) {
        *hmac_b64 = cin_b64url_encode(hmac, sizeof(hmac));
        if (!*hmac_b64)
            rc = CIN_ENOMEM;
    }
    cin_memzero(hmac, sizeof(hmac));
    cin_user_clear(&u);
    json_decref(preset);
    if (rc != CIN_OK) {
        acmesrv_cred_clear(out);
        return fail(st, p, rc);
    }
    return CIN_OK;
}

int acmesrv_cred_visible(cin_store *st, const cin_actor *a, acmesrv_cred **out, size_t *n,
                         cin_problem *p)
{
    int rc;

    if (!a || !a->user) {
        cin_problem_set(p, 400, "bad_request", "name an account");
        return CIN_EINVAL;
    }
    rc = acmesrv_cred_list(st, a->user->account_id, is_admin(a) ? 0 : a->user->id, out, n);
    if (rc != CIN_OK)
        cin_problem_from_status(p, rc);
    return rc;
}

int acmesrv_cred_remove(cin_store *st, const cin_actor *a, int64_t id, cin_problem *p)
{
    acmesrv_cred c;
    int rc = cin_store_begin(st);

    if (rc != CIN_OK)
        return fail(st, p, rc);
    rc = acmesrv_cred_get(st, id, NULL, &c);
    if (rc == CIN_OK && a && a->user &&
        !(c.account_id == a->user->account_id && (is_admin(a) || c.user_id == a->user->id)))
        rc = CIN_ENOTFOUND;
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no ACME credential %lld", (long long)id);
    if (rc == CIN_OK)
        rc = acmesrv_cred_delete(st, id);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, c.account_id, 0, cin_actor_name(a), "acme_credential.delete",
                                 a ? a->peer : NULL, c.key_id);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    acmesrv_cred_clear(&c);
    return rc == CIN_OK ? CIN_OK : fail(st, p, rc);
}

json_t *acmesrv_cred_json(const acmesrv_cred *c)
{
    json_t *j = json_object();

    json_object_set_new(j, "id", json_integer(c->id));
    json_object_set_new(j, "key_id", json_string(c->key_id));
    json_object_set_new(j, "name", json_string(c->name));
    json_object_set_new(j, "user", json_string(c->user ? c->user : ""));
    json_object_set_new(j, "product", c->product ? json_string(c->product) : json_null());
    json_object_set_new(j, "auto_pay", json_boolean(c->auto_pay));
    {
        json_t *fl = c->fields ? json_loads(c->fields, 0, NULL) : NULL;
        json_object_set_new(j, "fields", json_is_object(fl) ? fl : json_object());
        if (fl && !json_is_object(fl))
            json_decref(fl);
    }
    json_object_set_new(j, "created_by", json_string(c->created_by ? c->created_by : ""));
    json_object_set_new(j, "created_at", json_string(c->created_at ? c->created_at : ""));
    return j;
}
