/* x509.c - key generation, CSRs and certificate facts with OpenSSL 3. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cin_crypto.h"
#include "cin_util.h"
#include "cin_x509.h"

int cin_valid_key_type(const char *t)
{
    return t && (!strcmp(t, "ec-p256") || !strcmp(t, "ec-p384") || !strcmp(t, "rsa-2048") ||
                 !strcmp(t, "rsa-3072") || !strcmp(t, "rsa-4096"));
}

static char *bio_string(BIO *b)
{
    char *data = NULL, *out;
    long len = BIO_get_mem_data(b, &data);

    out = malloc((size_t)len + 1);
    if (!out)
        return NULL;
    memcpy(out, data, (size_t)len);
    out[len] = '\0';
    return out;
}

int cin_key_generate(const char *key_type, char **pem)
{
    EVP_PKEY *k = NULL;
    BIO *b = NULL;
    int rc = CIN_ERR;

    *pem = NULL;
    if (!cin_valid_key_type(key_type))
        return CIN_EINVAL;
    if (!strcmp(key_type, "ec-p256"))
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else if (!strcmp(key_type, "ec-p384"))
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)atoi(key_type + 4));
    if (!k)
        goto done;
    b = BIO_new(BIO_s_secmem());
    if (!b)
        b = BIO_new(BIO_s_mem());
    if (!b || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
        goto done;
    *pem = bio_string(b);
    rc = *pem ? CIN_OK : CIN_ENOMEM;
done:
    BIO_free(b);
    EVP_PKEY_free(k);
    return rc;
}

/*
 * The password callback of every PEM read here.  Without one, OpenSSL asks
 * for a passphrase on the terminal (else stdin): a CSR, chain or key whose
 * PEM says it is encrypted ("Proc-Type: 4,ENCRYPTED", ENCRYPTED PRIVATE KEY)
 * would make a server worker prompt and wait.  We hold no passphrases.
 */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

EVP_PKEY *cin_key_from_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;

    BIO_free(b);
    return k;
}

static X509_EXTENSION *san_ext(char **names, size_t n)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    X509_EXTENSION *ext = NULL;
    size_t i;

    if (!gens)
        return NULL;
    for (i = 0; i < n; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        if (!g || !s || !ASN1_STRING_set(s, names[i], (int)strlen(names[i]))) {
            GENERAL_NAME_free(g);
            ASN1_IA5STRING_free(s);
            goto done;
        }
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        sk_GENERAL_NAME_push(gens, g);
    }
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
done:
    GENERAL_NAMES_free(gens);
    return ext;
}

int cin_csr_build(const char *key_pem, char **names, size_t n, char **csr_pem)
{
    EVP_PKEY *k = cin_key_from_pem(key_pem);
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san = NULL;
    X509_NAME *subj;
    BIO *b = NULL;
    int rc = CIN_ERR;

    *csr_pem = NULL;
    if (!k || !req || !exts || n == 0)
        goto done;
    subj = X509_REQ_get_subject_name(req);
    /* a CN longer than 64 characters is not allowed; the SAN carries the names */
    if (strlen(names[0]) <= 64 &&
        !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)names[0], -1,
                                    -1, 0))
        goto done;
    san = san_ext(names, n);
    if (!san || !sk_X509_EXTENSION_push(exts, san))
        goto done;
    san = NULL;
    if (!X509_REQ_add_extensions(req, exts) || !X509_REQ_set_pubkey(req, k) ||
        !X509_REQ_sign(req, k, EVP_sha256()))
        goto done;
    b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_X509_REQ(b, req))
        goto done;
    *csr_pem = bio_string(b);
    rc = *csr_pem ? CIN_OK : CIN_ENOMEM;
done:
    X509_EXTENSION_free(san);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
    BIO_free(b);
    return rc;
}

static int in_list(char **names, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!strcasecmp(names[i], s))
            return 1;
    return 0;
}

