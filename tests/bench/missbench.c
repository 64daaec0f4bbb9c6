/*
 * missbench - what one handshake cache miss costs, part by part, and the
 * ways it is not done any more, side by side in one run (interleaved rounds,
 * medians of microseconds per certificate, CPU time of this process):
 *
 *   read      the store's row: chain, state, sealed key, unsealed (cin_store_cert_material)
 *   leaf      the leaf certificate alone, its public key by certinext's own
 *             key manager (leaf_load.c; the intermediates are shared)
 *   leaf-gen  the leaf by OpenSSL's d2i_X509 (its key by OpenSSL's decoders)
 *   chain     every certificate of the chain the generic way (each entry its
 *             own intermediates)
 *   key       the key by its type's own parser (key_load.c)
 *   key-gen   the key by OpenSSL's generic reader
 *   check     the key against the leaf
 *   check-gen the generic key against the generic leaf
 *   use       SSL_use_cert_and_key on a new SSL
 *   shared    the same certificate's DER chain and sealed key copied from the
 *             host's shared cache and the key unsealed (cin_hostcache.h):
 *             what replaces "read" once any process of the server has read it
 *
 * usage: missbench STORE N_CERTIFICATES [SAMPLE [ROUNDS]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "cin_hostcache.h"
#include "cin_store.h"
#include "cin_store_order.h"
#include "cin_x509.h"

enum { READ, LEAF, LEAFGEN, CHAIN, KEY, KEYGEN, CHECK, CHECKGEN, USE, SHARED, NPARTS };
static const char *part_name[NPARTS] = {"read",    "leaf",  "leaf-gen",  "chain", "key",
                                        "key-gen", "check", "check-gen", "use",   "shared"};
static double cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static cin_hostcache *hc;

/* The shared cache's entry for certificate id (its leaf and sealed key) made
 * if it is not there, then copied out and the key opened: microseconds. */
static double shared_part(cin_store *st, long id, X509 *leaf, const cin_cert_material *m)
{
    cin_hc_material hm, got;
    unsigned char *der = NULL, *pt = NULL;
    size_t ptlen = 0;
    char label[64];
    double t0, t1;
    int len = i2d_X509(leaf, &der), ok;

    memset(&hm, 0, sizeof(hm));
    hm.cert_id = id;
    hm.key_id = m->key_id;
    hm.nders = 1;
    hm.ders[0] = der;
    hm.der_len[0] = len > 0 ? (size_t)len : 0;
    hm.sealed = m->sealed;
    hm.sealed_len = m->sealed_len;
    ok = len > 0 && cin_hostcache_put(hc, &hm) == CIN_OK;
    OPENSSL_free(der);
    t0 = cpu_us();
    snprintf(label, sizeof(label), "private_key:%lld", (long long)m->key_id);
    ok = ok && cin_hostcache_get(hc, id, &got) == CIN_OK &&
         cin_store_unseal(st, label, got.sealed, got.sealed_len, &pt, &ptlen) == CIN_OK;
    t1 = cpu_us();
    if (pt)
        cin_free_secret(pt, ptlen);
    cin_hc_material_clear(&got);
    return ok ? t1 - t0 : -1;
}

/* The first certificate of a PEM chain, as the handshake's miss reads it
 * (fast) or by PEM_read_bio_X509. */
static X509 *leaf_of(const char *pem, int fast)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long len = 0;
    int decoded = 0;
    X509 *x = NULL;

    if (!fast)
        x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    else if (b && PEM_read_bio(b, &name, &header, &der, &len) == 1)
        x = cin_leaf_from_der(der, len, &decoded);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(b);
    if (fast && x && !decoded) {
        fprintf(stderr, "missbench: the leaf's key was not decoded by certinext's key manager\n");
        exit(1);
    }
    return x;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* One round over ids: the time of each part, per certificate. */
