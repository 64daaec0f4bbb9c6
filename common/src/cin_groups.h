/*
 * cin_groups.h - groups of users and custom order fields (issue 16).
 *
 * A group belongs to an account; a product may have an approver group, whose
 * members then approve its orders instead of any administrator (cin_order.h).
 * Custom fields (text, number, choice; required or not; for every product
 * or some) are defined per account and filled on new orders; the order
 * workflow validates them (cin_fields_check) and stores them in the
 * transaction that writes the order.
 */
#ifndef CIN_GROUPS_H
#define CIN_GROUPS_H

#include <jansson.h>

#include "cin_account.h"

/* ---- store (in the caller's transaction for writes) ---------------------- */

int cin_store_group_create(cin_store *st, int64_t account_id, const char *name, int64_t *id);
/* CIN_ENOTFOUND when the account has no such group. */
int cin_store_group_id(cin_store *st, int64_t account_id, const char *name, int64_t *id);
int cin_store_group_member(cin_store *st, int64_t group_id, int64_t user_id, int add);
int cin_store_group_approves(cin_store *st, int64_t account_id, const char *product,
                             int64_t group_id);
/* {"groups": [{"name", "members": [...], "approves": [...]}]} */
int cin_store_group_list(cin_store *st, int64_t account_id, json_t **out);

/* Store a custom field definition (choices, products: JSON arrays or NULL). */
int cin_store_field_put(cin_store *st, int64_t account_id, const char *name, const char *type,
                        int required, const char *choices, const char *products);
int cin_store_field_delete(cin_store *st, int64_t account_id, const char *name);
/* The account's definitions: [{"name","type","required","choices","products"}] */
int cin_store_field_list(cin_store *st, int64_t account_id, json_t **out);
/* An order's values as {"name": "value"} (empty object when none). */
int cin_store_order_fields(cin_store *st, int64_t order_id, json_t **out);
int cin_store_order_field_put(cin_store *st, int64_t order_id, const char *name, const char *value);
/* A renewal or reissue carries its parent's values. */
int cin_store_order_fields_copy(cin_store *st, int64_t from_order, int64_t to_order);

/* ---- workflow ------------------------------------------------------------------ */

/* Groups of the actor's account (administrators; ?account= scope by the API). */
int cin_group_create(cin_store *st, const cin_actor *a, const char *name, cin_problem *p);
int cin_group_member(cin_store *st, const cin_actor *a, const char *group, const char *user,
                     int add, cin_problem *p);
/* Make group the approver group of product in the actor's account (NULL: none). */
int cin_group_approves(cin_store *st, const cin_actor *a, const char *group, const char *product,
                       cin_problem *p);

/* Define (or redefine) a field: type text | number | choice (choices: a JSON
 * array of strings), required 0/1, products NULL (every product) or a JSON
 * array of product codes. */
int cin_field_define(cin_store *st, const cin_actor *a, const char *name, const char *type,
                     int required, const json_t *choices, const json_t *products, cin_problem *p);
int cin_field_delete(cin_store *st, const cin_actor *a, const char *name, cin_problem *p);
/*
 * Validate values ({"name": value}, may be NULL) for an order of product in
 * account_id: every required field present, every value of its type (a
 * number, one of the choices, text of 1 to 256 characters), no unknown
 * field.  *clean (caller frees) the values as strings.  400 with field
 * "fields.NAME" otherwise.
 */
/*
 * An ACME credential's preset of field values (an ACME client cannot fill
 * custom fields): with product, checked as an order of it would be (every
 * required field given); without (the credential's orders pick the DV
 * product that fits), each value against its field's type, no unknown field.
 * *clean as for cin_fields_check.
 */
int cin_fields_preset(cin_store *st, int64_t account_id, const char *product, const json_t *values,
                      json_t **clean, cin_problem *p);
/* The values of a stored preset (JSON text, may be NULL) that fields of
 * product still take; *values NULL when there is no preset. */
int cin_fields_preset_for(cin_store *st, int64_t account_id, const char *product,
                          const char *preset, json_t **values);
int cin_fields_check(cin_store *st, int64_t account_id, const char *product, const json_t *values,
                     json_t **clean, cin_problem *p);

#endif