int cin_csr_check(const char *pem, char **names, size_t n, const char **code, char **err)
{
    X509_REQ *req = NULL;
    EVP_PKEY *k = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *gens = NULL;
    char **found = NULL;
    size_t nfound = 0, i;
    BIO *b = NULL;
    int rc = CIN_EINVAL, bits, idx;

    *code = "invalid_csr";
    if (!pem || !strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----")) {
        cin_seterr(err, "the CSR must be a PEM PKCS#10 request "
                        "(-----BEGIN CERTIFICATE REQUEST-----)");
        return CIN_EINVAL;
    }
    b = BIO_new_mem_buf(pem, -1);
    req = b ? PEM_read_bio_X509_REQ(b, NULL, no_passphrase, NULL) : NULL;
    if (!req) {
        cin_seterr(err, "the CSR does not parse as PEM PKCS#10");
        goto done;
    }
    k = X509_REQ_get_pubkey(req);
    if (!k) {
        cin_seterr(err, "the CSR has no usable public key");
        goto done;
    }
    if (X509_REQ_verify(req, k) != 1) {
        cin_seterr(err, "the CSR's signature does not verify (the request was altered or "
                        "signed with another key)");
        goto done;
    }
    bits = EVP_PKEY_get_bits(k);
    if (EVP_PKEY_is_a(k, "RSA")) {
        if (bits < 2048) {
            *code = "weak_key";
            cin_seterr(err, "the CSR's RSA key has %d bits; at least 2048 are required", bits);
            goto done;
        }
    } else if (EVP_PKEY_is_a(k, "EC")) {
        char curve[64] = "";
        size_t clen = 0;
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), &clen);
        if (strcmp(curve, "prime256v1") && strcmp(curve, "P-256") && strcmp(curve, "secp384r1") &&
            strcmp(curve, "P-384")) {
            *code = "weak_key";
            cin_seterr(err, "the CSR's EC key is on curve %s; use P-256 or P-384",
                       *curve ? curve : "(unknown)");
            goto done;
        }
    } else {
        *code = "weak_key";
        cin_seterr(err, "the CSR's key type is not accepted; use RSA (2048+) or ECDSA "
                        "P-256/P-384");
        goto done;
    }
    found = calloc(n + 130, sizeof(char *));
    if (!found) {
        rc = CIN_ENOMEM;
        goto done;
    }
    /* names in the CSR: the subject CN and the SAN extension's dNSNames */
    idx = X509_NAME_get_index_by_NID(X509_REQ_get_subject_name(req), NID_commonName, -1);
    if (idx >= 0) {
        ASN1_STRING *d =
            X509_NAME_ENTRY_get_data(X509_NAME_get_entry(X509_REQ_get_subject_name(req), idx));
        unsigned char *u = NULL;
        if (ASN1_STRING_to_UTF8(&u, d) >= 0 && u) {
            found[nfound++] = strdup((char *)u);
            OPENSSL_free(u);
        }
    }
    exts = X509_REQ_get_extensions(req);
    gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    for (i = 0; gens && i < (size_t)sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, (int)i);
        if (g->type != GEN_DNS) {
            cin_seterr(err, "the CSR names something other than a DNS name (IP or e-mail)");
            goto done;
        }
        if (nfound >= n + 128) {
            cin_seterr(err, "the CSR names more names than the order");
            goto done;
        }
        found[nfound++] = cin_strdup((const char *)ASN1_STRING_get0_data(g->d.dNSName));
    }
    for (i = 0; i < nfound; i++) {
        if (!found[i] || !in_list(names, n, found[i])) {
            cin_seterr(err, "the CSR names %s, which is not among the order's names",
                       found[i] ? found[i] : "(unreadable)");
            goto done;
        }
    }
    for (i = 0; i < n; i++) {
        if (!in_list(found, nfound, names[i])) {
            cin_seterr(err, "the CSR does not name %s; its names must equal the order's", names[i]);
            goto done;
        }
    }
    rc = CIN_OK;
    *code = NULL;
done:
    for (i = 0; found && i < nfound; i++)
        free(found[i]);
    free(found);
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    EVP_PKEY_free(k);
    X509_REQ_free(req);
    BIO_free(b);
    ERR_clear_error();
    return rc;
}

STACK_OF(X509) * cin_chain_parse(const char *pem)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x;

    if (!sk || !b) {
        sk_X509_free(sk);
        BIO_free(b);
        return NULL;
    }
    while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL)
        sk_X509_push(sk, x);
    ERR_clear_error();
    BIO_free(b);
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return NULL;
    }
    return sk;
}

static void asn1_time_text(const ASN1_TIME *t, char out[21])
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    ASN1_TIME_to_tm(t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cin_cert_facts_get(const char *chain_pem, cin_cert_facts *out)
{
    STACK_OF(X509) *sk = cin_chain_parse(chain_pem);
    unsigned char md[32], *der = NULL;
    unsigned int mdlen = 0;
    BIGNUM *bn;
    char *hex;
    X509 *x;
    int len, i, j;

    memset(out, 0, sizeof(*out));
    if (!sk)
        return CIN_EINVAL;
    x = sk_X509_value(sk, 0);
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex) {
        for (i = 0, j = 0; hex[i] && j < (int)sizeof(out->serial) - 1; i++)
            out->serial[j++] = (char)tolower((unsigned char)hex[i]);
        out->serial[j] = '\0';
    }
    OPENSSL_free(hex);
    BN_free(bn);
    len = i2d_X509(x, &der);
    if (len > 0) {
        EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
        cin_hex(md, 32, out->sha256);
    }
    OPENSSL_free(der);
    asn1_time_text(X509_get0_notBefore(x), out->not_before);
    asn1_time_text(X509_get0_notAfter(x), out->not_after);
    X509_NAME_oneline(X509_get_issuer_name(x), out->issuer, sizeof(out->issuer));
    sk_X509_pop_free(sk, X509_free);
    return CIN_OK;
}

int cin_key_type_of(EVP_PKEY *k, char out[16])
{
    out[0] = '\0';
    if (k && EVP_PKEY_is_a(k, "RSA")) {
        snprintf(out, 16, "rsa-%d", EVP_PKEY_get_bits(k));
    } else if (k && EVP_PKEY_is_a(k, "EC")) {
        char curve[64] = "";
        size_t clen = 0;
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), &clen);
        if (!strcmp(curve, "prime256v1") || !strcmp(curve, "P-256"))
            strcpy(out, "ec-p256");
        else if (!strcmp(curve, "secp384r1") || !strcmp(curve, "P-384"))
            strcpy(out, "ec-p384");
    }
    return out[0] ? CIN_OK : CIN_EINVAL;
}

int cin_csr_key_type(const char *pem, char out[16])
{
    X509_REQ *req = NULL;
    EVP_PKEY *k = NULL;
    BIO *b = BIO_new_mem_buf(pem, -1);
    int rc;

    req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    k = req ? X509_REQ_get_pubkey(req) : NULL;
    rc = cin_key_type_of(k, out);
    EVP_PKEY_free(k);
    X509_REQ_free(req);
    BIO_free(b);
    ERR_clear_error();
    return rc;
}
