/* store_groups.c - groups, approver groups and custom fields (cin_groups.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_groups.h"
#include "store_int.h"

int cin_store_group_create(cin_store *st, int64_t account_id, const char *name, int64_t *id)
{
    db_stmt *s;
    char now[21];
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "INSERT INTO user_groups(account_id, name, created_at) VALUES (?1, ?2, ?3)"
                       " RETURNING id");
    st_now_text(st, now);
    db_bind_int(s, 1, account_id);
    db_bind_text(s, 2, name);
    db_bind_text(s, 3, now);
    rc = db_one(s);
    if (rc == CIN_OK && id)
        *id = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

int cin_store_group_id(cin_store *st, int64_t account_id, const char *name, int64_t *id)
{
    db_stmt *s = db_prepare(st, "SELECT id FROM user_groups WHERE account_id = ?1 AND name = ?2");
    int rc;

    db_bind_int(s, 1, account_id);
    db_bind_text(s, 2, name);
    rc = db_one(s);
    if (rc == CIN_OK)
        *id = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

int cin_store_group_member(cin_store *st, int64_t group_id, int64_t user_id, int add)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, add ? "INSERT INTO group_members(group_id, user_id) VALUES (?1, ?2)"
                             " ON CONFLICT DO NOTHING"
                           : "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2");
    db_bind_int(s, 1, group_id);
    db_bind_int(s, 2, user_id);
    return db_run(s);
}

int cin_store_group_approves(cin_store *st, int64_t account_id, const char *product,
                             int64_t group_id)
{
    db_stmt *s;

    ST_WRITER(st);
    if (group_id <= 0) {
        s = db_prepare(st, "DELETE FROM product_approvers WHERE account_id = ?1 AND product = ?2");
        db_bind_int(s, 1, account_id);
        db_bind_text(s, 2, product);
        return db_run(s);
    }
    s = db_prepare(st, "INSERT INTO product_approvers(account_id, product, group_id) VALUES"
                       " (?1, ?2, ?3) ON CONFLICT(account_id, product) DO UPDATE SET"
                       " group_id = excluded.group_id");
    db_bind_int(s, 1, account_id);
    db_bind_text(s, 2, product);
    db_bind_int(s, 3, group_id);
    return db_run(s);
}

/* Append column 1 of every row of s, grouped by column 0 (an id), to the
 * array field `key` of the object of that id in byid. */
static int collect(db_stmt *s, json_t *byid, const char *key)
{
    int rc;

    while ((rc = db_step(s)) == DB_ROW) {
        char id[24];
        json_t *g;
        snprintf(id, sizeof(id), "%lld", (long long)db_col_int(s, 0));
        g = json_object_get(byid, id);
        if (g)
            json_array_append_new(json_object_get(g, key), json_string(db_col_text(s, 1)));
    }
    db_finalize(s);
    return rc;
}

