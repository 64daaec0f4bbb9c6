/*
 * groups.c - groups, approver groups and custom fields: validation first,
 * then one transaction with the change and its audit event (cin_groups.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_groups.h"
#include "cin_store_order.h"
#include "cin_util.h"

#define FIELD_TEXT_MAX 256

static int admin_only(const cin_actor *a, cin_problem *p)
{
    if (a && a->user && !strcmp(a->user->role, "admin"))
        return CIN_OK;
    cin_problem_set(p, 403, "forbidden", "only an administrator manages groups and fields");
    return CIN_EPERM;
}

static int tx(cin_store *st, cin_problem *p)
{
    int rc = cin_store_begin(st);

    return rc == CIN_OK ? CIN_OK : cin_problem_from_status(p, rc);
}

static int done(cin_store *st, const cin_actor *a, int rc, const char *action, const char *detail,
                cin_problem *p)
{
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, a->user->account_id, 0, cin_actor_name(a), action, a->peer,
                                 detail);
    rc = cin_store_end(st, rc);
    if (rc != CIN_OK && p && !p->status)
        cin_problem_from_status(p, rc);
    return rc;
}

static int group_of(cin_store *st, const cin_actor *a, const char *name, int64_t *id,
                    cin_problem *p)
{
    int rc = cin_store_group_id(st, a->user->account_id, name ? name : "", id);

    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no group named %s", name ? name : "");
    return rc;
}

int cin_group_create(cin_store *st, const cin_actor *a, const char *name, cin_problem *p)
{
    int rc;

    if ((rc = admin_only(a, p)) != CIN_OK)
        return rc;
    if (!name || !cin_valid_username(name)) {
        cin_problem_field(p, 400, "bad_request", "name",
                          "a group name is 1 to 64 characters of a-z 0-9 . _ -");
        return CIN_EINVAL;
    }
    if ((rc = tx(st, p)) != CIN_OK)
        return rc;
    rc = cin_store_group_create(st, a->user->account_id, name, NULL);
    if (rc == CIN_EEXIST)
        cin_problem_field(p, 409, "conflict", "name", "a group named %s already exists", name);
    return done(st, a, rc, "group.create", name, p);
}

int cin_group_member(cin_store *st, const cin_actor *a, const char *group, const char *user,
                     int add, cin_problem *p)
{
    char detail[160];
    int64_t gid = 0;
    cin_user u;
    int rc;

    memset(&u, 0, sizeof(u));
    if ((rc = admin_only(a, p)) != CIN_OK)
        return rc;
    if ((rc = tx(st, p)) != CIN_OK)
        return rc;
    rc = group_of(st, a, group, &gid, p);
    if (rc == CIN_OK) {
        rc = cin_store_user_get(st, user ? user : "", &u);
        if (rc == CIN_OK && u.account_id != a->user->account_id)
            rc = CIN_ENOTFOUND;
        if (rc == CIN_ENOTFOUND)
            cin_problem_field(p, 404, "not_found", "user", "no user named %s in your account",
                              user ? user : "");
    }
    if (rc == CIN_OK)
        rc = cin_store_group_member(st, gid, u.id, add);
    snprintf(detail, sizeof(detail), "%s %s %s", user ? user : "", add ? "to" : "from",
             group ? group : "");
    cin_user_clear(&u);
    return done(st, a, rc, add ? "group.member_add" : "group.member_remove", detail, p);
}

int cin_group_approves(cin_store *st, const cin_actor *a, const char *group, const char *product,
                       cin_problem *p)
{
    cin_product prod;
    char detail[160];
    int64_t gid = 0;
    int rc;

    if ((rc = admin_only(a, p)) != CIN_OK)
        return rc;
    if ((rc = tx(st, p)) != CIN_OK)
        return rc;
    rc = cin_store_product_get(st, product ? product : "", &prod);
    if (rc == CIN_ENOTFOUND)
        cin_problem_field(p, 400, "bad_request", "product", "there is no product '%s'",
                          product ? product : "");
    if (rc == CIN_OK)
        cin_product_clear(&prod);
    if (rc == CIN_OK && group)
        rc = group_of(st, a, group, &gid, p);
    if (rc == CIN_OK)
        rc = cin_store_group_approves(st, a->user->account_id, product, gid);
    snprintf(detail, sizeof(detail), "%s approved by %s", product ? product : "",
             group ? group : "any administrator");
    return done(st, a, rc, "group.approves", detail, p);
}

/* ---- custom fields ------------------------------------------------------------- */

