/*
 * cin_crypto.h - randomness, hashes, secret sealing, passwords and tokens.
 *
 * Secrets at rest (private keys, CA keys, CA credentials) are sealed with
 * AES-256-GCM under a 32-byte key-encryption key (KEK).  The KEK lives in its
 * own file beside the store (PATH.key, mode 0600): it is the only secret
 * outside the store.  A sealed blob is
 *
 *     "CIN1" | nonce (12 bytes) | ciphertext | tag (16 bytes)
 *
 * and is bound to a caller-chosen label (GCM additional data), so a blob
 * moved to another row (another label) fails to open like a tampered one.
 */
#ifndef CIN_CRYPTO_H
#define CIN_CRYPTO_H

#include "cin_common.h"

#define CIN_KEK_LEN 32

typedef struct cin_kek {
    unsigned char key[CIN_KEK_LEN];
} cin_kek;

/* Fill buf with n cryptographically random bytes. CIN_OK or CIN_ERR. */
int cin_random(void *buf, size_t n);

/* SHA-256 of data as 64 lower-case hex characters plus NUL. */
void cin_sha256_hex(const void *data, size_t len, char out[65]);

/* Create a new random KEK file at path (O_EXCL, mode 0600).  CIN_EEXIST when
 * the file is already there. */
int cin_kek_create(const char *path, char **err);
/* Read the KEK from path.  Refuses a file that is not exactly 32 bytes or that
 * group or others may read (CIN_EPERM). */
int cin_kek_load(const char *path, cin_kek *kek, char **err);

/* Seal plaintext under kek, bound to label.  *out is malloc'd (*outlen set). */
int cin_seal(const cin_kek *kek, const char *label, const unsigned char *pt, size_t ptlen,
             unsigned char **out, size_t *outlen);
/* Open a sealed blob.  CIN_ECRYPTO when the blob was altered, the label
 * differs or the KEK is wrong; *out (malloc'd, NUL-terminated for
 * convenience, length *outlen) is only set on CIN_OK.  Free it with
 * cin_free_secret(). */
int cin_open(const cin_kek *kek, const char *label, const unsigned char *in, size_t inlen,
             unsigned char **out, size_t *outlen);
void cin_free_secret(void *p, size_t len);
/* The label a stored private key (private_keys.id) is sealed under: binding
 * the blob to its row, so that one key's blob copied over another's does not
 * open.  buf holds at least CIN_KEY_LABEL_MAX bytes. */
#define CIN_KEY_LABEL_MAX 40
void cin_key_label(char *buf, int64_t key_id);

/* Password hashing with scrypt (N=2^14, r=8, p=1, 16-byte salt).  The result
 * is a malloc'd self-describing string "$scrypt$ln=14,r=8,p=1$SALT$HASH". */
char *cin_password_hash(const char *password);
/* 1 when password matches the stored hash, 0 otherwise (constant time). */
int cin_password_verify(const char *password, const char *stored);

/*
 * API tokens look like "cin_PPPPPPPP_SSSS..." where P is a public prefix used
 * to find the row and S is 32 random bytes in base64url.  Only the prefix and
 * the SHA-256 of the whole token are stored.
 */
#define CIN_TOKEN_PREFIX_LEN 8
/* *token (malloc'd, free with cin_free_secret(tok, strlen(tok))) and prefix. */
int cin_token_generate(char **token, char prefix[CIN_TOKEN_PREFIX_LEN + 1]);
/* Extract the prefix of a token; CIN_EINVAL when it is not of our form. */
int cin_token_prefix(const char *token, char prefix[CIN_TOKEN_PREFIX_LEN + 1]);

#endif
