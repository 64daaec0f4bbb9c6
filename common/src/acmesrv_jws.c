/*
 * acmesrv_jws.c - what ACME clients sign, verified: flattened JWS (RFC 7515)
 * with RS256, ES256, ES384 or EdDSA (Ed25519), the JWK of the key (RFC 7517,
 * RFC 8037), its thumbprint (RFC 7638), and the MAC of an External Account
 * Binding (RFC 8555 section 7.3.4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#include "acmesrv_int.h"
#include "cin_crypto.h"
#include "cin_util.h"

/* base64url without padding, and nothing else (RFC 7515 section 2). */
static int b64url_strict(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return 0;
    return 1;
}

/* Decode s only when it is the one canonical encoding of its bytes (no
 * stray low bits): a key has one JWK, so one thumbprint. */
static unsigned char *b64dec(const char *s, size_t *len)
{
    unsigned char *raw;
    char *again;

    if (!s || !b64url_strict(s))
        return NULL;
    raw = cin_b64url_decode(s, len);
    if (!raw)
        return NULL;
    again = cin_b64url_encode(raw, *len);
    if (!again || strcmp(again, s)) {
        free(raw);
        raw = NULL;
    }
    free(again);
    return raw;
}

void acmesrv_jws_clear(acmesrv_jws *j)
{
    json_decref(j->hdr);
    free(j->payload);
    free(j->signing_input);
    free(j->sig);
    memset(j, 0, sizeof(*j));
}

int acmesrv_alg_ok(const char *alg)
{
    return alg && (!strcmp(alg, "RS256") || !strcmp(alg, "ES256") || !strcmp(alg, "ES384") ||
                   !strcmp(alg, "EdDSA"));
}

