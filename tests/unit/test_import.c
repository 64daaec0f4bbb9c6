/* test_import.c - import.c and import_scan.c: certificates servers already
 * have become issued orders of kind "import". */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cin_account.h"
#include "cin_import.h"
#include "cin_order.h"
#include "harness.h"

static fixture *F;
static char cli[PATH_MAX];
static const cin_actor provider = {NULL, "cli", NULL};

static void setup(void)
{
    const char *c = getenv("CIN_CLI") ? getenv("CIN_CLI") : "build/certinext";

    ck_assert_ptr_nonnull(realpath(c, cli));
    F = fixture_new();
}

static void teardown(void)
{
    fixture_free(F);
    F = NULL;
}

static char *sql(const char *q)
{
    return store_query(F, q);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    ck_assert_msg(run(cmd, NULL) == 0, "failed: %s", cmd);
}

static char *slurp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *slurp(const char *fmt, ...)
{
    char path[1024], *buf;
    FILE *fp;
    long n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    rewind(fp);
    buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    return buf;
}

/* A private CA in DIR/ca.{key,pem} (made once per test). */
static void make_ca(void)
{
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout ca.key -out ca.pem -days 30 -subj '/CN=Private Test CA' "
       "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign "
       ">/dev/null 2>&1",
       F->dir);
}

/* DIR/NAME.key and DIR/NAME.crt (leaf only) signed by the private CA, for
 * names "a,b" (the first is the CN). */
static void make_leaf(const char *name, const char *names)
{
    char san[512] = "", *p;
    const char *s = names;

    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        snprintf(san + strlen(san), sizeof(san) - strlen(san), "%sDNS:%.*s", *san ? "," : "",
                 (int)n, s);
        s += n + (e ? 1 : 0);
    }
    p = strchr(names, ',');
    sh("cd %s && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout %s.key -out %s.csr -subj '/CN=%.*s' >/dev/null 2>&1 && "
       "printf 'subjectAltName=%s\\n' > %s.ext && "
       "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out %s.crt "
       "-days 30 -extfile %s.ext >/dev/null 2>&1",
       F->dir, name, name, p ? (int)(p - names) : (int)strlen(names), names, san, name, name, name,
       name);
}

/* DIR/NAME.crt and .key: self-signed for cn, expired a month ago (the
 * openssl command of Debian 12 cannot date a certificate in the past). */
static void make_expired(const char *name, const char *cn)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    char path[1024];
    FILE *fp;

    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_set_version(x, 2);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), -60L * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), -30L * 86400);
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    snprintf(path, sizeof(path), "%s/%s.crt", F->dir, name);
    fp = fopen(path, "w");
    PEM_write_X509(fp, x);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/%s.key", F->dir, name);
    fp = fopen(path, "w");
    PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL);
    fclose(fp);
    X509_free(x);
    EVP_PKEY_free(k);
}

static int import_files(const char *cert, const char *key, const char *product, cin_order *o,
                        cin_problem *p)
{
    char *chain = slurp("%s/%s", F->dir, cert), *k = slurp("%s/%s", F->dir, key);
    cin_import_request r = {"acme", product, chain, k, cert, 0};
    int rc = cin_order_import(F->st, &provider, &r, o, p);

    free(chain);
    free(k);
    return rc;
}

/* Run the certinext command in the test's directory: its exit status. */
static int cli_run(const char *args, char **out)
{
    char *cmd = NULL;
    int rc;

    ck_assert_int_gt(asprintf(&cmd, "cd %s && %s %s %s 2>&1", F->dir, cli, F->cli_args, args), 0);
    rc = run(cmd, out);
    free(cmd);
    return rc;
}

