/* api_accounts.c - /api/v1/accounts: sub-accounts, their rules and credits (issue 16). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_security.h"
#include "cin_util.h"
#include "http_int.h"

int http_account_scope(http_ctx *c, int64_t *account_id)
{
    cin_problem p = {0};
    cin_account a;
    char name[80];

    *account_id = c->user.account_id;
    if (!http_query(c, "account", name, sizeof(name)) || !*name)
        return 0;
    if (cin_account_visible(c->st, &c->actor, name, &a, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return -1;
    }
    *account_id = a.id;
    cin_account_clear(&a);
    return 0;
}

static json_t *ip_list(const char *text)
{
    json_t *arr = json_array();
    const char *p = text ? text : "";

    while (*p) {
        size_t n = strcspn(p, ",");
        json_array_append_new(arr, json_stringn(p, n));
        p += n;
        if (*p)
            p++;
    }
    return arr;
}

static json_t *account_json(const cin_account *a)
{
    json_t *j = json_object();

    json_object_set_new(j, "name", json_string(a->name));
    json_object_set_new(j, "parent", a->parent ? json_string(a->parent) : json_null());
    json_object_set_new(j, "credits", json_integer(a->credits));
    json_object_set_new(j, "billing", json_string(a->billing ? a->billing : "prepaid"));
    json_object_set_new(j, "requires_parent_approval", json_boolean(a->requires_parent_approval));
    json_object_set_new(j, "auto_policy", json_boolean(a->auto_policy));
    json_object_set_new(j, "require_2fa", json_boolean(a->require_2fa));
    json_object_set_new(j, "ip_allowlist", ip_list(a->ip_allowlist));
    json_object_set_new(j, "created_at", json_string(a->created_at ? a->created_at : ""));
    return j;
}

static void reply_account(http_ctx *c, int status, const char *name)
{
    cin_problem p = {0};
    cin_account a;

    if (cin_account_visible(c->st, &c->actor, name, &a, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    http_json(c, status, account_json(&a));
    cin_account_clear(&a);
}

/* GET: the caller's account and, for an administrator, every account below it. */
static void list_accounts(http_ctx *c)
{
    cin_account *list = NULL, own;
    size_t n = 0, i;
    json_t *arr = json_array(), *j;
    int rc = cin_store_account_get_id(c->st, c->user.account_id, &own);

    if (rc == CIN_OK) {
        json_array_append_new(arr, account_json(&own));
        if (http_is_admin(c))
            rc = cin_store_account_descendants(c->st, own.path, &list, &n);
        cin_account_clear(&own);
    }
    if (rc != CIN_OK) {
        json_decref(arr);
        http_fail(c, rc);
        return;
    }
    for (i = 0; i < n; i++)
        json_array_append_new(arr, account_json(&list[i]));
    cin_account_list_free(list, n);
    j = json_object();
    json_object_set_new(j, "accounts", arr);
    json_object_set_new(j, "next_cursor", json_null());
    http_json(c, 200, j);
}

