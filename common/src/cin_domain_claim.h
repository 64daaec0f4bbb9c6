/*
 * cin_domain_claim.h - self-service domain claims proven by a DNS TXT record
 * (issue 14; domain_claim.c).
 */
#ifndef CIN_DOMAIN_CLAIM_H
#define CIN_DOMAIN_CLAIM_H

#include "cin_account.h"
#include "cin_problem.h"

typedef struct cin_domain_claim_t {
    char *name;      /* the claimed name, normalised */
    char *txt_name;  /* _certinext-challenge.NAME */
    char *txt_value; /* the value to publish there */
} cin_domain_claim_t;

/* The public suffix list read (Debian's publicsuffix); tests may point it elsewhere. */
extern const char *cin_psl_path;
/* 1 when name is a public suffix, 0 when not, -1 when the list cannot be read. */
int cin_public_suffix(const char *name);

/* An administrator claims name for the account: the TXT record to publish.
 * 400 invalid_domain (a public suffix too), 403, 409 conflict (the account's
 * already, or another account owns it, a parent or a subdomain of it). */
int cin_domain_claim(cin_store *st, const cin_actor *a, const char *name, cin_domain_claim_t *out,
                     cin_problem *p);
/* Look the record up; when it is there the account owns name.  400
 * not_verified naming the record expected, 404 without a claim, 409. */
int cin_domain_verify(cin_store *st, const cin_actor *a, const char *name, cin_domain_claim_t *out,
                      cin_problem *p);
void cin_domain_claim_clear(cin_domain_claim_t *c);
/* The account's pending claims (admins), oldest first: *out malloc'd, n of
 * them, each with name, txt_name and txt_value; cin_domain_claims_free. */
int cin_domain_claims(cin_store *st, const cin_actor *a, cin_domain_claim_t **out, size_t *n,
                      cin_problem *p);
void cin_domain_claims_free(cin_domain_claim_t *c, size_t n);

#endif