START_TEST(pair_becomes_issued_import_order_served_at_once)
{
    cin_problem p = {0};
    cin_name_entry *e = NULL;
    cin_order o;
    uint64_t gen = 0;
    size_t n = 0, i;
    char *v, *chain;
    int found = 0;

    make_ca();
    make_leaf("site", "example.com,www.example.com");
    /* the chain as a server has it: leaf then the private CA */
    sh("cd %s && cat site.crt ca.pem > site.full", F->dir);
    ck_assert_int_eq(import_files("site.full", "site.key", NULL, &o, &p), CIN_OK);
    ck_assert_str_eq(o.status, "issued");
    ck_assert_str_eq(o.kind, "import");
    ck_assert_str_eq(o.product, "dv-multi");
    ck_assert_int_eq(o.price, 0);
    ck_assert_int_eq(o.nsans, 2);
    ck_assert_str_eq(o.sans[0], "example.com");
    ck_assert_int_gt(o.order_number, 0);
    /* no credit moved, the key sealed (no PEM in the store), an audit event */
    v = sql("SELECT credits FROM accounts WHERE name='acme'");
    ck_assert_str_eq(v, "1000\n");
    free(v);
    v = sql("SELECT count(*) FROM private_keys WHERE sealed LIKE '%PRIVATE KEY%'");
    ck_assert_str_eq(v, "0\n");
    free(v);
    v = sql("SELECT actor, action FROM order_events WHERE action='order.import'");
    ck_assert_str_eq(v, "cli|order.import\n");
    free(v);
    /* the SNI index maps both names to the certificate: served at once */
    ck_assert_int_eq(cin_store_names_since(F->st, 0, &e, &n, &gen), CIN_OK);
    for (i = 0; i < n; i++)
        if (!strcmp(e[i].name, "www.example.com") && e[i].cert_id == o.cert_id)
            found = 1;
    cin_name_entries_free(e, n);
    ck_assert_int_eq(found, 1);
    /* the certificates report (and so the page) says it was imported */
    {
        hresp r = call(F, U_ADMIN, "GET", "/api/v1/certificates", NULL, NULL);
        json_t *c0 = json_array_get(json_object_get(r.json, "certificates"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(c0, "origin")), "import");
        hresp_free(&r);
    }
    /* the chain and key download work like an issued order's */
    ck_assert_int_eq(cin_order_chain(F->st, &provider, o.id, &chain, &p), CIN_OK);
    ck_assert_ptr_nonnull(strstr(chain, "BEGIN CERTIFICATE"));
    ck_assert_ptr_nonnull(strstr(strstr(chain, "END CERTIFICATE") + 10, "BEGIN CERTIFICATE"));
    free(chain);
    cin_order_clear(&o);
    /* the same certificate again is the same order, nothing new */
    ck_assert_int_eq(import_files("site.full", "site.key", NULL, &o, &p), CIN_EEXIST);
    ck_assert_str_eq(p.code, "already_imported");
    cin_order_clear(&o);
    cin_problem_clear(&p);
    ck_assert_int_eq(count_rows(F, "orders"), 1);
}
END_TEST