/* POST {"name", "parent"?, "admin": {"name", "password"}} */
static void create_account(http_ctx *c)
{
    cin_problem p = {0};
    const char *name = NULL, *parent = NULL, *admin = NULL, *password = NULL;
    json_t *adm = json_object_get(c->body, "admin");

    if (http_body_str(c, "name", 1, &name) || http_body_str(c, "parent", 0, &parent))
        return;
    if (!json_is_object(adm) || !json_is_string(json_object_get(adm, "name")) ||
        !json_is_string(json_object_get(adm, "password"))) {
        http_problem_field(c, "admin",
                           "give the sub-account's first administrator: {\"name\", \"password\"}");
        return;
    }
    admin = json_string_value(json_object_get(adm, "name"));
    password = json_string_value(json_object_get(adm, "password"));
    if (cin_account_create_sub(c->st, &c->actor, name, parent, admin, password, NULL, &p) !=
        CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    reply_account(c, 201, name);
}

/* PATCH {"requires_parent_approval"?, "billing"?, "auto_policy"?} (the parent's side)
 * and {"require_2fa"?, "ip_allowlist"?} (the account's own administrators too) */
static void patch_account(http_ctx *c, const char *name)
{
    cin_problem p = {0};
    const char *billing = NULL, *allow = NULL;
    int rpa = -1, pol = -1, tfa = -1, rc = CIN_OK;
    json_t *al = json_object_get(c->body, "ip_allowlist");
    char *joined = NULL;

    if (http_body_bool(c, "requires_parent_approval", &rpa) ||
        http_body_str(c, "billing", 0, &billing) || http_body_bool(c, "auto_policy", &pol) ||
        http_body_bool(c, "require_2fa", &tfa))
        return;
    if (al && json_is_array(al)) {
        /* a list of CIDRs: the core takes them comma separated */
        size_t i, len = 0;
        joined = calloc(1, 4097);
        for (i = 0; joined && i < json_array_size(al); i++) {
            const char *e = json_string_value(json_array_get(al, i));
            if (!e || len + strlen(e) + 2 > 4096) {
                free(joined);
                http_problem_field(c, "ip_allowlist", "give a list of CIDR blocks as strings");
                return;
            }
            len += (size_t)snprintf(joined + len, 4097 - len, "%s%s", len ? "," : "", e);
        }
        allow = joined;
    } else if (al) {
        http_problem_field(c, "ip_allowlist", "give a list of CIDR blocks, [] for none");
        return;
    }
    if (allow) {
        /* the whole request is checked before anything changes (a review finding:
         * a bad allowlist left the billing change applied) */
        char *norm = NULL, *bad = NULL;
        rc = cin_ip_allowlist_parse(allow, &norm, &bad);
        free(norm);
        if (rc == CIN_EINVAL)
            http_problem_field(c, "ip_allowlist", "%s is not an IPv4 or IPv6 address or CIDR block",
                               bad ? bad : "an entry");
        else if (rc != CIN_OK)
            http_fail(c, rc);
        free(bad);
        if (rc != CIN_OK) {
            free(joined);
            return;
        }
    }
    if (rpa >= 0 || billing || pol >= 0)
        rc = cin_account_set_rules(c->st, &c->actor, name, rpa, billing, pol, &p);
    if (rc == CIN_OK && (tfa >= 0 || allow))
        rc = cin_account_set_security(c->st, &c->actor, name, tfa, allow, &p);
    free(joined);
    if (rc != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    reply_account(c, 200, name);
}

/* POST {"amount"}: from the caller's account to this one, below it. */
static void move_credits(http_ctx *c, const char *name)
{
    cin_problem p = {0};
    int64_t amount = 0;

    if (!json_object_get(c->body, "amount")) {
        http_problem_field(c, "amount", "give the number of credits to move");
        return;
    }
    if (http_body_int(c, "amount", 1, 1000000000000LL, &amount))
        return;
    if (cin_account_credits_transfer(c->st, &c->actor, name, amount, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    reply_account(c, 200, name);
}

/* POST {"parent"}: re-parenting, by the provider's side (an administrator above). */
static void move_account(http_ctx *c, const char *name)
{
    cin_problem p = {0};
    const char *parent = NULL;

    if (http_body_str(c, "parent", 1, &parent))
        return;
    if (cin_account_move(c->st, &c->actor, name, parent, NULL, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    reply_account(c, 200, name);
}

void api_accounts(http_ctx *c)
{
    const char *m = c->req->method;

    if (c->nseg == 1 && !strcmp(m, "GET"))
        list_accounts(c);
    else if (c->nseg == 1 && !strcmp(m, "POST"))
        create_account(c);
    else if (c->nseg == 2 && !strcmp(m, "GET"))
        reply_account(c, 200, c->seg[1]);
    else if (c->nseg == 2 && !strcmp(m, "PATCH"))
        patch_account(c, c->seg[1]);
    else if (c->nseg == 3 && !strcmp(c->seg[2], "credits") && !strcmp(m, "POST"))
        move_credits(c, c->seg[1]);
    else if (c->nseg == 3 && !strcmp(c->seg[2], "move") && !strcmp(m, "POST"))
        move_account(c, c->seg[1]);
    else if (c->nseg <= 3)
        http_problem(c, 405, "method_not_allowed",
                     "GET or POST /accounts; GET or PATCH /accounts/{name}; POST "
                     "/accounts/{name}/credits or /accounts/{name}/move");
    else
        http_problem(c, 404, "not_found", "no such resource");
}
