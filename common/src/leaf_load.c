/*
 * leaf_load.c - parsing a served certificate on the handshake's cache miss.
 *
 * OpenSSL 3.0 decodes a certificate's public key while it parses the
 * certificate, through a decoder context built anew for every key out of
 * every decoder and key manager of the library context (3.1 and later cache
 * it): measured at about 85 us of the 92 us d2i_X509 takes for a P-256
 * certificate on this project's machines.  The handshake never uses the
 * certificate's public key for cryptography - the server signs with its
 * private key - only to check that the two match and to read the key's type,
 * curve, point format and size.
 *
 * So a miss parses the leaf in a library context of its own whose only
 * provider is the one below: decoders for the SubjectPublicKeyInfo of the
 * keys orders and imports use - EC P-256 and P-384 (named curve,
 * uncompressed point: what every CA issues) and RSA of 2048, 3072 and 4096
 * bits - and key managers that keep the key's bytes and answer the
 * parameters TLS asks for (type, size, security bits, curve, point format).
 * Everything else in the certificate is parsed and cached by OpenSSL as
 * d2i_X509 does, in the default library context.  Comparing the key with the
 * private key (X509_check_private_key, SSL_use_cert_and_key) exports the
 * private key's public half into this key manager (there is no export the
 * other way), once per key.  Any other key (another curve or size, explicit
 * parameters, a compressed point, RSA-PSS) is not decoded here, and the
 * caller parses the leaf the usual way; so does a leaf whose key does not
 * match the private key by these bytes.
 *
 * The library context is per process, created on first use and never freed
 * (certificates parsed in it may outlive every cache that parsed them: a
 * connection holds its certificate).  It holds pointers into this module, so
 * only a process that never unloads the module may create it: nginx's
 * workers (the module is linked -z nodelete) and httpd's children, which
 * exit without unloading it - never httpd's parent, which unloads modules on
 * a restart (cin_tls, the only caller, is made in child_init).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "cin_x509.h"

#define PROV_NAME "certinext-leaf"
#define EC_NAMES  "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define RSA_NAMES "RSA:rsaEncryption:1.2.840.113549.1.1.1"

/* The SubjectPublicKeyInfo of a named-curve EC key with an uncompressed
 * point, up to the point: SEQUENCE { SEQUENCE { id-ecPublicKey, curve },
 * BIT STRING { 0 unused bits, 04 X Y } }. */
struct curve {
    const char *group; /* OpenSSL's name */
    int nid;
    int bits, security_bits, max_size; /* max_size: of an ECDSA signature */
    size_t point_len;
    size_t prefix_len;
    unsigned char prefix[32];
};

static const struct curve curves[] = {
    {"prime256v1", NID_X9_62_prime256v1, 256, 128, 72, 65, 26, {0x30, 0x59, 0x30, 0x13, 0x06, 0x07,
                                                                0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
                                                                0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                                                0xce, 0x3d, 0x03, 0x01, 0x07, 0x03,
                                                                0x42, 0x00}},
    {"secp384r1", NID_secp384r1, 384, 192, 104, 97, 23, {0x30, 0x76, 0x30, 0x10, 0x06, 0x07,
                                                         0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
                                                         0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
                                                         0x00, 0x22, 0x03, 0x62, 0x00}},
};
#define NCURVES (sizeof(curves) / sizeof(curves[0]))

/* The RSA moduli orders and imports use, with the security OpenSSL 3.0
 * gives them (RSA_security_bits). */
static const struct {
    int bits, security_bits;
} moduli[] = {{2048, 112}, {3072, 128}, {4096, 152}};
#define NMODULI (sizeof(moduli) / sizeof(moduli[0]))

/* rsaEncryption's AlgorithmIdentifier, NULL parameters */
static const unsigned char rsa_alg[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                        0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};

#define MAX_SPKI 600 /* an RSA 4096 key's is 550 bytes */

enum { KIND_EC, KIND_RSA };

