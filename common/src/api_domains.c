/* api_domains.c - POST /api/v1/domains and /api/v1/domains/{name}/verify (issue 14). */
#include <stdlib.h>
#include <string.h>

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