static int round_of(cin_store *st, SSL_CTX *ctx, const long *ids, int n, double out[NPARTS])
{
    int i, p;

    memset(out, 0, sizeof(double) * NPARTS);
    for (i = 0; i < n; i++) {
        cin_cert_material m;
        STACK_OF(X509) * all;
        X509 *leaf, *leafgen;
        EVP_PKEY *k, *g;
        SSL *ssl;
        double t[NPARTS + 1];

        t[0] = cpu_us();
        if (cin_store_cert_material(st, ids[i], &m) != CIN_OK || !m.key_pem) {
            fprintf(stderr, "missbench: certificate %ld has no usable row\n", ids[i]);
            return 1;
        }
        t[1] = cpu_us();
        leaf = leaf_of(m.chain_pem, 1);
        t[2] = cpu_us();
        leafgen = leaf_of(m.chain_pem, 0);
        t[3] = cpu_us();
        all = cin_chain_parse(m.chain_pem);
        t[4] = cpu_us();
        k = cin_key_from_pem_typed(m.key_pem, m.key_type);
        t[5] = cpu_us();
        g = cin_key_from_pem(m.key_pem);
        t[6] = cpu_us();
        if (!leaf || !leafgen || !all || !k || !g || X509_check_private_key(leaf, k) != 1) {
            fprintf(stderr, "missbench: certificate %ld does not parse\n", ids[i]);
            return 1;
        }
        t[7] = cpu_us();
        if (X509_check_private_key(leafgen, g) != 1) {
            fprintf(stderr, "missbench: certificate %ld does not parse\n", ids[i]);
            return 1;
        }
        t[8] = cpu_us();
        ssl = SSL_new(ctx);
        SSL_certs_clear(ssl);
        if (SSL_use_cert_and_key(ssl, leaf, k, NULL, 1) != 1) {
            fprintf(stderr, "missbench: certificate %ld cannot be used\n", ids[i]);
            return 1;
        }
        t[9] = cpu_us();
        for (p = 0; p < USE + 1; p++)
            out[p] += t[p + 1] - t[p];
        t[0] = shared_part(st, ids[i], leaf, &m);
        if (t[0] < 0) {
            fprintf(stderr, "missbench: certificate %ld is not shared\n", ids[i]);
            return 1;
        }
        out[SHARED] += t[0];
        SSL_free(ssl);
        X509_free(leaf);
        X509_free(leafgen);
        sk_X509_pop_free(all, X509_free);
        EVP_PKEY_free(k);
        EVP_PKEY_free(g);
        cin_cert_material_clear(&m);
        ERR_clear_error();
    }
    for (p = 0; p < NPARTS; p++)
        out[p] /= n;
    return 0;
}

int main(int argc, char **argv)
{
    int n, sample, rounds, r, p, i;
    cin_store *st = NULL;
    char *err = NULL;
    SSL_CTX *ctx;
    long *ids;
    double(*res)[NPARTS], med[NPARTS], col[64];
    unsigned seed = 7;

    if (argc < 3) {
        fprintf(stderr, "usage: missbench STORE N_CERTIFICATES [SAMPLE [ROUNDS]]\n");
        return 2;
    }
    n = atoi(argv[2]);
    sample = argc > 3 ? atoi(argv[3]) : 400;
    rounds = argc > 4 ? atoi(argv[4]) : 5;
    if (n < 1 || sample < 1 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "missbench: bad numbers\n");
        return 2;
    }
    if (cin_store_open(argv[1], NULL, &st, &err) != CIN_OK) {
        fprintf(stderr, "missbench: %s\n", err ? err : "cannot open the store");
        return 1;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    hc = cin_hostcache_create((size_t)256 * 1024 * 1024);
    ids = calloc((size_t)sample, sizeof(*ids));
    res = calloc((size_t)rounds, sizeof(*res));
    if (!ctx || !hc || !ids || !res)
        return 1;
    for (r = 0; r < rounds; r++) {
        /* a new random sample of certificates every round: rows not yet read */
        for (i = 0; i < sample; i++)
            ids[i] = 1 + (long)(rand_r(&seed) % n);
        if (round_of(st, ctx, ids, sample, res[r]) != 0)
            return 1;
    }
    for (p = 0; p < NPARTS; p++) {
        for (r = 0; r < rounds; r++)
            col[r] = res[r][p];
        qsort(col, (size_t)rounds, sizeof(double), cmp);
        med[p] = col[rounds / 2];
    }
    printf("  one cache miss, microseconds of CPU per certificate (medians of %d rounds of %d):\n",
           rounds, sample);
    for (p = 0; p < NPARTS; p++)
        printf("    %-8s %8.1f\n", part_name[p], med[p]);
    printf("  a miss now (read + leaf + key + check + use): %.0f us;"
           " the generic way (read + chain + key-gen + check-gen + use): %.0f us;"
           " now/generic = %.2f\n",
           med[READ] + med[LEAF] + med[KEY] + med[CHECK] + med[USE],
           med[READ] + med[CHAIN] + med[KEYGEN] + med[CHECKGEN] + med[USE],
           (med[READ] + med[LEAF] + med[KEY] + med[CHECK] + med[USE]) /
               (med[READ] + med[CHAIN] + med[KEYGEN] + med[CHECKGEN] + med[USE]));
    printf("  a miss from the host's shared cache (shared + leaf + key + use; the key was "
           "checked when it was shared): %.0f us\n",
           med[SHARED] + med[LEAF] + med[KEY] + med[USE]);
    free(ids);
    free(res);
    SSL_CTX_free(ctx);
    cin_hostcache_free(hc);
    cin_store_close(st);
    return 0;
}