struct leaf_key {
    int kind;
    const struct curve *curve; /* EC */
    int bits, security_bits;   /* RSA */
    size_t len, elen;
    unsigned char *pub; /* the EC point, or the RSA modulus (no leading zero) */
    unsigned char e[4]; /* the RSA public exponent, big-endian, elen bytes */
};

static OSSL_FUNC_BIO_read_ex_fn *core_read;

/* ---- the key manager: a public key, compared by its bytes --------------- */

static void *key_new(int kind)
{
    struct leaf_key *k = calloc(1, sizeof(*k));

    if (k)
        k->kind = kind;
    return k;
}

static void *km_new_ec(void *provctx)
{
    (void)provctx;
    return key_new(KIND_EC);
}

static void *km_new_rsa(void *provctx)
{
    (void)provctx;
    return key_new(KIND_RSA);
}

static void km_free(void *keydata)
{
    struct leaf_key *k = keydata;

    if (k)
        free(k->pub);
    free(k);
}

static int km_has(const void *keydata, int selection)
{
    const struct leaf_key *k = keydata;

    return k && k->pub && !(selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY);
}

static int km_match(const void *a, const void *b, int selection)
{
    const struct leaf_key *x = a, *y = b;

    if (!x->pub || !y->pub || x->kind != y->kind || x->curve != y->curve)
        return 0;
    if (selection & OSSL_KEYMGMT_SELECT_KEYPAIR)
        return x->len == y->len && !memcmp(x->pub, y->pub, x->len) && x->elen == y->elen &&
               !memcmp(x->e, y->e, x->elen);
    return 1;
}

static const struct curve *curve_named(const char *name)
{
    int nid = OBJ_sn2nid(name);
    size_t i;

    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    for (i = 0; i < NCURVES; i++)
        if (curves[i].nid == nid)
            return &curves[i];
    return NULL;
}

/* The RSA modulus n and exponent e as k's (refused: sizes not in moduli[],
 * an exponent over 4 bytes). */
static int rsa_set(struct leaf_key *k, const unsigned char *n, size_t nlen, const unsigned char *e,
                   size_t elen)
{
    int bits;
    size_t i;

    if (nlen == 0 || n[0] == 0 || elen == 0 || elen > sizeof(k->e) || e[0] == 0)
        return 0;
    for (bits = (int)nlen * 8; !(n[0] & (0x80 >> ((int)nlen * 8 - bits))); bits--)
        ;
    for (i = 0; i < NMODULI && moduli[i].bits != bits; i++)
        ;
    if (i == NMODULI || !(k->pub = malloc(nlen)))
        return 0;
    memcpy(k->pub, n, nlen);
    k->len = nlen;
    memcpy(k->e, e, elen);
    k->elen = elen;
    k->bits = bits;
    k->security_bits = moduli[i].security_bits;
    return 1;
}

static int ec_set(struct leaf_key *k, const struct curve *c, const unsigned char *pt, size_t len)
{
    if (!c || len != c->point_len || pt[0] != 0x04 || !(k->pub = malloc(len)))
        return 0;
    memcpy(k->pub, pt, len);
    k->len = len;
    k->curve = c;
    return 1;
}

/* Only the public half of what is imported (the private key being compared
 * with a certificate) is kept. */
static int km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    struct leaf_key *k = keydata;

    if (!k || k->pub || !(selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY))
        return 0;
    if (k->kind == KIND_EC) {
        const OSSL_PARAM *g = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
        const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY);
        const char *name = NULL;
        const void *pt = NULL;
        size_t len = 0;

        return g && p && OSSL_PARAM_get_utf8_string_ptr(g, &name) &&
               OSSL_PARAM_get_octet_string_ptr(p, &pt, &len) &&
               ec_set(k, curve_named(name), pt, len);
    } else {
        const OSSL_PARAM *pn = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_N);
        const OSSL_PARAM *pe = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E);
        BIGNUM *n = NULL, *e = NULL;
        unsigned char nb[512], eb[4];
        int ok = pn && pe && OSSL_PARAM_get_BN(pn, &n) && OSSL_PARAM_get_BN(pe, &e) &&
                 BN_num_bytes(n) <= (int)sizeof(nb) && BN_num_bytes(e) <= (int)sizeof(eb) &&
                 rsa_set(k, nb, (size_t)BN_bn2bin(n, nb), eb, (size_t)BN_bn2bin(e, eb));

        BN_free(n);
        BN_free(e);
        return ok;
    }
}

