/* jws.c - JSON Web Signatures for ACME: ES256 account keys, JWK thumbprints, HS256 EAB. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>

#include "acme_int.h"
#include "cin_util.h"

static char *coord(EVP_PKEY *key, const char *param)
{
    unsigned char buf[32];
    BIGNUM *bn = NULL;
    char *out = NULL;

    if (EVP_PKEY_get_bn_param(key, param, &bn) == 1 && BN_bn2binpad(bn, buf, 32) == 32)
        out = cin_b64url_encode(buf, 32);
    BN_free(bn);
    return out;
}

json_t *jws_jwk(EVP_PKEY *key)
{
    char *x = coord(key, OSSL_PKEY_PARAM_EC_PUB_X), *y = coord(key, OSSL_PKEY_PARAM_EC_PUB_Y);
    json_t *j = NULL;

    if (x && y)
        j = json_pack("{s:s, s:s, s:s, s:s}", "crv", "P-256", "kty", "EC", "x", x, "y", y);
    free(x);
    free(y);
    return j;
}

char *jws_thumbprint(EVP_PKEY *key)
{
    json_t *jwk = jws_jwk(key);
    unsigned char md[32];
    unsigned int mdlen = 0;
    char *canon;

    if (!jwk)
        return NULL;
    /* RFC 7638: the required members, sorted, no whitespace */
    canon = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(jwk);
    if (!canon)
        return NULL;
    EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL);
    free(canon);
    return cin_b64url_encode(md, 32);
}

/* ES256: the DER ECDSA signature as the 64-byte r || s of JWA. */
static char *sign_es256(EVP_PKEY *key, const char *input)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80], raw[64];
    const unsigned char *p = der;
    size_t derlen = sizeof(der);
    ECDSA_SIG *sig = NULL;
    const BIGNUM *r, *s;
    char *out = NULL;

    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, strlen(input)) != 1)
        goto done;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (!sig)
        goto done;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
        goto done;
    out = cin_b64url_encode(raw, 64);
done:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    return out;
}

static char *b64json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT), *out;

    if (!s)
        return NULL;
    out = cin_b64url_encode((const unsigned char *)s, strlen(s));
    free(s);
    return out;
}

char *jws_es256(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                const char *payload)
{
    json_t *prot = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce, "url", url);
    char *p64 = NULL, *pl64 = NULL, *input = NULL, *sig = NULL, *out = NULL;
    json_t *body;

    if (!prot)
        return NULL;
    if (kid)
        json_object_set_new(prot, "kid", json_string(kid));
    else
        json_object_set_new(prot, "jwk", jws_jwk(key));
    p64 = b64json(prot);
    pl64 =
        payload ? cin_b64url_encode((const unsigned char *)payload, strlen(payload)) : strdup("");
    if (!p64 || !pl64)
        goto done;
    input = cin_asprintf("%s.%s", p64, pl64);
    sig = input ? sign_es256(key, input) : NULL;
    if (!sig)
        goto done;
    body = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", pl64, "signature", sig);
    out = json_dumps(body, JSON_COMPACT);
    json_decref(body);
done:
    json_decref(prot);
    free(p64);
    free(pl64);
    free(input);
    free(sig);
    return out;
}

json_t *jws_eab(const char *kid, const unsigned char *hmac, size_t hmac_len, const char *url,
                EVP_PKEY *account_key)
{
    json_t *prot = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "url", url);
    json_t *jwk = jws_jwk(account_key), *out = NULL;
    char *p64 = NULL, *pl64 = NULL, *input = NULL, *sig64 = NULL;
    unsigned char mac[32];
    unsigned int maclen = 0;

    if (!prot || !jwk)
        goto done;
    p64 = b64json(prot);
    pl64 = b64json(jwk);
    input = p64 && pl64 ? cin_asprintf("%s.%s", p64, pl64) : NULL;
    if (!input || !HMAC(EVP_sha256(), hmac, (int)hmac_len, (const unsigned char *)input,
                        strlen(input), mac, &maclen))
        goto done;
    sig64 = cin_b64url_encode(mac, maclen);
    if (sig64)
        out = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", pl64, "signature", sig64);
done:
    cin_memzero(mac, sizeof(mac));
    json_decref(prot);
    json_decref(jwk);
    free(p64);
    free(pl64);
    free(input);
    free(sig64);
    return out;
}
