/* api_security.c - /api/v1/totp and /api/v1/client-certificates (issue 16). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_security.h"
#include "cin_util.h"
#include "http_int.h"

/* POST /totp: start enrolment; the secret and its QR code, for this user only. */
static void totp_begin(http_ctx *c)
{
    cin_problem p = {0};
    char *uri = NULL, *svg = NULL, *b32 = NULL;
    json_t *j;

    if (cin_account_totp_begin(c->st, &c->actor, &uri, &svg, &b32, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    j = json_object();
    json_object_set_new(j, "otpauth_uri", json_string(uri));
    json_object_set_new(j, "secret", json_string(b32));
    json_object_set_new(j, "qr_svg", json_string(svg));
    cin_free_secret(uri, strlen(uri));
    cin_free_secret(b32, strlen(b32));
    free(svg);
    c->resp->secret = 1;
    http_json(c, 200, j);
}

/* POST /totp/confirm {"code"}: enrolled; the recovery codes, shown this once. */
static void totp_confirm(http_ctx *c)
{
    cin_problem p = {0};
    const char *code = NULL;
    char **codes = NULL;
    size_t n = 0, i;
    json_t *j, *arr;

    if (http_body_str(c, "code", 1, &code))
        return;
    if (cin_account_totp_confirm(c->st, &c->actor, code, &codes, &n, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    arr = json_array();
    for (i = 0; i < n; i++) {
        json_array_append_new(arr, json_string(codes[i]));
        cin_memzero(codes[i], strlen(codes[i]));
    }
    cin_strv_free(codes, n);
    j = json_object();
    json_object_set_new(j, "enrolled", json_true());
    json_object_set_new(j, "recovery_codes", arr);
    c->resp->secret = 1;
    http_json(c, 200, j);
}

void api_totp(http_ctx *c)
{
    const char *m = c->req->method;
    cin_problem p = {0};

    if (c->nseg == 1 && !strcmp(m, "GET")) {
        json_t *j = json_object();
        json_object_set_new(j, "enrolled", json_boolean(c->user.totp_enrolled));
        json_object_set_new(j, "required", json_boolean(c->user.account_requires_2fa));
        http_json(c, 200, j);
    } else if (c->nseg == 1 && !strcmp(m, "POST")) {
        totp_begin(c);
    } else if (c->nseg == 2 && !strcmp(c->seg[1], "confirm") && !strcmp(m, "POST")) {
        totp_confirm(c);
    } else if (c->nseg <= 2 && !strcmp(m, "DELETE")) {
        /* DELETE /totp {"code"|"password"}: one's own, with proof;
         * DELETE /totp/{user}: an administrator's reset of another user */
        int rc;
        if (c->nseg == 1 || !strcmp(c->seg[1], c->user.name)) {
            const char *code = NULL, *password = NULL;
            if (http_body_str(c, "code", 0, &code) || http_body_str(c, "password", 0, &password))
                return;
            rc = cin_account_totp_turn_off(c->st, &c->actor, code, password, &p);
        } else {
            rc = cin_account_totp_reset(c->st, &c->actor, c->seg[1], &p);
        }
        if (rc != CIN_OK)
            http_problem_from(c, &p);
        else
            http_no_content(c);
    } else if (c->nseg <= 2) {
        http_problem(c, 405, "method_not_allowed",
                     "GET, POST or DELETE /totp; POST /totp/confirm; DELETE /totp/{user}");
    } else {
        http_problem(c, 404, "not_found", "no such resource");
    }
}

static json_t *cert_json(const cin_user_cert *uc)
{
    json_t *j = json_object();

    json_object_set_new(j, "id", json_integer(uc->id));
    json_object_set_new(j, "sha256", uc->sha256 ? json_string(uc->sha256) : json_null());
    json_object_set_new(j, "issuer", uc->issuer ? json_string(uc->issuer) : json_null());
    json_object_set_new(j, "serial", uc->serial ? json_string(uc->serial) : json_null());
    json_object_set_new(j, "created_at", json_string(uc->created_at ? uc->created_at : ""));
    return j;
}

static void certs_list(http_ctx *c)
{
    cin_user_cert *list = NULL;
    size_t n = 0, i;
    json_t *arr, *j;
    int rc = cin_store_user_cert_list(c->st, c->user.id, &list, &n);

    if (rc != CIN_OK) {
        http_fail(c, rc);
        return;
    }
    arr = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(arr, cert_json(&list[i]));
    cin_user_cert_list_free(list, n);
    j = json_object();
    json_object_set_new(j, "client_certificates", arr);
    json_object_set_new(j, "next_cursor", json_null());
    http_json(c, 200, j);
}

/* POST {"sha256"} or {"issuer", "serial"} (or {"pem"}: its fingerprint) */
static void certs_add(http_ctx *c)
{
    const char *sha = NULL, *issuer = NULL, *serial = NULL, *pem = NULL;
    cin_client_cert parsed;
    cin_problem p = {0};
    int64_t id = 0;
    json_t *j;
    int rc;

    memset(&parsed, 0, sizeof(parsed));
    if (http_body_str(c, "sha256", 0, &sha) || http_body_str(c, "issuer", 0, &issuer) ||
        http_body_str(c, "serial", 0, &serial) || http_body_str(c, "pem", 0, &pem))
        return;
    if (pem && !sha) {
        if (cin_client_cert_parse(pem, &parsed) != CIN_OK) {
            http_problem_field(c, "pem", "the certificate does not parse as PEM");
            return;
        }
        sha = parsed.sha256;
    }
    rc = cin_account_cert_register(c->st, &c->actor, sha, issuer, serial, &id, &p);
    if (rc != CIN_OK) {
        cin_client_cert_clear(&parsed);
        http_problem_from(c, &p);
        return;
    }
    j = json_object();
    json_object_set_new(j, "id", json_integer(id));
    json_object_set_new(j, "sha256", sha ? json_string(sha) : json_null());
    cin_client_cert_clear(&parsed);
    http_json(c, 201, j);
}

void api_client_certs(http_ctx *c)
{
    const char *m = c->req->method;
    cin_problem p = {0};

    if (c->nseg == 1 && !strcmp(m, "GET")) {
        certs_list(c);
    } else if (c->nseg == 1 && !strcmp(m, "POST")) {
        certs_add(c);
    } else if (c->nseg == 2 && !strcmp(m, "DELETE")) {
        char *end;
        long long id = strtoll(c->seg[1], &end, 10);
        if (*end || id <= 0)
            http_problem(c, 404, "not_found", "no certificate %s", c->seg[1]);
        else if (cin_account_cert_delete(c->st, &c->actor, id, &p) != CIN_OK)
            http_problem_from(c, &p);
        else
            http_no_content(c);
    } else if (c->nseg <= 2) {
        http_problem(c, 405, "method_not_allowed",
                     "GET or POST /client-certificates; DELETE /client-certificates/{id}");
    } else {
        http_problem(c, 404, "not_found", "no such resource");
    }
}