int cin_store_group_list(cin_store *st, int64_t account_id, json_t **out)
{
    db_stmt *s = db_prepare(st, "SELECT id, name FROM user_groups WHERE account_id = ?1"
                                " ORDER BY name");
    json_t *arr = json_array(), *byid = json_object();
    int rc;

    db_bind_int(s, 1, account_id);
    while ((rc = db_step(s)) == DB_ROW) {
        char id[24];
        json_t *g =
            json_pack("{s:s, s:[], s:[]}", "name", db_col_text(s, 1), "members", "approves");
        snprintf(id, sizeof(id), "%lld", (long long)db_col_int(s, 0));
        json_object_set(byid, id, g);
        json_array_append_new(arr, g);
    }
    db_finalize(s);
    if (rc == CIN_OK) {
        s = db_prepare(st, "SELECT m.group_id, u.name FROM group_members m JOIN users u ON"
                           " u.id = m.user_id JOIN user_groups g ON g.id = m.group_id WHERE"
                           " g.account_id = ?1 ORDER BY u.name");
        db_bind_int(s, 1, account_id);
        rc = collect(s, byid, "members");
    }
    if (rc == CIN_OK) {
        s = db_prepare(st, "SELECT group_id, product FROM product_approvers WHERE"
                           " account_id = ?1 ORDER BY product");
        db_bind_int(s, 1, account_id);
        rc = collect(s, byid, "approves");
    }
    json_decref(byid);
    if (rc != CIN_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return CIN_OK;
}

int cin_store_field_put(cin_store *st, int64_t account_id, const char *name, const char *type,
                        int required, const char *choices, const char *products)
{
    db_stmt *s;
    char now[21];

    ST_WRITER(st);
    s = db_prepare(st, "INSERT INTO custom_fields(account_id, name, type, required, choices,"
                       " products, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                       " ON CONFLICT(account_id, name) DO UPDATE SET type = excluded.type,"
                       " required = excluded.required, choices = excluded.choices,"
                       " products = excluded.products");
    st_now_text(st, now);
    db_bind_int(s, 1, account_id);
    db_bind_text(s, 2, name);
    db_bind_text(s, 3, type);
    db_bind_int(s, 4, required);
    db_bind_text(s, 5, choices);
    db_bind_text(s, 6, products);
    db_bind_text(s, 7, now);
    return db_run(s);
}

int cin_store_field_delete(cin_store *st, int64_t account_id, const char *name)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "DELETE FROM custom_fields WHERE account_id = ?1 AND name = ?2");
    db_bind_int(s, 1, account_id);
    db_bind_text(s, 2, name);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    return rc;
}

int cin_store_field_list(cin_store *st, int64_t account_id, json_t **out)
{
    db_stmt *s = db_prepare(st, "SELECT name, type, required, choices, products FROM"
                                " custom_fields WHERE account_id = ?1 ORDER BY name");
    json_t *arr = json_array();
    int rc;

    db_bind_int(s, 1, account_id);
    while ((rc = db_step(s)) == DB_ROW) {
        json_t *f = json_object(), *v;
        json_object_set_new(f, "name", json_string(db_col_text(s, 0)));
        json_object_set_new(f, "type", json_string(db_col_text(s, 1)));
        json_object_set_new(f, "required", json_boolean(db_col_int(s, 2)));
        v = db_col_text(s, 3) ? json_loads(db_col_text(s, 3), 0, NULL) : NULL;
        json_object_set_new(f, "choices", v ? v : json_null());
        v = db_col_text(s, 4) ? json_loads(db_col_text(s, 4), 0, NULL) : NULL;
        json_object_set_new(f, "products", v ? v : json_null());
        json_array_append_new(arr, f);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return CIN_OK;
}

int cin_store_order_fields(cin_store *st, int64_t order_id, json_t **out)
{
    db_stmt *s = db_prepare(st, "SELECT name, value FROM order_fields WHERE order_id = ?1"
                                " ORDER BY name");
    json_t *o = json_object();
    int rc;

    db_bind_int(s, 1, order_id);
    while ((rc = db_step(s)) == DB_ROW)
        json_object_set_new(o, db_col_text(s, 0), json_string(db_col_text(s, 1)));
    db_finalize(s);
    if (rc != CIN_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return CIN_OK;
}

int cin_store_order_fields_copy(cin_store *st, int64_t from_order, int64_t to_order)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "INSERT INTO order_fields(order_id, name, value) SELECT ?2, name, value"
                       " FROM order_fields WHERE order_id = ?1");
    db_bind_int(s, 1, from_order);
    db_bind_int(s, 2, to_order);
    return db_run(s);
}

int cin_store_order_field_put(cin_store *st, int64_t order_id, const char *name, const char *value)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "INSERT INTO order_fields(order_id, name, value) VALUES (?1, ?2, ?3)");
    db_bind_int(s, 1, order_id);
    db_bind_text(s, 2, name);
    db_bind_text(s, 3, value);
    return db_run(s);
}