static const OSSL_PARAM ec_import_types[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM rsa_import_types[] = {
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *km_import_types_ec(int selection)
{
    return selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY ? ec_import_types : NULL;
}

static const OSSL_PARAM *km_import_types_rsa(int selection)
{
    return selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY ? rsa_import_types : NULL;
}

static int set_bn(OSSL_PARAM *p, const unsigned char *b, size_t len)
{
    BIGNUM *bn = BN_bin2bn(b, (int)len, NULL);
    int ok = bn && OSSL_PARAM_set_BN(p, bn);

    BN_free(bn);
    return ok;
}

static int km_get_params(void *keydata, OSSL_PARAM params[])
{
    const struct leaf_key *k = keydata;
    const struct curve *c;
    OSSL_PARAM *p;
    int ec;

    if (!k || !k->pub)
        return 0;
    c = k->curve;
    ec = k->kind == KIND_EC;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS)) &&
        !OSSL_PARAM_set_int(p, ec ? c->bits : k->bits))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS)) &&
        !OSSL_PARAM_set_int(p, ec ? c->security_bits : k->security_bits))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE)) &&
        !OSSL_PARAM_set_int(p, ec ? c->max_size : (int)k->len))
        return 0;
    if (!ec)
        return (!(p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_N)) ||
                set_bn(p, k->pub, k->len)) &&
               (!(p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_E)) ||
                set_bn(p, k->e, k->elen));
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_GROUP_NAME)) &&
        !OSSL_PARAM_set_utf8_string(p, c->group))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT)) &&
        !OSSL_PARAM_set_utf8_string(p, "uncompressed"))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_FIELD_TYPE)) &&
        !OSSL_PARAM_set_utf8_string(p, SN_X9_62_prime_field))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PUB_KEY)) &&
        !OSSL_PARAM_set_octet_string(p, k->pub, k->len))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY)) &&
        !OSSL_PARAM_set_octet_string(p, k->pub, k->len))
        return 0;
    return 1;
}

static const OSSL_PARAM ec_gettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_FIELD_TYPE, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM rsa_gettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *km_gettable_ec(void *provctx)
{
    (void)provctx;
    return ec_gettable;
}

static const OSSL_PARAM *km_gettable_rsa(void *provctx)
{
    (void)provctx;
    return rsa_gettable;
}

/* The decoder hands its key over by reference (see decoded). */
static void *km_load(const void *reference, size_t reference_sz)
{
    struct leaf_key *k = NULL;

    if (reference_sz != sizeof(k))
        return NULL;
    k = *(struct leaf_key **)reference;
    *(struct leaf_key **)reference = NULL;
    return k;
}

#define KEYMGMT_FNS(kind)                                                                          \
    {                                                                                              \
        {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new_##kind},                                    \
            {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free},                                     \
            {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_load},                                     \
            {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has},                                       \
            {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match},                                   \
            {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import},                                 \
            {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_import_types_##kind},              \
            {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params},                         \
            {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_gettable_##kind},               \
        {                                                                                          \
            0, NULL                                                                                \
        }                                                                                          \
    }

static const OSSL_DISPATCH keymgmt_ec[] = KEYMGMT_FNS(ec);
static const OSSL_DISPATCH keymgmt_rsa[] = KEYMGMT_FNS(rsa);

/* ---- the decoders: DER SubjectPublicKeyInfo -> leaf_key ----------------- */

static void *dec_newctx(void *provctx)
{
    return provctx;
}

static void dec_freectx(void *ctx)
{
    (void)ctx;
}

static int dec_does_selection(void *provctx, int selection)
{
    (void)provctx;
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY);
}

/* The SubjectPublicKeyInfo the decoder was given (at most MAX_SPKI bytes;
 * a longer one reads as MAX_SPKI + 1, which no key here has). */
static size_t read_spki(OSSL_CORE_BIO *cin, unsigned char *buf)
{
    size_t len = 0, n = 0;

    while (len < MAX_SPKI + 1 && core_read(cin, buf + len, MAX_SPKI + 1 - len, &n) && n > 0)
        len += n;
    return len;
}

/* Hand k to the framework (the key manager's load takes it). */
static int decoded(struct leaf_key *k, const char *type, OSSL_CALLBACK *data_cb, void *data_cbarg)
{
    int object = OSSL_OBJECT_PKEY, ok;
    OSSL_PARAM params[4];

    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, (char *)type, 0);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof(k));
    params[3] = OSSL_PARAM_construct_end();
    ok = data_cb(params, data_cbarg);
    km_free(k); /* NULL when the key manager took it */
    return ok;
}