static const char *str_member(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

int acmesrv_jws_parse(json_t *obj, acmesrv_jws *out, const char **detail)
{
    const char *prot, *payload, *sig;
    unsigned char *raw = NULL;
    size_t len = 0;
    json_t *v;

    memset(out, 0, sizeof(*out));
    *detail = "the request is not a flattened JWS";
    if (!json_is_object(obj) || json_object_size(obj) > 3 || json_object_get(obj, "header"))
        return CIN_EINVAL; /* no unprotected header (RFC 8555 section 6.2) */
    prot = str_member(obj, "protected");
    payload = str_member(obj, "payload");
    sig = str_member(obj, "signature");
    if (!prot || !payload || !sig || !*prot || !*sig)
        return CIN_EINVAL;
    *detail = "the JWS's protected header is not base64url-encoded JSON";
    raw = b64dec(prot, &len);
    if (!raw)
        return CIN_EINVAL;
    out->hdr = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (!json_is_object(out->hdr))
        goto bad;
    out->alg = str_member(out->hdr, "alg");
    out->nonce = str_member(out->hdr, "nonce");
    out->url = str_member(out->hdr, "url");
    out->kid = str_member(out->hdr, "kid");
    v = json_object_get(out->hdr, "jwk");
    out->jwk = json_is_object(v) ? v : NULL;
    *detail = "the JWS's protected header has no \"alg\"";
    if (!out->alg)
        goto bad;
    *detail = "the JWS's payload is not base64url";
    if (*payload) {
        raw = b64dec(payload, &len);
        if (!raw)
            goto bad;
        out->payload = malloc(len + 1);
        if (!out->payload) {
            free(raw);
            goto bad;
        }
        memcpy(out->payload, raw, len);
        out->payload[len] = '\0';
        out->payload_len = len;
        free(raw);
    } else {
        out->payload = strdup("");
    }
    *detail = "the JWS's signature is not base64url";
    out->sig = b64dec(sig, &out->sig_len);
    out->signing_input = cin_asprintf("%s.%s", prot, payload);
    if (!out->sig || !out->payload || !out->signing_input)
        goto bad;
    *detail = NULL;
    return CIN_OK;
bad:
    acmesrv_jws_clear(out);
    return CIN_EINVAL;
}

int acmesrv_jws_parse_text(const char *body, size_t len, acmesrv_jws *out, const char **detail)
{
    json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    int rc;

    if (!obj) {
        memset(out, 0, sizeof(*out));
        *detail = "the request body is not JSON";
        return CIN_EINVAL;
    }
    rc = acmesrv_jws_parse(obj, out, detail);
    json_decref(obj);
    return rc;
}

/* ---- keys ----------------------------------------------------------------- */

static BIGNUM *bn_member(json_t *jwk, const char *name)
{
    size_t len = 0;
    unsigned char *raw = b64dec(str_member(jwk, name), &len);
    BIGNUM *bn = raw && len ? BN_bin2bn(raw, (int)len, NULL) : NULL;

    free(raw);
    return bn;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    EVP_PKEY *key = NULL;

    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return key;
}

/* The member's big-endian octets have no leading zero. */
static int minimal(json_t *jwk, const char *name)
{
    size_t len = 0;
    unsigned char *raw = b64dec(str_member(jwk, name), &len);
    int ok = raw && len && raw[0] != 0;

    free(raw);
    return ok;
}

static EVP_PKEY *rsa_key(json_t *jwk)
{
    BIGNUM *n = bn_member(jwk, "n"), *e = bn_member(jwk, "e");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *key = NULL;

    /* minimal octets (RFC 7518 section 6.3.1), 2048 bits at least */
    if (n && e && bld && minimal(jwk, "n") && minimal(jwk, "e") && BN_num_bits(n) >= 2048 &&
        BN_num_bits(n) <= 8192 && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        key = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return key;
}

static EVP_PKEY *ec_key(json_t *jwk)
{
    const char *crv = str_member(jwk, "crv");
    size_t xl = 0, yl = 0, size;
    unsigned char *x = NULL, *y = NULL, pt[1 + 2 * 48];
    const char *group;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *key = NULL;

    if (crv && !strcmp(crv, "P-256")) {
        group = "prime256v1";
        size = 32;
    } else if (crv && !strcmp(crv, "P-384")) {
        group = "secp384r1";
        size = 48;
    } else {
        return NULL;
    }
    x = b64dec(str_member(jwk, "x"), &xl);
    y = b64dec(str_member(jwk, "y"), &yl);
    if (x && y && xl == size && yl == size && (bld = OSSL_PARAM_BLD_new())) {
        pt[0] = 4; /* uncompressed point */
        memcpy(pt + 1, x, size);
        memcpy(pt + 1 + size, y, size);
        if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * size))
            key = from_params("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return key;
}

static EVP_PKEY *okp_key(json_t *jwk)
{
    const char *crv = str_member(jwk, "crv");
    size_t xl = 0;
    unsigned char *x;
    EVP_PKEY *key = NULL;

    if (!crv || strcmp(crv, "Ed25519"))
        return NULL;
    x = b64dec(str_member(jwk, "x"), &xl);
    if (x && xl == 32)
        key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
    free(x);
    return key;
}

EVP_PKEY *acmesrv_jwk_key(json_t *jwk)
{
    const char *kty = str_member(jwk, "kty");

    if (!kty || json_object_get(jwk, "d"))
        return NULL; /* never a private key */
    if (!strcmp(kty, "RSA"))
        return rsa_key(jwk);
    if (!strcmp(kty, "EC"))
        return ec_key(jwk);
    if (!strcmp(kty, "OKP"))
        return okp_key(jwk);
    return NULL;
}

char *acmesrv_jwk_thumbprint(json_t *jwk)
{
    const char *kty = str_member(jwk, "kty");
    const char *crv = str_member(jwk, "crv"), *x = str_member(jwk, "x"), *y = str_member(jwk, "y");
    const char *n = str_member(jwk, "n"), *e = str_member(jwk, "e");
    unsigned char md[32];
    char *canon = NULL, *out;

    /* the required members in lexicographic order, no white space (RFC 7638) */
    if (kty && !strcmp(kty, "RSA") && n && e && b64url_strict(n) && b64url_strict(e))
        canon = cin_asprintf("{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
    else if (kty && !strcmp(kty, "EC") && crv && x && y && b64url_strict(x) && b64url_strict(y) &&
             (!strcmp(crv, "P-256") || !strcmp(crv, "P-384")))
        canon =
            cin_asprintf("{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", crv, x, y);
    else if (kty && !strcmp(kty, "OKP") && crv && !strcmp(crv, "Ed25519") && x && b64url_strict(x))
        canon = cin_asprintf("{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    if (!canon)
        return NULL;
    EVP_Digest(canon, strlen(canon), md, NULL, EVP_sha256(), NULL);
    free(canon);
    out = cin_b64url_encode(md, sizeof(md));
    return out;
}

static json_t *bn_json(const BIGNUM *bn, size_t pad)
{
    size_t len = (size_t)BN_num_bytes(bn) > pad ? (size_t)BN_num_bytes(bn) : pad;
    unsigned char *buf = malloc(len ? len : 1);
    char *s;
    json_t *j;

    if (!buf || BN_bn2binpad(bn, buf, (int)len) < 0) {
        free(buf);
        return NULL;
    }
    s = cin_b64url_encode(buf, len);
    free(buf);
    j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

json_t *acmesrv_key_jwk(EVP_PKEY *key)
{
    json_t *j = json_object();
    BIGNUM *a = NULL, *b = NULL;
    char group[32];
    unsigned char raw[64];
    size_t len = sizeof(raw);

    if (EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &a) &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &b)) {
        json_object_set_new(j, "kty", json_string("RSA"));
        json_object_set_new(j, "n", bn_json(a, 0));
        json_object_set_new(j, "e", bn_json(b, 0));
    } else if (EVP_PKEY_is_a(key, "EC") &&
               EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                              NULL) &&
               EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a) &&
               EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b)) {
        size_t size = !strcmp(group, "secp384r1") ? 48 : 32;
        json_object_set_new(j, "kty", json_string("EC"));
        json_object_set_new(j, "crv", json_string(size == 48 ? "P-384" : "P-256"));
        json_object_set_new(j, "x", bn_json(a, size));
        json_object_set_new(j, "y", bn_json(b, size));
    } else if (EVP_PKEY_is_a(key, "ED25519") && EVP_PKEY_get_raw_public_key(key, raw, &len)) {
        char *x = cin_b64url_encode(raw, len);
        json_object_set_new(j, "kty", json_string("OKP"));
        json_object_set_new(j, "crv", json_string("Ed25519"));
        json_object_set_new(j, "x", json_string(x));
        free(x);
    } else {
        json_decref(j);
        j = NULL;
    }
    BN_free(a);
    BN_free(b);
    return j;
}

