/*
 * ca_local.c - the built-in CA: a root and an intermediate made by
 * `certinext init`, kept in the store (keys sealed), issuing leaf
 * certificates offline.  The default CA of every product in a new store.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cin_ca.h"
#include "cin_order.h"
#include "cin_store_ca.h"
#include "cin_util.h"
#include "cin_x509.h"

static int add_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return 0;
    ok = X509_add_ext(subject, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static int random_serial(X509 *x)
{
    unsigned char buf[16];
    BIGNUM *bn;
    int ok;

    /* 128 random bits; the top bit cleared keeps the DER INTEGER positive
     * and 16 bytes long at most (RFC 5280: at most 20 octets) */
    if (cin_random(buf, sizeof(buf)) != CIN_OK)
        return 0;
    buf[0] &= 0x7f;
    if (buf[0] == 0)
        buf[0] = 0x01;
    bn = BN_bin2bn(buf, sizeof(buf), NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static char *pem_of_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long len;

    if (b && PEM_write_bio_X509(b, x)) {
        len = BIO_get_mem_data(b, &data);
        out = malloc((size_t)len + 1);
        if (out) {
            memcpy(out, data, (size_t)len);
            out[len] = '\0';
        }
    }
    BIO_free(b);
    return out;
}

static X509 *cert_of_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return x;
}

