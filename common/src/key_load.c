/*
 * key_load.c - parsing a stored private key on the handshake's cache miss.
 *
 * OpenSSL 3.0's generic readers (PEM_read_bio_PrivateKey, d2i_PrivateKey,
 * d2i_AutoPrivateKey) first build a decoder context out of every decoder of
 * every loaded provider, for each key: measured on this project's machines
 * at about 0.24 ms for a P-256 key, before the key is used once; RSA keys
 * cost more.  The stored form is always PKCS#8 (PEM "PRIVATE KEY", what
 * cin_key_generate and the import write), so the miss reads the envelope by
 * its ASN.1 template and the key inside by its own type's parser: an EC key
 * in the shape OpenSSL writes is made from its numbers (read from the SEC1
 * DER) on a copy of a group this process built once (see ec_key_shared);
 * other SEC1 keys go through the legacy EC_KEY reader, PKCS#1 RSAPrivateKey
 * through the RSA one, and then into the provider.
 *
 * The type-specific parsers are the ones OpenSSL 3 marks deprecated (they
 * stay in 3.x); anything else - another key type, an encrypted or unusual
 * key - goes the generic way.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "cin_util.h"
#include "cin_x509.h"

/* The named curve of an EC key's AlgorithmIdentifier, or NID_undef
 * (explicit curve parameters: the generic way). */
static int curve_of(const X509_ALGOR *alg)
{
    const void *pval = NULL;
    int ptype = 0;

    X509_ALGOR_get0(NULL, &ptype, &pval, alg);
    return ptype == V_ASN1_OBJECT ? OBJ_obj2nid(pval) : NID_undef;
}