/* ---- signatures -------------------------------------------------------------- */

/* ES256/ES384 signatures are r||s (RFC 7518 section 3.4); OpenSSL wants DER. */
static unsigned char *ecdsa_der(const unsigned char *sig, size_t len, size_t size, size_t *outlen)
{
    ECDSA_SIG *es;
    BIGNUM *r, *s;
    unsigned char *der = NULL;
    int n;

    if (len != 2 * size)
        return NULL;
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int)size, NULL);
    s = BN_bin2bn(sig + size, (int)size, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NULL;
    }
    n = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (n <= 0)
        return NULL;
    *outlen = (size_t)n;
    return der;
}

static int key_bits_ec(EVP_PKEY *key, const char *want)
{
    char group[32];

    return EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                          NULL) &&
           !strcmp(group, want);
}

int acmesrv_jws_verify(const acmesrv_jws *j, EVP_PKEY *key)
{
    const EVP_MD *md = NULL;
    unsigned char *der = NULL;
    const unsigned char *sig = j->sig;
    size_t siglen = j->sig_len;
    EVP_MD_CTX *ctx;
    int ok = 0;

    if (!key || !acmesrv_alg_ok(j->alg))
        return 0;
    if (!strcmp(j->alg, "RS256")) {
        if (!EVP_PKEY_is_a(key, "RSA"))
            return 0;
        md = EVP_sha256();
    } else if (!strcmp(j->alg, "ES256") || !strcmp(j->alg, "ES384")) {
        int p384 = !strcmp(j->alg, "ES384");
        if (!key_bits_ec(key, p384 ? "secp384r1" : "prime256v1"))
            return 0;
        md = p384 ? EVP_sha384() : EVP_sha256();
        der = ecdsa_der(j->sig, j->sig_len, p384 ? 48 : 32, &siglen);
        if (!der)
            return 0;
        sig = der;
    } else if (!EVP_PKEY_is_a(key, "ED25519")) {
        return 0;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1)
        ok = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)j->signing_input,
                              strlen(j->signing_input)) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

int acmesrv_eab_mac_ok(const acmesrv_jws *eab, const unsigned char *hmac, size_t len)
{
    const EVP_MD *md;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    if (!strcmp(eab->alg, "HS256"))
        md = EVP_sha256();
    else if (!strcmp(eab->alg, "HS384"))
        md = EVP_sha384();
    else if (!strcmp(eab->alg, "HS512"))
        md = EVP_sha512();
    else
        return 0;
    if (!HMAC(md, hmac, (int)len, (const unsigned char *)eab->signing_input,
              strlen(eab->signing_input), mac, &maclen))
        return 0;
    return maclen == eab->sig_len && CRYPTO_memcmp(mac, eab->sig, maclen) == 0;
}