static int strings_only(const json_t *arr, size_t max)
{
    size_t i;

    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > max)
        return 0;
    for (i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || !*s || strlen(s) > FIELD_TEXT_MAX)
            return 0;
    }
    return 1;
}

int cin_field_define(cin_store *st, const cin_actor *a, const char *name, const char *type,
                     int required, const json_t *choices, const json_t *products, cin_problem *p)
{
    char *ch = NULL, *pr = NULL;
    int rc;

    if ((rc = admin_only(a, p)) != CIN_OK)
        return rc;
    if (!name || !cin_valid_username(name)) {
        cin_problem_field(p, 400, "bad_request", "name",
                          "a field name is 1 to 64 characters of a-z 0-9 . _ -");
        return CIN_EINVAL;
    }
    if (!type || (strcmp(type, "text") && strcmp(type, "number") && strcmp(type, "choice"))) {
        cin_problem_field(p, 400, "bad_request", "type", "the type is text, number or choice");
        return CIN_EINVAL;
    }
    if (!strcmp(type, "choice") != (choices != NULL) || (choices && !strings_only(choices, 100))) {
        cin_problem_field(p, 400, "bad_request", "choices",
                          "a choice field lists its choices (1 to 100 strings); other types "
                          "have none");
        return CIN_EINVAL;
    }
    if (products && !strings_only(products, 100)) {
        cin_problem_field(p, 400, "bad_request", "products", "give a list of product codes");
        return CIN_EINVAL;
    }
    ch = choices ? json_dumps(choices, JSON_COMPACT) : NULL;
    pr = products ? json_dumps(products, JSON_COMPACT) : NULL;
    if ((rc = tx(st, p)) == CIN_OK) {
        rc = cin_store_field_put(st, a->user->account_id, name, type, required, ch, pr);
        rc = done(st, a, rc, "field.define", name, p);
    }
    free(ch);
    free(pr);
    return rc;
}

int cin_field_delete(cin_store *st, const cin_actor *a, const char *name, cin_problem *p)
{
    int rc;

    if ((rc = admin_only(a, p)) != CIN_OK)
        return rc;
    if ((rc = tx(st, p)) != CIN_OK)
        return rc;
    rc = cin_store_field_delete(st, a->user->account_id, name ? name : "");
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no field named %s", name ? name : "");
    return done(st, a, rc, "field.delete", name, p);
}

static int has_string(const json_t *arr, const char *s)
{
    size_t i;

    for (i = 0; i < json_array_size(arr); i++)
        if (!strcmp(json_string_value(json_array_get(arr, i)), s))
            return 1;
    return 0;
}

/* One value against its definition: the value as text, or NULL with p set. */
static char *field_value(const json_t *def, const char *name, const json_t *v, cin_problem *p)
{
    const char *type = json_string_value(json_object_get(def, "type"));
    char field[96], num[64];

    snprintf(field, sizeof(field), "fields.%s", name);
    if (!strcmp(type, "number")) {
        if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            return strdup(num);
        }
        if (json_is_real(v)) {
            snprintf(num, sizeof(num), "%.15g", json_real_value(v));
            return strdup(num);
        }
        cin_problem_field(p, 400, "bad_request", field, "%s is a number", name);
        return NULL;
    }
    if (!json_is_string(v) || !*json_string_value(v) ||
        strlen(json_string_value(v)) > FIELD_TEXT_MAX) {
        cin_problem_field(p, 400, "bad_request", field, "%s is text of 1 to %d characters", name,
                          FIELD_TEXT_MAX);
        return NULL;
    }
    if (!strcmp(type, "choice") &&
        !has_string(json_object_get(def, "choices"), json_string_value(v))) {
        cin_problem_field(p, 400, "bad_request", field, "%s is one of the listed choices", name);
        return NULL;
    }
    return strdup(json_string_value(v));
}

