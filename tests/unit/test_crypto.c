/* test_crypto.c - sealing, key files, passwords, tokens, base64url. */
/* EC_KEY_get_method: the handshake key reader's EC keys are legacy keys */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "../../common/src/scrypt.h"
#include "cin_crypto.h"
#include "cin_util.h"
#include "../../common/src/cin_x509.h"
#include "harness.h"

static cin_kek kek;

static void setup(void)
{
    ck_assert_int_eq(cin_random(kek.key, sizeof(kek.key)), CIN_OK);
}

/* The handshake's key reader (key_load.c) gives the same key as OpenSSL's
 * generic reader for every type we store: the same public key, and a
 * signature made with it verifies under the generic reader's key (so the
 * private numbers are the same too).  An EC key is an EC_KEY of a method of
 * its own (a "foreign" key, which OpenSSL does not copy into its provider at
 * first use) on a copy of a group built once, of the right curve; an RSA key
 * is a provider key.  What it does not read (SEC1 PEM, garbage) goes the
 * generic way. */
START_TEST(typed_key_reader_matches_the_generic_one)
{
    static const char *types[] = {"ec-p256", "ec-p384", "rsa-2048"};
    size_t i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char *pem = NULL;
        EVP_PKEY *fast, *slow;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char sig[600];
        size_t siglen = sizeof(sig);

        ck_assert_int_eq(cin_key_generate(types[i], &pem), CIN_OK);
        fast = cin_key_from_pem_typed(pem, types[i]);
        slow = cin_key_from_pem(pem);
        ck_assert_ptr_nonnull(fast);
        ck_assert_ptr_nonnull(slow);
        ck_assert_int_eq(EVP_PKEY_eq(fast, slow), 1);
        if (i < 2) {
            const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(fast);
            char g1[64] = "", g2[64] = "";

            ck_assert_ptr_null(EVP_PKEY_get0_provider(fast));
            ck_assert_ptr_nonnull(ec);
            ck_assert_ptr_ne(EC_KEY_get_method(ec), EC_KEY_OpenSSL());
            ck_assert_int_eq(EVP_PKEY_get_group_name(fast, g1, sizeof(g1), NULL), 1);
            ck_assert_int_eq(EVP_PKEY_get_group_name(slow, g2, sizeof(g2), NULL), 1);
            ck_assert_str_eq(g1, g2);
            ck_assert_int_eq(EVP_PKEY_get_bits(fast), EVP_PKEY_get_bits(slow));
            ck_assert_int_eq(EVP_PKEY_get_size(fast), EVP_PKEY_get_size(slow));
            {
                /* each key has a copy of the group, not the process's own */
                EVP_PKEY *again = cin_key_from_pem_typed(pem, types[i]);

                ck_assert_ptr_nonnull(again);
                ck_assert_ptr_ne(EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(again)),
                                 EC_KEY_get0_group(ec));
                ck_assert_int_eq(EC_GROUP_cmp(EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(again)),
                                              EC_KEY_get0_group(ec), NULL),
                                 0);
                EVP_PKEY_free(again);
            }
        } else {
            ck_assert_ptr_nonnull(EVP_PKEY_get0_provider(fast)); /* not a legacy key */
        }
        ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, fast), 1);
        ck_assert_int_eq(EVP_DigestSign(md, sig, &siglen, (const unsigned char *)"x", 1), 1);
        EVP_MD_CTX_free(md);
        md = EVP_MD_CTX_new();
        ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, slow), 1);
        ck_assert_int_eq(EVP_DigestVerify(md, sig, siglen, (const unsigned char *)"x", 1), 1);
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(fast);
        EVP_PKEY_free(slow);
        cin_free_secret(pem, strlen(pem));
    }
    {
        /* SEC1 "EC PRIVATE KEY": read by the generic path */
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *back;
        BIO *b = BIO_new(BIO_s_mem());
        char *data = NULL, *sec1;
        long n;
        ck_assert_int_eq(PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL), 1);
        n = BIO_get_mem_data(b, &data);
        sec1 = strndup(data, (size_t)n);
        ck_assert_ptr_nonnull(strstr(sec1, "BEGIN EC PRIVATE KEY"));
        back = cin_key_from_pem_typed(sec1, "ec-p256");
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(EVP_PKEY_eq(back, k), 1);
        EVP_PKEY_free(back);
        free(sec1);
        BIO_free(b);
        EVP_PKEY_free(k);
    }
    ck_assert_ptr_null(cin_key_from_pem_typed("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                              "-----END PRIVATE KEY-----\n",
                                              "ec-p256"));
    ck_assert_ptr_null(cin_key_from_pem_typed("not a key", "rsa-2048"));
}
END_TEST

