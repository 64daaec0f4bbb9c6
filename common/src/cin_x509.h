/*
 * cin_x509.h - keys, CSRs and certificates (OpenSSL).
 */
#ifndef CIN_X509_H
#define CIN_X509_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cin_common.h"

/* The most certificates a chain may have, the leaf included: import refuses
 * more, and a handshake sends no more. */
#define CIN_CHAIN_MAX 10

/* 1 when key_type is one of ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096. */
int cin_valid_key_type(const char *key_type);
/* Every PEM read here refuses encrypted PEM (ENCRYPTED PRIVATE KEY, a
 * "Proc-Type: 4,ENCRYPTED" header): nothing asks for a passphrase. */

/* Generate a key; *pem is a secret (PKCS#8 PEM, free with cin_free_secret). */
int cin_key_generate(const char *key_type, char **pem);
EVP_PKEY *cin_key_from_pem(const char *pem);
/* The same for a stored PKCS#8 PEM key, read by its own type's parser
 * (EC, RSA) instead of OpenSSL's generic decoders: the handshake's cache
 * miss (key_load.c; key_type is informative). */
EVP_PKEY *cin_key_from_pem_typed(const char *pem, const char *key_type);
/* A certificate parsed for the handshake (d2i_X509 of der), its public key -
 * EC P-256/P-384, RSA 2048/3072/4096 - decoded by a key manager of
 * certinext's own that only compares and describes it (leaf_load.c);
 * *key_decoded is 1 then, and a leaf that does not match its private key
 * should be parsed again with d2i_X509 before it is called a mismatch.
 * Other keys: d2i_X509.  Such a certificate is for SSL_use_cert_and_key and
 * X509_check_private_key only: its key cannot sign, verify, be duplicated or
 * be written out (SSL_use_certificate refuses an EC one). */
X509 *cin_leaf_from_der(const unsigned char *der, long len, int *key_decoded);
/* The content of the DER element of tag at *p (one-byte tag, definite
 * length in its shortest form, up to 65535), *p moved past it, *len its
 * length; NULL when it is not there. */
const unsigned char *cin_der_elem(const unsigned char **p, const unsigned char *end, int tag,
                                  size_t *len);

/* Build and sign a CSR for names (names[0] is the subject CN). *csr_pem malloc'd. */
int cin_csr_build(const char *key_pem, char **names, size_t n, char **csr_pem);

/*
 * Check a customer's CSR against the input rules: PEM PKCS#10, valid
 * self-signature, RSA >= 2048 or ECDSA P-256/P-384, names (SAN dNSNames and
 * CN) equal as a set to names.  Returns CIN_OK, or CIN_EINVAL with *code set
 * to "invalid_csr" or "weak_key" and *err to what to fix.
 */
int cin_csr_check(const char *pem, char **names, size_t n, const char **code, char **err);

/* The key type of a CSR's public key as orders name it ("ec-p256", "rsa-3072");
 * CIN_EINVAL when the CSR does not parse.  Call after cin_csr_check. */
int cin_csr_key_type(const char *pem, char out[16]);

/* The key type of k as orders name it ("ec-p256", "rsa-2048"...): an RSA key
 * of any size reads "rsa-BITS"; CIN_EINVAL (out "") for other kinds and curves. */
int cin_key_type_of(EVP_PKEY *k, char out[16]);
/* Facts about the first certificate of a PEM chain. */
typedef struct cin_cert_facts {
    char serial[80];     /* lower-case hex, no separators; "-" first for a negative */
                         /* serial (RFC 5280 forbids them, OpenSSL reads them) */
    char sha256[65];     /* of the DER */
    char not_before[21]; /* RFC 3339 UTC */
    char not_after[21];
    char issuer[256]; /* one-line DN */
} cin_cert_facts;
int cin_cert_facts_get(const char *chain_pem, cin_cert_facts *out);

/* Parse every certificate of a PEM chain (leaf first). */
STACK_OF(X509) * cin_chain_parse(const char *pem);

#endif