/* A CA certificate: self-signed when issuer is NULL. */
static X509 *make_ca_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                          long days, const char *bc)
{
    X509 *x = X509_new();
    X509_NAME *name;

    if (!x || !X509_set_version(x, 2) || !random_serial(x))
        goto fail;
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"certinext", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L);
    X509_set_pubkey(x, key);
    if (!add_ext(issuer ? issuer : x, x, NID_basic_constraints, bc) ||
        !add_ext(issuer ? issuer : x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(issuer ? issuer : x, x, NID_subject_key_identifier, "hash") ||
        !add_ext(issuer ? issuer : x, x, NID_authority_key_identifier, "keyid:always"))
        goto fail;
    if (!X509_sign(x, issuer_key, EVP_sha384()))
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

int cin_ca_local_init(cin_store *st, char **err)
{
    char *root_key = NULL, *int_key = NULL, *root_pem = NULL, *int_pem = NULL, cn[96];
    unsigned char rnd[4];
    EVP_PKEY *rk = NULL, *ik = NULL;
    X509 *root = NULL, *inter = NULL;
    int rc = CIN_ERR;

    if (cin_key_generate("ec-p384", &root_key) != CIN_OK ||
        cin_key_generate("ec-p384", &int_key) != CIN_OK) {
        cin_seterr(err, "cannot generate the built-in CA's keys");
        goto done;
    }
    rk = cin_key_from_pem(root_key);
    ik = cin_key_from_pem(int_key);
    cin_random(rnd, sizeof(rnd));
    /* a per-store suffix keeps two installations' roots apart in trust stores */
    snprintf(cn, sizeof(cn), "certinext built-in root CA %02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3]);
    root = rk ? make_ca_cert(cn, rk, NULL, rk, 7300, "critical,CA:TRUE") : NULL;
    snprintf(cn, sizeof(cn), "certinext built-in issuing CA %02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3]);
    inter = root && ik ? make_ca_cert(cn, ik, root, rk, 3650, "critical,CA:TRUE,pathlen:0") : NULL;
    root_pem = root ? pem_of_cert(root) : NULL;
    int_pem = inter ? pem_of_cert(inter) : NULL;
    if (!root_pem || !int_pem) {
        cin_seterr(err, "cannot create the built-in CA's certificates");
        goto done;
    }
    rc = cin_store_begin(st);
    if (rc == CIN_OK)
        rc = cin_store_ca_set(st, "builtin", "root_pem", root_pem);
    if (rc == CIN_OK)
        rc = cin_store_ca_set(st, "builtin", "intermediate_pem", int_pem);
    if (rc == CIN_OK)
        rc = cin_store_ca_set_secret(st, "builtin", "root_key", root_key);
    if (rc == CIN_OK)
        rc = cin_store_ca_set_secret(st, "builtin", "intermediate_key", int_key);
    rc = cin_store_end(st, rc);
    if (rc != CIN_OK)
        cin_seterr(err, "cannot store the built-in CA: %s", cin_strstatus(rc));
done:
    if (root_key)
        cin_free_secret(root_key, strlen(root_key));
    if (int_key)
        cin_free_secret(int_key, strlen(int_key));
    free(root_pem);
    free(int_pem);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    X509_free(root);
    X509_free(inter);
    return rc;
}

int cin_ca_local_root(cin_store *st, char **pem)
{
    cin_ca_config c;
    int rc = cin_store_ca_get(st, "builtin", &c);

    *pem = NULL;
    if (rc != CIN_OK)
        return rc;
    if (!c.root_pem) {
        cin_ca_config_clear(&c);
        return CIN_ENOTFOUND;
    }
    *pem = c.root_pem;
    c.root_pem = NULL;
    cin_ca_config_clear(&c);
    return CIN_OK;
}

static void fail(cin_ca_result *r, const char *detail)
{
    r->outcome = CIN_CA_FAILED;
    cin_problem_set(&r->problem, 500, "ca_error", "%s", detail);
    r->problem.title = strdup("The built-in CA could not issue");
}

static void local_issue(cin_store *st, const char *ca_name, cin_order *o, cin_ca_result *r)
{
    cin_ca_config c;
    char *ikey = NULL, *leaf_pem = NULL;
    EVP_PKEY *ik = NULL, *pub = NULL;
    X509 *inter = NULL, *x = NULL;
    X509_REQ *req = NULL;
    BIO *b = NULL;
    STACK_OF(GENERAL_NAME) *gens = NULL;
    X509_EXTENSION *san = NULL;
    size_t i;
    long secs;

    memset(r, 0, sizeof(*r));
    memset(&c, 0, sizeof(c));
    if (cin_store_ca_get(st, ca_name, &c) != CIN_OK || !c.intermediate_pem) {
        fail(r, "the built-in CA has not been initialised (certinext init)");
        goto done;
    }
    if (cin_store_ca_get_secret(st, ca_name, "intermediate_key", &ikey) != CIN_OK) {
        /* transient: the KEK may simply be unavailable to this process */
        r->outcome = CIN_CA_TRANSIENT;
        cin_problem_set(&r->problem, 503, "ca_unavailable", "%s",
                        "the built-in CA's key cannot be opened by this process");
        r->problem.title = strdup("The built-in CA's key cannot be opened");
        goto done;
    }
    ik = cin_key_from_pem(ikey);
    inter = cert_of_pem(c.intermediate_pem);
    b = o->csr_pem ? BIO_new_mem_buf(o->csr_pem, -1) : NULL;
    req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    pub = req ? X509_REQ_get_pubkey(req) : NULL;
    if (!ik || !inter || !pub) {
        fail(r, "the order's CSR or the CA's key cannot be read");
        goto done;
    }
    x = X509_new();
    if (!x || !X509_set_version(x, 2) || !random_serial(x))
        goto oops;
    if (strlen(o->common_name) <= 64)
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                                   (const unsigned char *)o->common_name, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(inter));
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    secs = (long)o->validity_days * 86400L - 60;
    X509_gmtime_adj(X509_getm_notAfter(x), secs);
    /* a reissue ends when the certificate it replaces does: only a renewal
     * extends a lineage */
    if (o->not_after_cap > 0 && o->not_after_cap < time(NULL) + secs)
        X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &o->not_after_cap);
    /* a renewal carries the renewed certificate's remaining time over (issue 15) */
    {
        time_t end = 0, na;
        if (o->not_after_cap <= 0 && cin_renewal_parent_end(st, o, &end) == CIN_OK && end > 0) {
            na = cin_renewal_not_after(time(NULL), end, o->validity_days, CIN_CA_LOCAL_MAX_DAYS,
                                       NULL);
            X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &na);
        }
    }
    if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(inter)) > 0)
        X509_set1_notAfter(x, X509_get0_notAfter(inter));
    X509_set_pubkey(x, pub);
    gens = sk_GENERAL_NAME_new_null();
    for (i = 0; gens && i < o->nsans; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        ASN1_STRING_set(s, o->sans[i], (int)strlen(o->sans[i]));
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        sk_GENERAL_NAME_push(gens, g);
    }
    san = gens ? X509V3_EXT_i2d(NID_subject_alt_name, 0, gens) : NULL;
    if (!san || !X509_add_ext(x, san, -1))
        goto oops;
    if (!add_ext(inter, x, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(inter, x, NID_key_usage,
                 EVP_PKEY_is_a(pub, "RSA") ? "critical,digitalSignature,keyEncipherment"
                                           : "critical,digitalSignature") ||
        !add_ext(inter, x, NID_ext_key_usage, "serverAuth") ||
        !add_ext(inter, x, NID_subject_key_identifier, "hash") ||
        !add_ext(inter, x, NID_authority_key_identifier, "keyid:always"))
        goto oops;
    if (!X509_sign(x, ik, EVP_sha384()))
        goto oops;
    leaf_pem = pem_of_cert(x);
    if (!leaf_pem)
        goto oops;
    r->chain_pem = cin_asprintf("%s%s", leaf_pem, c.intermediate_pem);
    r->outcome = r->chain_pem ? CIN_CA_DONE : CIN_CA_TRANSIENT;
    goto done;
oops:
    fail(r, "signing the certificate failed");
done:
    ERR_clear_error();
    free(leaf_pem);
    sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
    X509_EXTENSION_free(san);
    X509_free(x);
    X509_free(inter);
    X509_REQ_free(req);
    BIO_free(b);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ik);
    if (ikey)
        cin_free_secret(ikey, strlen(ikey));
    cin_ca_config_clear(&c);
}

static void local_revoke(cin_store *st, const char *ca_name, const cin_cert *cert,
                         const char *reason, cin_ca_result *r)
{
    /* The built-in CA's revocation list is the store itself: the certificate
     * row carries status 'revoked' and its reason; nothing else to tell. */
    (void)st;
    (void)ca_name;
    (void)cert;
    (void)reason;
    memset(r, 0, sizeof(*r));
    r->outcome = CIN_CA_DONE;
}

static void local_cleanup(cin_store *st, const char *ca_name, cin_order *o, cin_ca_result *r)
{
    /* Issuance here is one step under the agent's lease on the order, and a
     * certificate obtained for an order cancelled meanwhile is stored
     * revoked in that same step (agent.c): nothing can be pending. */
    (void)st;
    (void)ca_name;
    (void)o;
    memset(r, 0, sizeof(*r));
    r->outcome = CIN_CA_FAILED;
    cin_problem_set(&r->problem, 404, "ca_error", "%s",
                    "the built-in CA issues at once or not at all: nothing was issued for the "
                    "cancelled order");
    r->problem.title = strdup("Nothing was issued for the cancelled order");
}

const cin_ca_ops cin_ca_local_ops = {"local", local_issue, local_issue, local_revoke,
                                     local_cleanup};