int cin_fields_check(cin_store *st, int64_t account_id, const char *product, const json_t *values,
                     json_t **clean, cin_problem *p)
{
    json_t *defs = NULL, *def, *v;
    const char *key;
    size_t i;
    int rc;

    *clean = NULL;
    if (values && !json_is_object(values)) {
        cin_problem_field(p, 400, "bad_request", "fields", "fields is an object of name: value");
        return CIN_EINVAL;
    }
    rc = cin_store_field_list(st, account_id, &defs);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    *clean = json_object();
    json_array_foreach(defs, i, def)
    {
        const char *name = json_string_value(json_object_get(def, "name"));
        json_t *prods = json_object_get(def, "products");
        char *text;
        if (json_is_array(prods) && !has_string(prods, product))
            continue; /* not a field of this product */
        v = values ? json_object_get(values, name) : NULL;
        if (!v || json_is_null(v)) {
            if (json_is_true(json_object_get(def, "required"))) {
                char field[96];
                snprintf(field, sizeof(field), "fields.%s", name);
                cin_problem_field(p, 400, "bad_request", field, "%s is required", name);
                rc = CIN_EINVAL;
                break;
            }
            continue;
        }
        text = field_value(def, name, v, p);
        if (!text) {
            rc = CIN_EINVAL;
            break;
        }
        json_object_set_new(*clean, name, json_string(text));
        free(text);
    }
    /* a value for a field the account does not have for this product */
    json_object_foreach((json_t *)values, key, v)
    {
        if (rc == CIN_OK && !json_object_get(*clean, key) && !json_is_null(v)) {
            char field[96];
            snprintf(field, sizeof(field), "fields.%.80s", key);
            cin_problem_field(p, 400, "bad_request", field, "there is no field %s for %s", key,
                              product);
            rc = CIN_EINVAL;
        }
    }
    json_decref(defs);
    if (rc != CIN_OK) {
        json_decref(*clean);
        *clean = NULL;
    }
    return rc;
}

/* The definition named name in defs, or NULL. */
static json_t *def_named(json_t *defs, const char *name)
{
    json_t *def;
    size_t i;

    json_array_foreach(defs, i, def)
    {
        if (!strcmp(json_string_value(json_object_get(def, "name")), name))
            return def;
    }
    return NULL;
}

static int for_product(const json_t *def, const char *product)
{
    json_t *prods = json_object_get(def, "products");

    return !json_is_array(prods) || (product && has_string(prods, product));
}

int cin_fields_preset(cin_store *st, int64_t account_id, const char *product, const json_t *values,
                      json_t **clean, cin_problem *p)
{
    json_t *defs = NULL, *v;
    const char *key;
    int rc;

    *clean = NULL;
    if (product)
        return cin_fields_check(st, account_id, product, values, clean, p);
    if (!json_is_object(values)) {
        cin_problem_field(p, 400, "bad_request", "fields", "fields is an object of name: value");
        return CIN_EINVAL;
    }
    rc = cin_store_field_list(st, account_id, &defs);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    *clean = json_object();
    json_object_foreach((json_t *)values, key, v)
    {
        json_t *def = def_named(defs, key);
        char field[96], *text;
        snprintf(field, sizeof(field), "fields.%.80s", key);
        if (!def) {
            cin_problem_field(p, 400, "bad_request", field, "there is no field %s", key);
            rc = CIN_EINVAL;
            break;
        }
        text = field_value(def, key, v, p);
        if (!text) {
            rc = CIN_EINVAL;
            break;
        }
        json_object_set_new(*clean, key, json_string(text));
        free(text);
    }
    json_decref(defs);
    if (rc != CIN_OK) {
        json_decref(*clean);
        *clean = NULL;
    }
    return rc;
}

int cin_fields_preset_for(cin_store *st, int64_t account_id, const char *product,
                          const char *preset, json_t **values)
{
    json_t *defs = NULL, *all, *v;
    const char *key;
    int rc;

    *values = NULL;
    if (!preset || !*preset)
        return CIN_OK;
    all = json_loads(preset, 0, NULL);
    if (!json_is_object(all)) {
        json_decref(all);
        return CIN_OK; /* nothing usable: the order's own check says what is missing */
    }
    rc = cin_store_field_list(st, account_id, &defs);
    if (rc == CIN_OK) {
        *values = json_object();
        json_object_foreach(all, key, v)
        {
            json_t *def = def_named(defs, key);
            if (def && for_product(def, product))
                json_object_set(*values, key, v);
        }
    }
    json_decref(defs);
    json_decref(all);
    return rc;
}
