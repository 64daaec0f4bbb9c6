/*
 * cin_store_security.h - what the store keeps for logins an enterprise
 * trusts (issue 16): TOTP secrets (sealed) with the last step accepted,
 * recovery codes (SHA-256 hashes), client certificates a user registered,
 * and an account's enforced second factor and allowed peers.  Writers run in
 * the caller's transaction; the workflow is cin_security.h.
 */
#ifndef CIN_STORE_SECURITY_H
#define CIN_STORE_SECURITY_H

#include "cin_store.h"

/* A new, unconfirmed TOTP secret for user_id (replacing an unconfirmed one). */
int cin_store_totp_put(cin_store *st, int64_t user_id, const unsigned char *secret, size_t len);
/* The secret (malloc'd; free with cin_free_secret), whether it is confirmed,
 * and the last step accepted.  CIN_ENOTFOUND when the user has none. */
int cin_store_totp_get(cin_store *st, int64_t user_id, unsigned char **secret, size_t *len,
                       int *confirmed, uint64_t *last_step);
/* Record step as used (and the secret as confirmed) only when it is later
 * than the last one: CIN_ECONFLICT when it is not (a replay, or a race). */
int cin_store_totp_use(cin_store *st, int64_t user_id, uint64_t step);
/* Remove the user's TOTP secret and recovery codes. */
int cin_store_totp_delete(cin_store *st, int64_t user_id);
/* Replace the user's recovery codes by these hashes (hex SHA-256). */
int cin_store_recovery_put(cin_store *st, int64_t user_id, char **hashes, size_t n);
/* Use an unused recovery code of the user by its hash: CIN_OK, or CIN_ENOTFOUND. */
int cin_store_recovery_use(cin_store *st, int64_t user_id, const char *hash);

/* Set an account's security (require_2fa -1: keep; allowlist NULL: keep). */
int cin_store_account_set_security(cin_store *st, int64_t account_id, int require_2fa,
                                   const char *allowlist);

typedef struct cin_user_cert {
    int64_t id;
    int64_t user_id;
    char *sha256; /* lowercase hex, or NULL */
    char *issuer; /* with serial, or NULL */
    char *serial; /* lowercase hex */
    char *created_at;
} cin_user_cert;
void cin_user_cert_clear(cin_user_cert *c);
int cin_store_user_cert_add(cin_store *st, int64_t user_id, const char *sha256, const char *issuer,
                            const char *serial, int64_t *id);
/* The user a verified client certificate belongs to: by its fingerprint, or
 * by its issuer and serial.  CIN_ENOTFOUND when nobody registered it. */
int cin_store_user_cert_find(cin_store *st, const char *sha256, const char *issuer,
                             const char *serial, int64_t *user_id);
int cin_store_user_cert_list(cin_store *st, int64_t user_id, cin_user_cert **out, size_t *n);
void cin_user_cert_list_free(cin_user_cert *c, size_t n);
/* Delete a certificate of user_id; CIN_ENOTFOUND when it has none by that id. */
int cin_store_user_cert_delete(cin_store *st, int64_t user_id, int64_t id);

#endif
