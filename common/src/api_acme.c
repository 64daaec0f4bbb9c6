/* api_acme.c - /api/v1/acme/credentials: the credentials customers' ACME clients bind with. */
#include <stdlib.h>
#include <string.h>

#include "acmesrv_int.h"
#include "cin_crypto.h"
#include "http_int.h"

static void cred_create(http_ctx *c)
{
    acmesrv_cred_fields f = {0};
    cin_problem p = {0};
    acmesrv_cred cred;
    char *hmac = NULL, *dir;
    json_t *j;

    if (http_body_str(c, "name", 1, &f.name) || http_body_str(c, "product", 0, &f.product) ||
        http_body_bool(c, "auto_pay", &f.auto_pay) || http_body_str(c, "user", 0, &f.user))
        return;
    f.fields = json_object_get(c->body, "fields");
    if (f.fields && !json_is_object(f.fields)) {
        http_problem_field(c, "fields", "fields is an object of name: value");
        return;
    }
    if (acmesrv_cred_create(c->st, &c->actor, c->user.account_id, &f, &cred, &hmac, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    j = acmesrv_cred_json(&cred);
    json_object_set_new(j, "hmac_key", json_string(hmac));
    dir = acmesrv_url(c->req, "directory");
    json_object_set_new(j, "directory", dir ? json_string(dir) : json_null());
    free(dir);
    cin_free_secret(hmac, strlen(hmac));
    acmesrv_cred_clear(&cred);
    c->resp->secret = 1; /* the HMAC key */
    http_json(c, 201, j);
}

void api_acme(http_ctx *c)
{
    cin_problem p = {0};

    if (c->nseg < 2 || strcmp(c->seg[1], "credentials") || c->nseg > 3) {
        http_problem(c, 404, "not_found", "no such resource");
    } else if (c->nseg == 2 && !strcmp(c->req->method, "GET")) {
        acmesrv_cred *list = NULL;
        size_t n = 0, i;
        json_t *arr, *j;
        char *dir;
        if (acmesrv_cred_visible(c->st, &c->actor, &list, &n, &p) != CIN_OK) {
            http_problem_from(c, &p);
            return;
        }
        arr = json_array();
        for (i = 0; i < n; i++)
            json_array_append_new(arr, acmesrv_cred_json(&list[i]));
        acmesrv_cred_list_free(list, n);
        j = json_object();
        json_object_set_new(j, "credentials", arr);
        dir = acmesrv_url(c->req, "directory");
        json_object_set_new(j, "directory", dir ? json_string(dir) : json_null());
        free(dir);
        http_json(c, 200, j);
    } else if (c->nseg == 2 && !strcmp(c->req->method, "POST")) {
        cred_create(c);
    } else if (c->nseg == 3 && !strcmp(c->req->method, "DELETE")) {
        char *end;
        long long id = strtoll(c->seg[2], &end, 10);
        if (*end || id <= 0)
            http_problem(c, 404, "not_found", "no ACME credential %s", c->seg[2]);
        else if (acmesrv_cred_remove(c->st, &c->actor, id, &p) != CIN_OK)
            http_problem_from(c, &p);
        else
            http_no_content(c);
    } else {
        http_problem(c, 405, "method_not_allowed",
                     "use GET or POST /acme/credentials, DELETE /acme/credentials/{id}");
    }
}