START_TEST(bad_pairs_refused_and_nothing_written)
{
    cin_problem p = {0};
    cin_order o;

    make_ca();
    make_leaf("a", "example.com");
    make_leaf("b", "shop.example.net");
    make_expired("old", "example.com");
    make_leaf("theirs", "other.org");
    /* the key of another certificate */
    ck_assert_int_eq(import_files("a.crt", "b.key", NULL, &o, &p), CIN_EINVAL);
    ck_assert_str_eq(p.code, "key_mismatch");
    cin_problem_clear(&p);
    /* a key file with b's secret and a's public half: it matches a's
     * certificate by its public half, but signs nothing a's key verifies */
    {
        char *apem = slurp("%s/a.key", F->dir), *bpem = slurp("%s/b.key", F->dir), path[PATH_MAX];
        BIO *ba = BIO_new_mem_buf(apem, -1), *bb = BIO_new_mem_buf(bpem, -1);
        EVP_PKEY *ka = PEM_read_bio_PrivateKey(ba, NULL, NULL, NULL);
        EVP_PKEY *kb = PEM_read_bio_PrivateKey(bb, NULL, NULL, NULL), *mixed = NULL;
        unsigned char pub[133];
        size_t publen = 0;
        BIGNUM *priv = NULL;
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM *params;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        FILE *f;

        ck_assert_int_eq(
            EVP_PKEY_get_octet_string_param(ka, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &publen),
            1);
        ck_assert_int_eq(EVP_PKEY_get_bn_param(kb, OSSL_PKEY_PARAM_PRIV_KEY, &priv), 1);
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, publen);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv);
        params = OSSL_PARAM_BLD_to_param(bld);
        ck_assert_int_eq(EVP_PKEY_fromdata_init(ctx), 1);
        ck_assert_int_eq(EVP_PKEY_fromdata(ctx, &mixed, EVP_PKEY_KEYPAIR, params), 1);
        snprintf(path, sizeof(path), "%s/mixed.key", F->dir);
        f = fopen(path, "w");
        ck_assert_int_eq(PEM_write_PrivateKey(f, mixed, NULL, NULL, 0, NULL, NULL), 1);
        fclose(f);
        ck_assert_int_eq(import_files("a.crt", "mixed.key", NULL, &o, &p), CIN_EINVAL);
        ck_assert_str_eq(p.code, "key_mismatch");
        ck_assert_ptr_nonnull(strstr(p.detail, "secret"));
        cin_problem_clear(&p);
        EVP_PKEY_free(mixed);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        BN_free(priv);
        EVP_PKEY_free(ka);
        EVP_PKEY_free(kb);
        BIO_free(ba);
        BIO_free(bb);
        free(apem);
        free(bpem);
    }
    /* a chain whose second certificate did not sign the first */
    sh("cd %s && cat a.crt b.crt > broken.full", F->dir);
    ck_assert_int_eq(import_files("broken.full", "a.key", NULL, &o, &p), CIN_EINVAL);
    ck_assert_str_eq(p.code, "invalid_chain");
    cin_problem_clear(&p);
    /* a chain longer than certinext sends (each certificate signed by the
     * next: the CA repeated) */
    sh("cd %s && cat a.crt ca.pem ca.pem ca.pem ca.pem ca.pem ca.pem ca.pem ca.pem ca.pem "
       "ca.pem > long.full",
       F->dir);
    ck_assert_int_eq(import_files("long.full", "a.key", NULL, &o, &p), CIN_EINVAL);
    ck_assert_str_eq(p.code, "invalid_chain");
    ck_assert_ptr_nonnull(strstr(p.detail, "11 certificates"));
    cin_problem_clear(&p);
    ck_assert_int_eq(import_files("old.crt", "old.key", NULL, &o, &p), CIN_EINVAL);
    ck_assert_str_eq(p.code, "expired");
    cin_problem_clear(&p);
    /* names of another account */
    ck_assert_int_eq(import_files("theirs.crt", "theirs.key", NULL, &o, &p), CIN_EPERM);
    ck_assert_str_eq(p.code, "domain_not_owned");
    cin_problem_clear(&p);
    /* a product whose rules refuse the names */
    make_leaf("two", "example.com,www.example.com");
    ck_assert_int_eq(import_files("two.crt", "two.key", "dv-ssl", &o, &p), CIN_EINVAL);
    cin_problem_clear(&p);
    /* the key is not PEM at all */
    ck_assert_int_eq(import_files("a.crt", "a.crt", NULL, &o, &p), CIN_EINVAL);
    cin_problem_clear(&p);
    ck_assert_int_eq(count_rows(F, "orders"), 0);
    ck_assert_int_eq(count_rows(F, "private_keys"), 0);
    ck_assert_int_eq(count_rows(F, "certificates"), 0);
}
END_TEST

