/*
 * cin_acmesrv.h - ACME credentials (External Account Binding) for the ACME
 * server that both modules serve at <mount>acme/ (acmesrv.c): what the REST
 * API and the CLI call.
 */
#ifndef CIN_ACMESRV_H
#define CIN_ACMESRV_H

#include <jansson.h>

#include "cin_account.h"
#include "cin_problem.h"
#include "cin_store.h"

typedef struct acmesrv_cred {
    int64_t id, user_id, account_id;
    char *key_id, *name, *product, *user, *created_by, *created_at;
    int auto_pay;
    char *fields; /* NULL, or the preset of custom field values (JSON object) */
} acmesrv_cred;

void acmesrv_cred_clear(acmesrv_cred *c);
/* An account's credentials (user_id 0: every user's), newest first. */
int acmesrv_cred_list(cin_store *st, int64_t account_id, int64_t user_id, acmesrv_cred **out,
                      size_t *n);
void acmesrv_cred_list_free(acmesrv_cred *c, size_t n);

/* ---- acmesrv_cred.c ---------------------------------------------------------- */

typedef struct acmesrv_cred_fields {
    const char *name;
    const char *product; /* NULL: the DV product that fits the names */
    int auto_pay;
    const char *user; /* NULL: the actor */
    /* NULL, or the custom field values ({"name": value}) every order made
     * with the credential carries: validated against the account's fields */
    const json_t *fields;
} acmesrv_cred_fields;

/* Create a credential; *hmac_b64 (base64url, no padding) is a secret shown once. */
int acmesrv_cred_create(cin_store *st, const cin_actor *a, int64_t account_id,
                        const acmesrv_cred_fields *f, acmesrv_cred *out, char **hmac_b64,
                        cin_problem *p);
/* The credentials the actor may see: an admin's account's, else their own. */
int acmesrv_cred_visible(cin_store *st, const cin_actor *a, acmesrv_cred **out, size_t *n,
                         cin_problem *p);
int acmesrv_cred_remove(cin_store *st, const cin_actor *a, int64_t id, cin_problem *p);
json_t *acmesrv_cred_json(const acmesrv_cred *c);

#endif