/* A key a decoder does not recognise is not an error: it returns 1 without
 * an object, and the certificate is left without a decoded key. */
static int dec_decode_ec(void *ctx, OSSL_CORE_BIO *cin, int selection, OSSL_CALLBACK *data_cb,
                         void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    unsigned char buf[MAX_SPKI + 1];
    size_t len = read_spki(cin, buf), i;
    struct leaf_key *k;

    (void)ctx, (void)selection, (void)pw_cb, (void)pw_cbarg;
    for (i = 0; i < NCURVES; i++)
        if (len == curves[i].prefix_len + curves[i].point_len &&
            !memcmp(buf, curves[i].prefix, curves[i].prefix_len))
            break;
    if (i == NCURVES || !(k = key_new(KIND_EC)))
        return 1;
    if (!ec_set(k, &curves[i], buf + curves[i].prefix_len, curves[i].point_len)) {
        km_free(k);
        return 1;
    }
    return decoded(k, "EC", data_cb, data_cbarg);
}

/* SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { 0 unused bits,
 * SEQUENCE { INTEGER n, INTEGER e } } }, in DER (positive, shortest). */
static int dec_decode_rsa(void *ctx, OSSL_CORE_BIO *cin, int selection, OSSL_CALLBACK *data_cb,
                          void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    unsigned char buf[MAX_SPKI + 1];
    size_t len = read_spki(cin, buf), n;
    const unsigned char *p = buf, *end = buf + len, *v, *nb, *eb;
    size_t nlen, elen;
    struct leaf_key *k;

    (void)ctx, (void)selection, (void)pw_cb, (void)pw_cbarg;
    if (len > MAX_SPKI || !(v = cin_der_elem(&p, end, 0x30, &n)) || p != end)
        return 1;
    p = v;
    end = v + n;
    if (!(v = cin_der_elem(&p, end, 0x30, &n)) || n != sizeof(rsa_alg) || memcmp(v, rsa_alg, n) ||
        !(v = cin_der_elem(&p, end, 0x03, &n)) || p != end || n < 1 || v[0] != 0)
        return 1;
    p = v + 1;
    end = v + n;
    if (!(v = cin_der_elem(&p, end, 0x30, &n)) || p != end)
        return 1;
    p = v;
    end = v + n;
    if (!(nb = cin_der_elem(&p, end, 0x02, &nlen)) || !(eb = cin_der_elem(&p, end, 0x02, &elen)) ||
        p != end || nlen < 2 || elen < 1)
        return 1;
    /* positive, shortest: a leading zero only before a high bit */
    if ((nb[0] & 0x80) || (eb[0] & 0x80) || (nb[0] == 0 && !(nb[1] & 0x80)) ||
        (elen > 1 && eb[0] == 0 && !(eb[1] & 0x80)))
        return 1;
    if (nb[0] == 0)
        nb++, nlen--;
    if (!(k = key_new(KIND_RSA)))
        return 1;
    if (!rsa_set(k, nb, nlen, eb, elen)) {
        km_free(k);
        return 1;
    }
    return decoded(k, "RSA", data_cb, data_cbarg);
}