/* A certificate for key, signed by ca_key (itself when NULL), as DER. */
static unsigned char *make_cert(EVP_PKEY *key, EVP_PKEY *ca_key, const char *cn, long serial,
                                int *len)
{
    X509 *x = X509_new();
    X509_NAME *ca = X509_NAME_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    unsigned char *der = NULL;

    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_set_version(x, 2);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(ca, "CN", MBSTRING_ASC, (const unsigned char *)"test ca", -1, -1, 0);
    X509_set_issuer_name(x, ca_key ? ca : X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    ck_assert_int_eq(X509_set_pubkey(x, key), 1);
    X509V3_set_ctx(&v3, NULL, x, NULL, NULL, 0);
    if (!strcmp(cn, "test ca"))
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    else
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:leaf.example");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ck_assert_int_gt(X509_sign(x, ca_key ? ca_key : key, EVP_sha256()), 0);
    *len = i2d_X509(x, &der);
    X509_NAME_free(ca);
    X509_free(x);
    return der;
}

/* A full in-memory handshake at one protocol version serving leaf and key;
 * the client verifies the certificate against trust. */
static void serve_once(X509 *leaf, EVP_PKEY *key, X509 *trust, int version)
{
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    SSL *s, *c;
    X509 *peer;

    X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), trust);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(cctx, version);
    SSL_CTX_set_max_proto_version(cctx, version);
    s = SSL_new(sctx);
    c = SSL_new(cctx);
    ck_assert_int_eq(SSL_use_cert_and_key(s, leaf, key, NULL, 1), 1);
    handshake_in_memory(c, s, "leaf.example");
    ck_assert_int_eq(SSL_version(c), version);
    ck_assert_int_eq(SSL_get_verify_result(c), X509_V_OK);
    peer = SSL_get1_peer_certificate(c);
    ck_assert_int_eq(X509_cmp(peer, leaf), 0);
    X509_free(peer);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

/* The handshake's leaf reader (leaf_load.c) gives the certificate d2i_X509
 * gives - same encoding, same cached extension flags, a public key of the
 * same type, size and security that matches the same private keys - with an
 * EC key decoded by certinext's key manager, and serves it on TLS 1.2 and
 * 1.3; other keys (RSA, a compressed point) and garbage go d2i_X509's way. */
