/* acme_int.h - JWS and HTTP helpers of the ACME connector; not a public header. */
#ifndef CIN_ACME_INT_H
#define CIN_ACME_INT_H

#include <jansson.h>
#include <openssl/evp.h>

/* The account key's public JWK ({"crv","kty","x","y"}), new reference. */
json_t *jws_jwk(EVP_PKEY *key);
/* base64url(SHA-256 of the JWK's canonical form): the thumbprint (RFC 7638). */
char *jws_thumbprint(EVP_PKEY *key);
/* A flattened JWS (RFC 7515) signed with ES256 (P-256 key).  Exactly one of
 * kid / jwk is used in the protected header.  payload NULL: POST-as-GET. */
char *jws_es256(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                const char *payload);
/* The externalAccountBinding object: HS256 over the account JWK. */
json_t *jws_eab(const char *kid, const unsigned char *hmac, size_t hmac_len, const char *url,
                EVP_PKEY *account_key);

#endif
