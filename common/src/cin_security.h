/*
 * cin_security.h - logins an enterprise trusts (issue 16): TOTP second
 * factor with recovery codes, an account's enforced second factor and its
 * allowlist of peer addresses, and login with a registered client
 * certificate.  Each change is one transaction with its audit event, as in
 * cin_account.h.
 */
#ifndef CIN_SECURITY_H
#define CIN_SECURITY_H

#include "cin_account.h"
#include "cin_store_security.h"

#define CIN_RECOVERY_CODES 10

/* ---- peer allowlists ----------------------------------------------------- */

/* 1 when peer (an IPv4 or IPv6 address as the server saw it) is within one
 * of list's CIDRs (comma separated; a bare address is one host), or list is
 * empty; 0 otherwise (an unparsable peer is never allowed by a list). */
int cin_ip_allowed(const char *list, const char *peer);
/* Check and normalise a list given as a JSON-ish comma-separated text: *out
 * (malloc'd) "" or "cidr,cidr"; CIN_EINVAL with *bad (malloc'd) the entry. */
int cin_ip_allowlist_parse(const char *in, char **out, char **bad);

/* Set an account's enforced second factor (-1: keep) and allowlist (NULL:
 * keep; "" clears): its own administrators, those of an account above it,
 * or the provider. */
int cin_account_set_security(cin_store *st, const cin_actor *a, const char *account,
                             int require_2fa, const char *allowlist, cin_problem *p);

/* ---- TOTP ----------------------------------------------------------------------- */

/* Start (or restart, while unconfirmed) the actor's enrolment: a new secret,
 * its otpauth:// URI, the URI as a QR code (SVG) and the secret in base32.
 * 409 when the user is already enrolled (reset first). */
int cin_account_totp_begin(cin_store *st, const cin_actor *a, char **uri, char **svg,
                           char **secret_b32, cin_problem *p);
/* Confirm with a code from the app: enrolled, and CIN_RECOVERY_CODES
 * recovery codes in *codes, shown this once (free with cin_strv_free). */
int cin_account_totp_confirm(cin_store *st, const cin_actor *a, const char *code, char ***codes,
                             size_t *n, cin_problem *p);
/* Remove user's TOTP: the user, or an administrator of the user's account
 * (or above it), or the provider. */
int cin_account_totp_reset(cin_store *st, const cin_actor *a, const char *user, cin_problem *p);
/* The user turns their own second factor off, proving it with a current code,
 * a recovery code or the password (a session or token alone is not enough). */
int cin_account_totp_turn_off(cin_store *st, const cin_actor *a, const char *code,
                              const char *password, cin_problem *p);

/* ---- client certificates ------------------------------------------------------ */

/* Register a certificate for the actor: by SHA-256 fingerprint (64 hex) or by
 * issuer and serial (hex). */
int cin_account_cert_register(cin_store *st, const cin_actor *a, const char *sha256,
                              const char *issuer, const char *serial, int64_t *id, cin_problem *p);
int cin_account_cert_delete(cin_store *st, const cin_actor *a, int64_t id, cin_problem *p);

/* ---- the login ------------------------------------------------------------------ */

/* A client certificate the server verified (the glue passes one only then). */
typedef struct cin_client_cert {
    const char *sha256; /* lowercase hex of the DER */
    const char *issuer; /* RFC 2253 text */
    const char *serial; /* lowercase hex */
} cin_client_cert;

/* The fields of a PEM certificate (malloc'd; cin_client_cert_clear frees them). */
int cin_client_cert_parse(const char *pem, cin_client_cert *out);
void cin_client_cert_clear(cin_client_cert *c);

typedef struct cin_login_request {
    const char *name;            /* may be NULL with cert: the certificate names the user */
    const char *password;        /* NULL: log in with cert instead */
    const char *totp;            /* the second factor: a 6-digit code or a recovery code */
    const cin_client_cert *cert; /* NULL: none, or not verified */
    const char *peer;
    int ttl;
} cin_login_request;

/*
 * cin_account_login with a second factor and the account's rules: after the
 * password (or the registered certificate) is right, a peer outside the
 * account's allowlist is refused (403 forbidden, audited); an enrolled user
 * needs a TOTP code (401 totp_required when missing, 401 unauthorized when
 * wrong or already used; a recovery code works once).  out->user says
 * whether the account enforces a second factor the user has not enrolled
 * (the page then walks the user through enrolment).
 */
int cin_account_login_ex(cin_store *st, const cin_login_request *r, cin_login *out, cin_problem *p);

#endif