START_TEST(leaf_reader_matches_d2i_X509)
{
    static const char *types[] = {"ec-p256", "ec-p384", "rsa-2048", "rsa-3072"};
    EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char *ca_der;
    const unsigned char *p;
    X509 *ca;
    EVP_PKEY *keys[4] = {NULL}, *others[4] = {NULL};
    int ca_len, i, self;

    ca_der = make_cert(ca_key, NULL, "test ca", 1, &ca_len);
    p = ca_der;
    ca = d2i_X509(NULL, &p, ca_len);
    for (i = 0; i < 4; i++) {
        char *pem = NULL;
        EVP_PKEY *key;

        ck_assert_int_eq(cin_key_generate(types[i], &pem), CIN_OK);
        key = cin_key_from_pem_typed(pem, types[i]);
        cin_free_secret(pem, strlen(pem));
        /* another key of the same type: the previous type's for RSA 3072 */
        if (i < 3) {
            ck_assert_int_eq(cin_key_generate(types[i], &pem), CIN_OK);
            others[i] = cin_key_from_pem_typed(pem, types[i]);
            cin_free_secret(pem, strlen(pem));
        }
        keys[i] = key;
        for (self = 0; self < 2; self++) {
            EVP_PKEY *other = i < 3 ? others[i] : keys[2];
            unsigned char *der, *back = NULL;
            int len, decoded = -1;
            X509 *fast, *slow;
            EVP_PKEY *fp, *sp;
            char g1[64] = "", g2[64] = "";

            der = make_cert(key, self ? NULL : ca_key, "leaf.example", 2 + i, &len);
            fast = cin_leaf_from_der(der, len, &decoded);
            p = der;
            slow = d2i_X509(NULL, &p, len);
            ck_assert_ptr_nonnull(fast);
            ck_assert_int_eq(decoded, 1);
            ck_assert_int_eq(i2d_X509(fast, &back), len);
            ck_assert_mem_eq(back, der, (size_t)len);
            ck_assert_uint_eq(X509_get_extension_flags(fast), X509_get_extension_flags(slow));
            ck_assert_int_eq(!!(X509_get_extension_flags(fast) & EXFLAG_SS), self);
            fp = X509_get0_pubkey(fast);
            sp = X509_get0_pubkey(slow);
            ck_assert_ptr_nonnull(fp);
            ck_assert_int_eq(EVP_PKEY_get_bits(fp), EVP_PKEY_get_bits(sp));
            ck_assert_int_eq(EVP_PKEY_get_security_bits(fp), EVP_PKEY_get_security_bits(sp));
            ck_assert_int_eq(EVP_PKEY_get_size(fp), EVP_PKEY_get_size(sp));
            ck_assert_int_eq(EVP_PKEY_is_a(fp, i < 2 ? "EC" : "RSA"), 1);
            ck_assert_int_eq(EVP_PKEY_get_base_id(fp), EVP_PKEY_get_base_id(sp));
            if (i < 2) {
                ck_assert_int_eq(EVP_PKEY_get_group_name(fp, g1, sizeof(g1), NULL), 1);
                ck_assert_int_eq(EVP_PKEY_get_group_name(sp, g2, sizeof(g2), NULL), 1);
                ck_assert_str_eq(g1, g2);
                ck_assert_int_eq(EVP_PKEY_get_ec_point_conv_form(fp),
                                 POINT_CONVERSION_UNCOMPRESSED);
            }
            ck_assert_int_eq(EVP_PKEY_eq(fp, sp), 1);
            ck_assert_int_eq(X509_check_private_key(fast, key), 1);
            ck_assert_int_ne(X509_check_private_key(fast, other), 1);
            ck_assert_int_ne(X509_check_private_key(slow, other), 1);
            serve_once(fast, key, self ? slow : ca, TLS1_2_VERSION);
            serve_once(fast, key, self ? slow : ca, TLS1_3_VERSION);
            X509_free(fast);
            X509_free(slow);
            OPENSSL_free(back);
            OPENSSL_free(der);
        }
    }
    for (i = 0; i < 4; i++) {
        EVP_PKEY_free(keys[i]);
        EVP_PKEY_free(others[i]);
    }
    {
        /* keys not decoded here (a compressed point, a curve and an RSA
         * size orders do not use): OpenSSL decodes them */
        EVP_PKEY *k[3];
        int j;

        k[0] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        ck_assert_int_eq(EVP_PKEY_set_utf8_string_param(
                             k[0], OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
                         1);
        k[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
        k[2] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
        for (j = 0; j < 3; j++) {
            unsigned char *der;
            int len, decoded = -1;
            X509 *x;

            der = make_cert(k[j], ca_key, "leaf.example", 9, &len);
            x = cin_leaf_from_der(der, len, &decoded);
            ck_assert_ptr_nonnull(x);
            ck_assert_int_eq(decoded, 0);
            ck_assert_int_eq(X509_check_private_key(x, k[j]), 1);
            if (j == 0)
                ck_assert_int_eq(EVP_PKEY_get_ec_point_conv_form(X509_get0_pubkey(x)),
                                 POINT_CONVERSION_COMPRESSED);
            X509_free(x);
            ck_assert_ptr_null(cin_leaf_from_der(der, len - 1, &decoded)); /* cut short */
            OPENSSL_free(der);
            EVP_PKEY_free(k[j]);
        }
    }
    {
        /* a point off the curve in a well-formed certificate: decoded as
         * bytes here, it matches no private key (OpenSSL refuses to decode
         * it at all) */
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        unsigned char *der, *pt;
        int len, decoded = -1;
        X509 *x;
        static const unsigned char prefix[] = {0x03, 0x42, 0x00, 0x04};

        der = make_cert(k, ca_key, "leaf.example", 10, &len);
        pt = memmem(der, (size_t)len, prefix, sizeof(prefix));
        ck_assert_ptr_nonnull(pt);
        pt[sizeof(prefix) + 40] ^= 0x01;
        x = cin_leaf_from_der(der, len, &decoded);
        ck_assert_ptr_nonnull(x);
        ck_assert_int_ne(X509_check_private_key(x, k), 1);
        X509_free(x);
        OPENSSL_free(der);
        EVP_PKEY_free(k);
    }
    {
        int decoded = -1;
        static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
        ck_assert_ptr_null(cin_leaf_from_der(junk, sizeof(junk), &decoded));
        ck_assert_int_eq(decoded, 0);
    }
    X509_free(ca);
    OPENSSL_free(ca_der);
    EVP_PKEY_free(ca_key);
}
END_TEST

START_TEST(seal_round_trip)
{
    const char *msg = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
    unsigned char *blob = NULL, *pt = NULL;
    size_t bl = 0, pl = 0;

    ck_assert_int_eq(cin_seal(&kek, "key:1", (const unsigned char *)msg, strlen(msg), &blob, &bl),
                     CIN_OK);
    ck_assert_uint_eq(bl, strlen(msg) + 32);
    ck_assert_ptr_null(memmem(blob, bl, "PRIVATE", 7));
    ck_assert_int_eq(cin_open(&kek, "key:1", blob, bl, &pt, &pl), CIN_OK);
    ck_assert_uint_eq(pl, strlen(msg));
    ck_assert_str_eq((char *)pt, msg);
    cin_free_secret(pt, pl + 1);
    free(blob);
}
END_TEST

START_TEST(seal_tamper_label_and_wrong_key)
{
    unsigned char *blob = NULL, *pt = NULL;
    size_t bl = 0, pl = 0, i;
    cin_kek other;

    ck_assert_int_eq(cin_seal(&kek, "key:1", (const unsigned char *)"secret", 6, &blob, &bl),
                     CIN_OK);
    /* every single flipped byte is detected */
    for (i = 0; i < bl; i++) {
        blob[i] ^= 0x01;
        ck_assert_int_eq(cin_open(&kek, "key:1", blob, bl, &pt, &pl), CIN_ECRYPTO);
        ck_assert_ptr_null(pt);
        blob[i] ^= 0x01;
    }
    ck_assert_int_eq(cin_open(&kek, "key:2", blob, bl, &pt, &pl), CIN_ECRYPTO);
    ck_assert_int_eq(cin_open(&kek, "key:1", blob, bl - 1, &pt, &pl), CIN_ECRYPTO);
    ck_assert_int_eq(cin_open(&kek, "key:1", blob, 10, &pt, &pl), CIN_ECRYPTO);
    memcpy(&other, &kek, sizeof(kek));
    other.key[0] ^= 1;
    ck_assert_int_eq(cin_open(&other, "key:1", blob, bl, &pt, &pl), CIN_ECRYPTO);
    ck_assert_int_eq(cin_open(&kek, "key:1", blob, bl, &pt, &pl), CIN_OK);
    ck_assert_str_eq((char *)pt, "secret");
    cin_free_secret(pt, pl);
    free(blob);
}
END_TEST

START_TEST(kek_file)
{
    char *dir = tmpdir_new(), *p = cin_asprintf("%s/k", dir), *err = NULL;
    cin_kek k1, k2;
    struct stat sb;

    ck_assert_int_eq(cin_kek_create(p, &err), CIN_OK);
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(cin_kek_create(p, &err), CIN_EEXIST);
    free(err);
    err = NULL;
    ck_assert_int_eq(cin_kek_load(p, &k1, &err), CIN_OK);
    ck_assert_int_eq(cin_kek_load(p, &k2, &err), CIN_OK);
    ck_assert_mem_eq(k1.key, k2.key, 32);
    chmod(p, 0644);
    ck_assert_int_eq(cin_kek_load(p, &k1, &err), CIN_EPERM);
    ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
    free(err);
    err = NULL;
    chmod(p, 0600);
    ck_assert_int_eq(truncate(p, 16), 0);
    ck_assert_int_eq(cin_kek_load(p, &k1, &err), CIN_EIO);
    free(err);
    free(p);
    tmpdir_remove(dir);
}
END_TEST

START_TEST(passwords)
{
    char *h1 = cin_password_hash("hunter2hunter2"), *h2 = cin_password_hash("hunter2hunter2");

    ck_assert_ptr_nonnull(h1);
    ck_assert_str_ne(h1, h2); /* salted */
    ck_assert_ptr_nonnull(strstr(h1, "$scrypt$ln=14,r=8,p=1$"));
    ck_assert(cin_password_verify("hunter2hunter2", h1));
    ck_assert(cin_password_verify("hunter2hunter2", h2));
    ck_assert(!cin_password_verify("hunter2hunter3", h1));
    ck_assert(!cin_password_verify("", h1));
    ck_assert(!cin_password_verify("hunter2hunter2", "$scrypt$ln=99,r=8,p=1$AAAA$AAAA"));
    ck_assert(!cin_password_verify("hunter2hunter2", "garbage"));
    free(h1);
    free(h2);
}
END_TEST

START_TEST(tokens)
{
    char *t = NULL, prefix[CIN_TOKEN_PREFIX_LEN + 1], p2[CIN_TOKEN_PREFIX_LEN + 1];

    ck_assert_int_eq(cin_token_generate(&t, prefix), CIN_OK);
    ck_assert_int_eq(cin_token_prefix(t, p2), CIN_OK);
    ck_assert_str_eq(prefix, p2);
    ck_assert_uint_ge(strlen(t), 4 + 8 + 1 + 43);
    ck_assert_int_eq(cin_token_prefix("Bearer x", p2), CIN_EINVAL);
    ck_assert_int_eq(cin_token_prefix("cin_ABCDEFGH_x", p2), CIN_EINVAL);
    ck_assert_int_eq(cin_token_prefix("cin_abc", p2), CIN_EINVAL);
    cin_free_secret(t, strlen(t));
}
END_TEST

START_TEST(base64url)
{
    const unsigned char in[] = {0xfb, 0xff, 0x00, 0x10, 0x7e};
    size_t n = 0, len;
    char *e;
    unsigned char *d;

    for (len = 0; len <= sizeof(in); len++) {
        e = cin_b64url_encode(in, len);
        d = cin_b64url_decode(e, &n);
        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(n, len);
        ck_assert(len == 0 || memcmp(d, in, len) == 0);
        ck_assert_ptr_null(strchr(e, '='));
        free(e);
        free(d);
    }
    d = cin_b64url_decode("  +/8A  \n", &n); /* standard alphabet and whitespace tolerated */
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(d[0], 0xfb);
    free(d);
    ck_assert_ptr_null(cin_b64url_decode("ab$c", &n));
    ck_assert_ptr_null(cin_b64url_decode("a", &n));
}
END_TEST

START_TEST(times)
{
    char buf[21];
    time_t t = 0;

    cin_time_rfc3339(1795608000, buf);
    ck_assert_str_eq(buf, "2026-11-25T12:00:00Z");
    ck_assert_int_eq(cin_time_parse(buf, &t), CIN_OK);
    ck_assert_int_eq(t, 1795608000);
    ck_assert_int_eq(cin_time_parse("2026-11-25 08:00:00", &t), CIN_EINVAL);
    ck_assert_int_eq(cin_time_parse("2026-11-25T12:00:00Zjunk", &t), CIN_EINVAL);
}
END_TEST

static const unsigned char *salt_none(void)
{
    return (const unsigned char *)"";
}

/* scrypt with its own work area: RFC 7914's vectors, and OpenSSL's answers. */
static void expect_hex(const unsigned char *b, size_t n, const char *want)
{
    char hex[300];

    cin_hex(b, n, hex);
    ck_assert_str_eq(hex, want);
}

START_TEST(scrypt_rfc7914_and_openssl)
{
    unsigned char dk[64], ref[64];
    size_t i;

    ck_assert_int_eq(cin_scrypt("", 0, (const unsigned char *)"", 0, 16, 1, 1, dk, 64), CIN_OK);
    expect_hex(dk, 64,
               "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
               "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
    ck_assert_int_eq(
        cin_scrypt("password", 8, (const unsigned char *)"NaCl", 4, 1024, 8, 16, dk, 64), CIN_OK);
    expect_hex(dk, 64,
               "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
               "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
    ck_assert_int_eq(cin_scrypt("pleaseletmein", 13, (const unsigned char *)"SodiumChloride", 14,
                                16384, 8, 1, dk, 64),
                     CIN_OK);
    expect_hex(dk, 64,
               "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
               "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
    /* random inputs agree with OpenSSL's scrypt */
    for (i = 0; i < 8; i++) {
        unsigned char salt[16];
        char pw[24];
        ck_assert_int_eq(cin_random(salt, sizeof(salt)), CIN_OK);
        snprintf(pw, sizeof(pw), "pw-%zu-%02x", i, salt[0]);
        ck_assert_int_eq(cin_scrypt(pw, strlen(pw), salt, sizeof(salt), 1u << (4 + i), 1 + i % 3,
                                    1 + i % 2, dk, 32),
                         CIN_OK);
        ck_assert_int_eq(EVP_PBE_scrypt(pw, strlen(pw), salt, sizeof(salt), 1u << (4 + i),
                                        1 + i % 3, 1 + i % 2, 64 * 1024 * 1024, ref, 32),
                         1);
        ck_assert_mem_eq(dk, ref, 32);
    }
    /* parameters the RFC refuses */
    ck_assert_int_eq(cin_scrypt("x", 1, salt_none(), 0, 1000, 8, 1, dk, 32), CIN_EINVAL);
    ck_assert_int_eq(cin_scrypt("x", 1, salt_none(), 0, 1024, 0, 1, dk, 32), CIN_EINVAL);
    ck_assert_int_eq(cin_scrypt("x", 1, salt_none(), 0, 1024, 8, 0, dk, 32), CIN_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto");
    TCase *tc = tcase_create("crypto");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, seal_round_trip);
    tcase_add_test(tc, typed_key_reader_matches_the_generic_one);
    tcase_add_test(tc, leaf_reader_matches_d2i_X509);
    tcase_add_test(tc, seal_tamper_label_and_wrong_key);
    tcase_add_test(tc, kek_file);
    tcase_add_test(tc, passwords);
    tcase_add_test(tc, scrypt_rfc7914_and_openssl);
    tcase_add_test(tc, tokens);
    tcase_add_test(tc, base64url);
    tcase_add_test(tc, times);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