#define DECODER_FNS(kind)                                                                          \
    {                                                                                              \
        {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx},                                    \
            {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx},                              \
            {OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))dec_does_selection},                \
            {OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_decode_##kind},                         \
        {                                                                                          \
            0, NULL                                                                                \
        }                                                                                          \
    }

static const OSSL_DISPATCH decoder_ec[] = DECODER_FNS(ec);
static const OSSL_DISPATCH decoder_rsa[] = DECODER_FNS(rsa);

/* ---- the provider ------------------------------------------------------- */

#define DECODER_PROPS "provider=" PROV_NAME ",input=der,structure=SubjectPublicKeyInfo"

static const OSSL_ALGORITHM keymgmts[] = {
    {EC_NAMES, "provider=" PROV_NAME, keymgmt_ec, "EC public keys of served certificates"},
    {RSA_NAMES, "provider=" PROV_NAME, keymgmt_rsa, "RSA public keys of served certificates"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM decoders[] = {
    {EC_NAMES, DECODER_PROPS, decoder_ec, "EC SubjectPublicKeyInfo"},
    {RSA_NAMES, DECODER_PROPS, decoder_rsa, "RSA SubjectPublicKeyInfo"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *prov_query(void *provctx, int operation_id, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    if (operation_id == OSSL_OP_KEYMGMT)
        return keymgmts;
    if (operation_id == OSSL_OP_DECODER)
        return decoders;
    return NULL;
}

static const OSSL_DISPATCH prov_fns[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query},
    {0, NULL},
};

static int prov_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                     const OSSL_DISPATCH **out, void **provctx)
{
    static int ctx_token;

    (void)handle;
    for (; in->function_id; in++)
        if (in->function_id == OSSL_FUNC_BIO_READ_EX)
            core_read = OSSL_FUNC_BIO_read_ex(in);
    if (!core_read)
        return 0;
    *out = prov_fns;
    *provctx = &ctx_token;
    return 1;
}

/* The content of the DER element of tag at *p (one-byte tag, definite
 * length up to 65535), *p moved past it; NULL when it is not there. */
const unsigned char *cin_der_elem(const unsigned char **p, const unsigned char *end, int tag,
                                  size_t *len)
{
    const unsigned char *q = *p;
    size_t n;

    if (end - q < 2 || *q++ != tag)
        return NULL;
    n = *q++;
    if (n == 0x81 || n == 0x82) {
        size_t k = n - 0x80;
        if ((size_t)(end - q) < k)
            return NULL;
        n = k == 1 ? q[0] : ((size_t)q[0] << 8 | q[1]);
        q += k;
        if (n < (k == 1 ? 0x80u : 0x100u))
            return NULL; /* not the shortest form (DER) */
    } else if (n > 0x7f) {
        return NULL;
    }
    if ((size_t)(end - q) < n)
        return NULL;
    *p = q + n;
    *len = n;
    return q;
}

static OSSL_LIB_CTX *leaf_ctx;
static pthread_once_t leaf_once = PTHREAD_ONCE_INIT;

static void leaf_ctx_init(void)
{
    OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();

    if (c && OSSL_PROVIDER_add_builtin(c, PROV_NAME, prov_init) &&
        OSSL_PROVIDER_load(c, PROV_NAME)) {
        leaf_ctx = c;
        return;
    }
    OSSL_LIB_CTX_free(c);
    ERR_clear_error();
}

X509 *cin_leaf_from_der(const unsigned char *der, long len, int *key_decoded)
{
    const unsigned char *p = der;
    X509 *x = NULL;

    *key_decoded = 0;
    pthread_once(&leaf_once, leaf_ctx_init);
    if (leaf_ctx)
        x = (X509 *)ASN1_item_d2i_ex(NULL, &p, len, ASN1_ITEM_rptr(X509), leaf_ctx, NULL);
    if (x && X509_get0_pubkey(x)) {
        *key_decoded = 1;
        return x;
    }
    X509_free(x);
    ERR_clear_error();
    p = der;
    return d2i_X509(NULL, &p, len);
}
