/* api_domains.c - POST /api/v1/domains and /api/v1/domains/{name}/verify (issue 14). */
#include <stdlib.h>
#include <string.h>

#include "cin_ca.h"
#include "cin_domain_claim.h"
#include "http_int.h"

static void claim_reply(http_ctx *c, int status, const cin_domain_claim_t *d, const char *state)
{
    json_t *j = json_object();

    json_object_set_new(j, "name", json_string(d->name));
    json_object_set_new(j, "status", json_string(state));
    json_object_set_new(j, "txt_name", json_string(d->txt_name));
    json_object_set_new(j, "txt_value", json_string(d->txt_value));
    http_json(c, status, j);
}

/* GET /api/v1/domains/claims: the account's pending claims (the page's steps). */
static void claims_list(http_ctx *c)
{
    cin_domain_claim_t *d = NULL;
    cin_problem p = {0};
    size_t n = 0, i;
    json_t *arr;

    if (cin_domain_claims(c->st, &c->actor, &d, &n, &p) != CIN_OK) {
        cin_domain_claims_free(d, n);
        http_problem_from(c, &p);
        return;
    }
    arr = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "name", d[i].name, "status",
                                             "pending", "txt_name", d[i].txt_name, "txt_value",
                                             d[i].txt_value));
    cin_domain_claims_free(d, n);
    http_json(c, 200, json_pack("{s:o}", "claims", arr));
}

/* GET /api/v1/distrust: how the account's certificates that depend on a
 * distrusted CA or root are being replaced (issue 14; admins). */
void api_distrust(http_ctx *c)
{
    cin_distrust_counts k;
    int rc;

    if (c->nseg != 1 || strcmp(c->req->method, "GET")) {
        http_problem(c, c->nseg != 1 ? 404 : 405, c->nseg != 1 ? "not_found" : "method_not_allowed",
                     c->nseg != 1 ? "no such resource" : "use GET");
        return;
    }
    if (!http_is_admin(c)) {
        http_problem(c, 403, "forbidden", "only an account's administrator sees this");
        return;
    }
    rc = cin_distrust_counts_of(c->st, c->actor.user->account_id, &k);
    if (rc != CIN_OK) {
        http_fail(c, rc);
        return;
    }
    http_json(c, 200,
              json_pack("{s:I, s:I, s:I, s:I, s:I}", "queued", (json_int_t)k.queued, "replacing",
                        (json_int_t)k.replacing, "replaced", (json_int_t)k.replaced, "failed",
                        (json_int_t)k.failed, "stranded", (json_int_t)k.stranded));
}

void api_domains(http_ctx *c)
{
    const char *m = c->req->method, *name = NULL;
    cin_domain_claim_t d;
    cin_problem p = {0};
    int rc;

    if (c->nseg == 1 && !strcmp(m, "GET")) {
        api_account(c); /* the account's domains */
        return;
    }
    if (c->nseg == 1 && !strcmp(m, "POST") && c->body && json_object_get(c->body, "account")) {
        api_account(c); /* {"name", "account"}: delegation to a sub-account (issue 16) */
        return;
    }
    if (c->nseg == 1 && !strcmp(m, "POST")) {
        if (http_body_str(c, "name", 1, &name))
            return;
        rc = cin_domain_claim(c->st, &c->actor, name, &d, &p);
        if (rc != CIN_OK) {
            http_problem_from(c, &p);
            return;
        }
        claim_reply(c, 201, &d, "pending");
        cin_domain_claim_clear(&d);
        return;
    }
    if (c->nseg == 2 && !strcmp(c->seg[1], "claims")) {
        if (strcmp(m, "GET")) {
            http_problem(c, 405, "method_not_allowed", "use GET");
            return;
        }
        claims_list(c);
        return;
    }
    if (c->nseg == 3 && !strcmp(c->seg[2], "verify")) {
        if (strcmp(m, "POST")) {
            http_problem(c, 405, "method_not_allowed", "use POST");
            return;
        }
        rc = cin_domain_verify(c->st, &c->actor, c->seg[1], &d, &p);
        if (rc != CIN_OK) {
            http_problem_from(c, &p);
            return;
        }
        claim_reply(c, 200, &d, "verified");
        cin_domain_claim_clear(&d);
        return;
    }
    if (c->nseg == 1) {
        http_problem(c, 405, "method_not_allowed", "use GET to list, POST to claim a domain");
        return;
    }
    http_problem(c, 404, "not_found", "no such resource");
}