START_TEST(cli_finds_certbot_mod_md_pem_pairs_and_pkcs12)
{
    char *out = NULL, *v;

    make_ca();
    make_leaf("c1", "example.com");
    make_leaf("c2", "www.example.com");
    make_leaf("c3", "api.example.com");
    make_leaf("c4", "shop.example.net");
    make_leaf("c5", "cdn.example.com");
    /* certbot: live/NAME/{fullchain,privkey}.pem (symbolic links into
     * archive/, which is never read itself) */
    sh("cd %s && mkdir -p le/live/c1 le/archive/c1 && cat c1.crt ca.pem > "
       "le/archive/c1/fullchain1.pem && cp c1.key le/archive/c1/privkey1.pem && "
       "ln -s ../../archive/c1/fullchain1.pem le/live/c1/fullchain.pem && "
       "ln -s ../../archive/c1/privkey1.pem le/live/c1/privkey.pem && "
       "cp c1.crt le/archive/c1/cert1.pem",
       F->dir);
    /* mod_md: domains/NAME/{pubcert,privkey}.pem; staging/ is skipped */
    sh("cd %s && mkdir -p md/domains/c2 md/staging/c3 && cat c2.crt ca.pem > "
       "md/domains/c2/pubcert.pem && cp c2.key md/domains/c2/privkey.pem && "
       "cp c3.crt md/staging/c3/pubcert.pem && cp c3.key md/staging/c3/privkey.pem",
       F->dir);
    /* a PEM pair beside each other, and one file holding both */
    sh("cd %s && mkdir pairs && cp c3.crt c3.key pairs/ && cat c5.crt c5.key > pairs/c5.pem",
       F->dir);
    /* PKCS#12 with a password */
    sh("cd %s && openssl pkcs12 -export -inkey c4.key -in c4.crt -certfile ca.pem "
       "-passout pass:s3cret -out c4.p12 && printf 's3cret\\n' > p12pass",
       F->dir);
    ck_assert_msg(
        cli_run("import --account acme --p12-password-file p12pass le md pairs c4.p12", &out) == 0,
        "%s", out);
    ck_assert_msg(strstr(out, "imported 5, already there 0, failed 0") != NULL, "%s", out);
    free(out);
    v = sql("SELECT common_name FROM orders WHERE kind='import' ORDER BY common_name");
    ck_assert_str_eq(v, "api.example.com\ncdn.example.com\nexample.com\nshop.example.net\n"
                        "www.example.com\n");
    free(v);
    /* a second run finds them all there; a path with nothing is an error */
    ck_assert_int_eq(
        cli_run("import --account acme --p12-password-file p12pass le md pairs c4.p12", &out), 0);
    ck_assert_msg(strstr(out, "imported 0, already there 5, failed 0") != NULL, "%s", out);
    free(out);
    sh("mkdir -p %s/empty", F->dir);
    ck_assert_int_eq(cli_run("import --account acme empty", &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "no certificate with its key found"));
    free(out);
    /* a wrong PKCS#12 password: said, nothing imported */
    sh("cd %s && printf 'wrong\\n' > badpass", F->dir);
    ck_assert_int_eq(cli_run("import --account other --p12-password-file badpass c4.p12", &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "failed 1"));
    ck_assert_ptr_nonnull(strstr(out, "cannot open this PKCS#12 file"));
    free(out);
    ck_assert_int_eq(count_rows(F, "orders"), 5);
}
END_TEST

START_TEST(imported_certificate_renews_through_the_product_ca)
{
    cin_problem p = {0};
    cin_order o;
    char path[96];
    hresp r;
    char *v;

    make_ca();
    make_leaf("site", "example.com");
    ck_assert_int_eq(import_files("site.crt", "site.key", NULL, &o, &p), CIN_OK);
    ck_assert_str_eq(o.product, "dv-ssl");
    /* the account's administrator renews it like any issued order: the
     * product's CA (here the built-in one) issues the renewal */
    snprintf(path, sizeof(path), "/api/v1/orders/R-%06lld/renew", (long long)o.id);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 201);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", jstr(&r, "id"));
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    v = sql("SELECT kind, status FROM orders ORDER BY id");
    ck_assert_str_eq(v, "import|superseded\nrenewal|issued\n");
    free(v);
    v = sql("SELECT count(*) FROM certificates WHERE status = 'active' AND issuer LIKE"
            " '%Private Test CA%'");
    ck_assert_str_eq(v, "0\n");
    free(v);
    cin_order_clear(&o);
}
END_TEST

START_TEST(only_the_provider_imports)
{
    cin_problem p = {0};
    cin_import_request r = {"acme", NULL, "x", "y", "t", 0};
    cin_user u = {0};
    cin_actor a = {&u, NULL, NULL};
    cin_order o;

    u.role = "admin";
    u.account = "acme";
    ck_assert_int_eq(cin_order_import(F->st, &a, &r, &o, &p), CIN_EPERM);
    cin_problem_clear(&p);
    r.account = "nobody";
    ck_assert_int_eq(cin_order_import(F->st, &provider, &r, &o, &p), CIN_ENOTFOUND);
    cin_problem_clear(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("import");
    TCase *tc = tcase_create("import");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pair_becomes_issued_import_order_served_at_once);
    tcase_add_test(tc, bad_pairs_refused_and_nothing_written);
    tcase_add_test(tc, cli_finds_certbot_mod_md_pem_pairs_and_pkcs12);
    tcase_add_test(tc, imported_certificate_renews_through_the_product_ca);
    tcase_add_test(tc, only_the_provider_imports);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
