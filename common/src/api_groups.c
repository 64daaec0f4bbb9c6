/* api_groups.c - /api/v1/groups and /api/v1/fields (issue 16). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_groups.h"
#include "cin_util.h"
#include "http_int.h"

static void answer(http_ctx *c, int rc, cin_problem *p, int status)
{
    if (rc != CIN_OK) {
        http_problem_from(c, p);
        return;
    }
    if (status == 204)
        http_no_content(c);
    else
        http_json(c, status, json_pack("{s:b}", "ok", 1));
}

void api_groups(http_ctx *c)
{
    const char *m = c->req->method, *name = NULL;
    cin_problem p = {0};
    json_t *list = NULL;
    int64_t acct;
    int rc;

    if (c->nseg == 1 && !strcmp(m, "GET")) {
        if (http_account_scope(c, &acct))
            return;
        rc = cin_store_group_list(c->st, acct, &list);
        if (rc != CIN_OK)
            http_fail(c, rc);
        else
            http_json(c, 200, json_pack("{s:o, s:n}", "groups", list, "next_cursor"));
    } else if (c->nseg == 1 && !strcmp(m, "POST")) {
        if (http_body_str(c, "name", 1, &name))
            return;
        answer(c, cin_group_create(c->st, &c->actor, name, &p), &p, 201);
    } else if (c->nseg == 3 && !strcmp(c->seg[2], "members") && !strcmp(m, "POST")) {
        if (http_body_str(c, "user", 1, &name))
            return;
        answer(c, cin_group_member(c->st, &c->actor, c->seg[1], name, 1, &p), &p, 200);
    } else if (c->nseg == 4 && !strcmp(c->seg[2], "members") && !strcmp(m, "DELETE")) {
        answer(c, cin_group_member(c->st, &c->actor, c->seg[1], c->seg[3], 0, &p), &p, 204);
    } else if (c->nseg == 3 && !strcmp(c->seg[2], "approves") && !strcmp(m, "POST")) {
        if (http_body_str(c, "product", 1, &name))
            return;
        answer(c, cin_group_approves(c->st, &c->actor, c->seg[1], name, &p), &p, 200);
    } else if (c->nseg == 4 && !strcmp(c->seg[2], "approves") && !strcmp(m, "DELETE")) {
        answer(c, cin_group_approves(c->st, &c->actor, NULL, c->seg[3], &p), &p, 204);
    } else {
        http_problem(c, 404, "not_found", "no such resource");
    }
}

void api_fields(http_ctx *c)
{
    const char *m = c->req->method, *name = NULL, *type = NULL;
    cin_problem p = {0};
    json_t *list = NULL, *choices, *products;
    int64_t acct;
    int required = 0, rc;

    if (c->nseg == 1 && !strcmp(m, "GET")) {
        if (http_account_scope(c, &acct))
            return;
        rc = cin_store_field_list(c->st, acct, &list);
        if (rc != CIN_OK)
            http_fail(c, rc);
        else
            http_json(c, 200, json_pack("{s:o, s:n}", "fields", list, "next_cursor"));
    } else if (c->nseg == 1 && !strcmp(m, "POST")) {
        if (http_body_str(c, "name", 1, &name) || http_body_str(c, "type", 1, &type) ||
            http_body_bool(c, "required", &required))
            return;
        choices = json_object_get(c->body, "choices");
        products = json_object_get(c->body, "products");
        rc = cin_field_define(c->st, &c->actor, name, type, required,
                              json_is_null(choices) ? NULL : choices,
                              json_is_null(products) ? NULL : products, &p);
        answer(c, rc, &p, 201);
    } else if (c->nseg == 2 && !strcmp(m, "DELETE")) {
        answer(c, cin_field_delete(c->st, &c->actor, c->seg[1], &p), &p, 204);
    } else {
        http_problem(c, 404, "not_found", "no such resource");
    }
}
