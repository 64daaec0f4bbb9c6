/*
 * seed - fill a store with N issued certificates for the benchmark, quickly:
 * each one has its own P-256 key and is signed by a benchmark CA (P-256),
 * names b<i>.bench.example.com; the names are also written to a file.
 *
 * usage: seed STORE N NAMES_FILE ACCOUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cin_crypto.h"
#include "cin_store.h"
#include "cin_store_order.h"
#include "cin_util.h"
#include "cin_x509.h"

static char *pem_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *d, *out;
    long n;

    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &d);
    out = strndup(d, (size_t)n);
    BIO_free(b);
    return out;
}

static X509 *make(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, int ca,
                  long serial)
{
    X509 *x = X509_new();
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 90 * 86400L);
    X509_set_pubkey(x, key);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if (!ca) {
        char san[300];
        snprintf(san, sizeof(san), "DNS:%s", cn);
        e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                            ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    X509_sign(x, signer, EVP_sha256());
    return x;
}

int main(int argc, char **argv)
{
    cin_store *st = NULL;
    cin_account acct;
    cin_user u;
    EVP_PKEY *cakey;
    X509 *ca;
    char *ca_pem, *err = NULL, *ukey;
    FILE *names;
    long n, i;

    if (argc != 5) {
        fprintf(stderr, "usage: seed STORE N NAMES_FILE ACCOUNT\n");
        return 2;
    }
    n = atol(argv[2]);
    if (cin_store_open(argv[1], NULL, &st, &err) != CIN_OK) {
        fprintf(stderr, "seed: %s\n", err);
        return 1;
    }
    if (cin_store_account_get(st, argv[4], &acct) != CIN_OK) {
        fprintf(stderr, "seed: no account %s\n", argv[4]);
        return 1;
    }
    ukey = cin_asprintf("bench-%ld", (long)getpid());
    if (cin_store_begin(st) != CIN_OK ||
        cin_store_end(st, cin_store_user_create(st, acct.id, ukey, "admin", 0, NULL, NULL, NULL)) !=
            CIN_OK ||
        cin_store_user_get(st, ukey, &u) != CIN_OK)
        return 1;
    cakey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ca = make(cakey, cakey, NULL, "certinext bench CA", 1, 1);
    ca_pem = pem_cert(ca);
    names = fopen(argv[3], "w");
    cin_store_begin(st);
    for (i = 0; i < n; i++) {
        char name[64], *sans[1], *keypem = NULL, *leaf_pem, *chain;
        EVP_PKEY *k;
        X509 *leaf;
        cin_order o;
        cin_cert c;
        cin_cert_facts f;
        int64_t kid = 0;

        snprintf(name, sizeof(name), "b%ld.bench.example.com", i);
        fprintf(names, "%s\n", name);
        sans[0] = name;
        cin_key_generate("ec-p256", &keypem);
        k = cin_key_from_pem(keypem);
        leaf = make(k, cakey, ca, name, 0, 1000 + i);
        leaf_pem = pem_cert(leaf);
        chain = cin_asprintf("%s%s", leaf_pem, ca_pem);
        memset(&o, 0, sizeof(o));
        o.account_id = acct.id;
        o.requester_id = u.id;
        o.status = "issued";
        o.product = "dv-ssl";
        o.common_name = name;
        o.sans = sans;
        o.nsans = 1;
        o.validity_days = 90;
        o.key_type = "ec-p256";
        o.key_source = "server";
        o.kind = "new";
        if (cin_store_order_insert(st, &o) != CIN_OK ||
            cin_store_key_put(st, "ec-p256", keypem, &kid) != CIN_OK) {
            fprintf(stderr, "seed: insert failed at %ld\n", i);
            return 1;
        }
        cin_cert_facts_get(chain, &f);
        memset(&c, 0, sizeof(c));
        c.order_id = o.id;
        c.account_id = acct.id;
        c.serial = f.serial;
        c.names = sans;
        c.nnames = 1;
        c.not_before = f.not_before;
        c.not_after = f.not_after;
        c.sha256 = f.sha256;
        c.issuer = f.issuer;
        c.chain_pem = chain;
        c.key_id = kid;
        if (cin_store_cert_insert(st, &c) != CIN_OK) {
            fprintf(stderr, "seed: cert insert failed at %ld\n", i);
            return 1;
        }
        o.cert_id = c.id;
        o.key_id = kid;
        if (cin_store_order_update(st, &o) != CIN_OK)
            return 1;
        free(c.status);
        free(o.created_at);
        free(o.updated_at);
        free(leaf_pem);
        free(chain);
        cin_free_secret(keypem, strlen(keypem));
        EVP_PKEY_free(k);
        X509_free(leaf);
        if (i % 5000 == 4999) {
            cin_store_commit(st);
            cin_store_begin(st);
        }
    }
    if (cin_store_commit(st) != CIN_OK)
        return 1;
    fclose(names);
    {
        FILE *f = fopen(cin_asprintf("%s.ca.pem", argv[3]), "w");
        fputs(ca_pem, f);
        fclose(f);
    }
    cin_store_close(st);
    return 0;
}