static EVP_PKEY *ec_key(const X509_ALGOR *alg, const unsigned char *der, int len)
{
    int nid = curve_of(alg);
    EC_KEY *ec;
    EVP_PKEY *k;

    if (nid == NID_undef)
        return NULL;
    ec = EC_KEY_new_by_curve_name(nid);
    if (!ec || !d2i_ECPrivateKey(&ec, &der, len)) {
        EC_KEY_free(ec);
        return NULL;
    }
    k = EVP_PKEY_new();
    if (!k || EVP_PKEY_assign_EC_KEY(k, ec) != 1) {
        EC_KEY_free(ec);
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

static int host_little_endian(void)
{
    const unsigned one = 1;

    return *(const unsigned char *)&one == 1;
}

/*
 * An EC key the handshake signs with, made on a copy of a group built once.
 *
 * Building a named curve's group (EC_GROUP_new_by_curve_name) is most of
 * what making an EC key costs: 9.6 us of the 17.9 us EVP_PKEY_fromdata takes
 * for P-256 on this project's machines, the provider building it by name for
 * every key.  Copying a built group takes 0.6 us.  So the key is an EC_KEY
 * on a copy of a group this process built once per curve, set from the
 * numbers the SEC1 structure holds (2.1 us in all).
 *
 * OpenSSL 3.0 would copy an ordinary EC_KEY into its provider at the key's
 * first use - building the group again - unless the key has a method of its
 * own: then it is "foreign" and used by the EVP_PKEY methods of old, which
 * sign through the key's method.  The method here is a copy of OpenSSL's own
 * (EC_KEY_METHOD_new of EC_KEY_OpenSSL): the same signing code the provider
 * calls (ECDSA_sign_ex through the key's method), nothing replaced.  A
 * handshake uses the key for the signature and reads its curve, size and
 * point format, which the EVP layer answers from the EC_KEY; comparing it
 * with the certificate exports it to the certificate's key manager, which
 * keeps only its public half (leaf_load.c; a certificate parsed the generic
 * way gets a full copy in OpenSSL's, freed with the key).  Being foreign, it
 * signs with the default library code whatever library context or property
 * query (a FIPS one) the server's SSL_CTX names; certinext does not support
 * a FIPS-only configuration.
 *
 * The secret number is range-checked (0 < d < the group's order) and set
 * with EC_KEY_set_private_key, which marks it constant-time and pads it to
 * the order's size, as the provider's import does.
 *
 * The groups and the method are made once per process and never freed
 * (keys made on them may outlive every cache); they hold no pointer into
 * this module, so a module unloaded on httpd's restart leaves nothing
 * dangling.
 */
/* the curves of the key types stored (cin_valid_key_type) */
static const int shared_nids[] = {NID_X9_62_prime256v1, NID_secp384r1};
#define NSHARED (sizeof(shared_nids) / sizeof(shared_nids[0]))
static EC_GROUP *shared_groups[NSHARED];
static EC_KEY_METHOD *shared_method;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void shared_init(void)
{
    size_t i;

    shared_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
    for (i = 0; shared_method && i < NSHARED; i++)
        shared_groups[i] = EC_GROUP_new_by_curve_name(shared_nids[i]);
    ERR_clear_error();
}

static EVP_PKEY *ec_key_shared(int nid, const unsigned char *priv, size_t privlen,
                               const unsigned char *pub, size_t publen)
{
    const EC_GROUP *group = NULL;
    EC_KEY *ec = NULL;
    EVP_PKEY *k = NULL;
    BIGNUM *d = NULL;
    size_t i;
    int ok;

    pthread_once(&shared_once, shared_init);
    for (i = 0; i < NSHARED; i++)
        if (shared_nids[i] == nid)
            group = shared_groups[i];
    if (!group || !shared_method || privlen > INT_MAX)
        return NULL;
    ok = (d = BN_secure_new()) != NULL && BN_bin2bn(priv, (int)privlen, d) != NULL &&
         !BN_is_zero(d) && BN_cmp(d, EC_GROUP_get0_order(group)) < 0 &&
         (ec = EC_KEY_new()) != NULL && EC_KEY_set_method(ec, shared_method) == 1 &&
         EC_KEY_set_group(ec, group) == 1 && EC_KEY_oct2key(ec, pub, publen, NULL) == 1 &&
         EC_KEY_set_private_key(ec, d) == 1 && (k = EVP_PKEY_new()) != NULL &&
         EVP_PKEY_assign_EC_KEY(k, ec) == 1;
    BN_clear_free(d);
    if (!ok) {
        EC_KEY_free(ec); /* clears the private key */
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

/*
 * A SEC1 ECPrivateKey that carries its public key, uncompressed, and no
 * curve of its own (what OpenSSL's PKCS#8 writer stores), made from its
 * numbers: on a shared group (above) for the curves orders use, else
 * straight into the provider, its group made once, by name, in the import.
 * The legacy reader below builds the group twice (once for the EC_KEY, again
 * in the provider), which took half of a key's time.  NULL when the
 * structure is anything else (the legacy reader decides).
 */
static EVP_PKEY *ec_key_direct(int nid, const unsigned char *der, int len)
{
    const unsigned char *p = der, *end = der + len, *seq, *priv, *pub, *v;
    size_t n, privlen, publen, vlen;
    unsigned char native[66];
    OSSL_PARAM params[4];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *k = NULL;
    const char *group = OBJ_nid2sn(nid);
    int little;

    if (!(seq = cin_der_elem(&p, end, 0x30, &n)) || p != end)
        return NULL;
    p = seq;
    end = seq + n;
    if (!(v = cin_der_elem(&p, end, 0x02, &vlen)) || vlen != 1 || v[0] != 1 ||
        !(priv = cin_der_elem(&p, end, 0x04, &privlen)) || privlen == 0 || privlen > sizeof(native))
        return NULL;
    /* curve parameters inside ([0], which OpenSSL's writer leaves out)
     * would override the envelope's: the legacy reader's business */
    v = cin_der_elem(&p, end, 0xa1, &n);
    if (!v || p != end)
        return NULL;
    p = v;
    if (!(pub = cin_der_elem(&p, v + n, 0x03, &publen)) || p != v + n || publen < 2 ||
        pub[0] != 0 || pub[1] != 0x04)
        return NULL; /* an uncompressed point, as OpenSSL writes it */
    if (!group)
        return NULL;
    if ((k = ec_key_shared(nid, priv, privlen, pub + 1, publen - 1)) != NULL)
        return k;
    ERR_clear_error();
    /* the scalar in the host's byte order, as an OSSL_PARAM number wants it
     * (copied byte for byte: no big-number arithmetic on the secret) */
    little = host_little_endian();
    for (n = 0; n < privlen; n++)
        native[n] = little ? priv[privlen - 1 - n] : priv[n];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
    params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, privlen);
    params[2] =
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(pub + 1), publen - 1);
    params[3] = OSSL_PARAM_construct_end();
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params);
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_cleanse(native, sizeof(native));
    return k;
}

static EVP_PKEY *rsa_key(const unsigned char *der, int len)
{
    RSA *r = d2i_RSAPrivateKey(NULL, &der, len);
    EVP_PKEY *k = r ? EVP_PKEY_new() : NULL;

    if (!k || EVP_PKEY_assign_RSA(k, r) != 1) {
        RSA_free(r);
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

/* A provider key made from a legacy one: what OpenSSL would otherwise make
 * at the key's first use and keep beside the legacy copy (2 KB more for
 * each key in the cache). */
static EVP_PKEY *to_provider(EVP_PKEY *legacy, const char *type)
{
    OSSL_PARAM *params = NULL, *p;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *k = NULL;

    if (EVP_PKEY_todata(legacy, EVP_PKEY_KEYPAIR, &params) == 1 &&
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) != NULL &&
        EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params);
    EVP_PKEY_CTX_free(ctx);
    for (p = params; p && p->key; p++)
        OPENSSL_cleanse(p->data, p->data_size); /* the private key's numbers */
    OSSL_PARAM_free(params);
    EVP_PKEY_free(legacy);
    return k;
}

/* The key in a PKCS#8 PrivateKeyInfo (DER), or NULL when it is of a kind
 * this fast path does not read. */
static EVP_PKEY *from_pkcs8(const unsigned char *der, long len)
{
    const unsigned char *p = der, *inner = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);
    const ASN1_OBJECT *obj = NULL;
    const X509_ALGOR *alg = NULL;
    EVP_PKEY *k = NULL;
    int inlen = 0;

    if (p8 && p == der + len && PKCS8_pkey_get0(&obj, &inner, &inlen, &alg, p8)) {
        switch (OBJ_obj2nid(obj)) {
        case NID_X9_62_id_ecPublicKey:
            k = ec_key_direct(curve_of(alg), inner, inlen);
            if (!k && (k = ec_key(alg, inner, inlen)) != NULL)
                k = to_provider(k, "EC");
            break;
        case NID_rsaEncryption:
            k = rsa_key(inner, inlen);
            k = k ? to_provider(k, "RSA") : NULL;
            break;
        default:
            break;
        }
    }
    PKCS8_PRIV_KEY_INFO_free(p8); /* wipes the key octets it held */
    return k;
}

/*
 * The base64 body of pem when its first PEM block is a well-formed "PRIVATE
 * KEY" block: lines of at most 64 base64 characters, padding only at the
 * end, begin and end lines alone on their lines.  Anything else is left to
 * the generic reader, so that both read the same texts (fuzz_pem checks it).
 */
static int pkcs8_body(const char *pem, const char **body, size_t *n)
{
    static const char begin[] = "-----BEGIN PRIVATE KEY-----", end[] = "-----END PRIVATE KEY-----";
    const char *b = strstr(pem, "-----BEGIN"), *p, *e;
    size_t line = 0;
    int pad = 0;

    if (!b || (b != pem && b[-1] != '\n') || strncmp(b, begin, sizeof(begin) - 1))
        return 0;
    p = b + sizeof(begin) - 1;
    if (*p == '\r')
        p++;
    if (*p++ != '\n')
        return 0;
    for (e = p; *e && *e != '-'; e++) {
        if (*e == '\n' || (*e == '\r' && e[1] == '\n')) {
            e += *e == '\r';
            if (line == 0 || line > 64 || (pad && e[1] != '-'))
                return 0; /* padding only on the last line */
            line = 0;
        } else if ((*e == '=' && pad < 2) ||
                   (!pad && (isalnum((unsigned char)*e) || *e == '+' || *e == '/'))) {
            pad += *e == '=';
            line++;
        } else {
            return 0;
        }
    }
    if (line != 0 || strncmp(e, end, sizeof(end) - 1))
        return 0;
    p = e + sizeof(end) - 1;
    if (*p && *p != '\n' && !(*p == '\r' && p[1] == '\n'))
        return 0;
    *body = b + sizeof(begin) - 1;
    *n = (size_t)(e - *body);
    return 1;
}

EVP_PKEY *cin_key_from_pem_typed(const char *pem, const char *key_type)
{
    const char *b = NULL;
    unsigned char *der = NULL;
    EVP_PKEY *k = NULL;
    char *b64 = NULL;
    size_t n = 0, i, o = 0;
    int len;

    (void)key_type; /* the envelope names the type; the key is checked against its certificate */
    if (!pem || !pkcs8_body(pem, &b, &n))
        return cin_key_from_pem(pem);
    b64 = malloc(n + 1);
    der = malloc(n + 1);
    if (!b64 || !der)
        goto done;
    for (i = 0; i < n; i++)
        if (b[i] != '\n' && b[i] != '\r')
            b64[o++] = b[i];
    b64[o] = '\0';
    len = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)o);
    if (len <= 0)
        goto done;
    /* EVP_DecodeBlock counts the padding as data */
    if (o >= 1 && b64[o - 1] == '=')
        len--;
    if (o >= 2 && b64[o - 2] == '=')
        len--;
    k = from_pkcs8(der, len);
done:
    if (der)
        cin_memzero(der, n + 1);
    if (b64)
        cin_memzero(b64, n + 1);
    free(der);
    free(b64);
    ERR_clear_error();
    return k ? k : cin_key_from_pem(pem);
}
