/*
 * test_tls.c - certificate selection on real in-memory TLS handshakes:
 * exact and wildcard names, the fallback, revocation and replacement seen on
 * the next handshake, the bounded cache, and tampered keys never served.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "cin_account.h"
#include "cin_generation.h"
#include "cin_hostcache.h"
#include "cin_order.h"
#include "cin_tls.h"
#include "cin_util.h"
#include "cin_x509.h"
#include "core_int.h"
#include "harness.h"

static fixture *F;
static cin_tls *T;
static SSL_CTX *server_ctx;
static char fallback_serial[80];

/* A self-signed fallback certificate, as a server configures one. */
static void make_server_ctx(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    cin_cert_facts f;
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long len;

    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x7777);
    X509_set_version(x, 2);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"fallback", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    server_ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(server_ctx, x);
    SSL_CTX_use_PrivateKey(server_ctx, k);
    SSL_CTX_set_cert_cb(server_ctx, cin_tls_cert_cb, &T);
    PEM_write_bio_X509(b, x);
    len = BIO_get_mem_data(b, &data);
    data[len - 1] = '\0';
    cin_cert_facts_get(data, &f);
    strcpy(fallback_serial, f.serial);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void setup(void)
{
    F = fixture_new();
    make_server_ctx();
    T = NULL;
}

static void teardown(void)
{
    cin_tls_free(T);
    SSL_CTX_free(server_ctx);
    fixture_free(F);
}

static int last_chain_len; /* certificates the server sent in the last handshake */

/* A full handshake with SNI name; returns the served leaf's serial (static). */
static const char *handshake(const char *sni)
{
    static char serial[80];
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *c = SSL_new(cctx), *s = SSL_new(server_ctx);
    X509 *peer;
    int i;

    settle(F);
    handshake_in_memory(c, s, sni);
    peer = SSL_get1_peer_certificate(c);
    last_chain_len = sk_X509_num(SSL_get_peer_cert_chain(c));
    {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), NULL);
        char *hex = BN_bn2hex(bn);
        for (i = 0; hex[i]; i++)
            serial[i] = (char)((hex[i] >= 'A' && hex[i] <= 'F') ? hex[i] + 32 : hex[i]);
        serial[i] = '\0';
        OPENSSL_free(hex);
        BN_free(bn);
    }
    X509_free(peer);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    return serial;
}

/* Pay order id and let the agent issue it. */
static void pay_and_issue(const char *id)
{
    char path[96];
    hresp r;

    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    hresp_free(&r);
    agent_pass(F);
}

/* Issue an order for names through the API; returns the serial (static). */
static const char *issue(const char *product, const char *names_json, char *id_out)
{
    static char serial[80];
    char path[96];
    hresp r;
    const char *id = order_new(F, U_ADMIN, product, names_json);

    if (id_out)
        strcpy(id_out, id);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_str_eq(jstr(&r, "status"), "issued");
    strcpy(serial,
           json_string_value(json_object_get(json_object_get(r.json, "certificate"), "serial")));
    hresp_free(&r);
    return serial;
}

START_TEST(exact_wildcard_and_fallback)
{
    char a[80], w[80];

    strcpy(a, issue("dv-multi", "[\"www.example.com\",\"example.com\"]", NULL));
    strcpy(w, issue("dv-wildcard", "[\"*.shop.example.net\",\"shop.example.net\"]", NULL));
    ck_assert_int_eq(cin_tls_create(F->core, 100, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("www.example.com"), a);
    ck_assert_str_eq(handshake("EXAMPLE.com"), a);
    ck_assert_str_eq(handshake("cart.shop.example.net"), w);
    ck_assert_str_eq(handshake("shop.example.net"), w);
    /* a wildcard covers one label only */
    ck_assert_str_eq(handshake("a.b.shop.example.net"), fallback_serial);
    ck_assert_str_eq(handshake("unknown.example.org"), fallback_serial);
    ck_assert_str_eq(handshake(NULL), fallback_serial);
}
END_TEST

START_TEST(new_revoked_and_replaced_seen_on_next_handshake)
{
    char id[32], s1[80], s2[80], path[96];
    hresp r;

    ck_assert_int_eq(cin_tls_create(F->core, 100, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("live.example.com"), fallback_serial);
    /* issued after the index was built: served on the next handshake */
    strcpy(s1, issue("dv-ssl", "[\"live.example.com\"]", id));
    ck_assert_str_eq(handshake("live.example.com"), s1);
    /* reissued: the new serial */
    snprintf(path, sizeof(path), "/api/v1/orders/%s/reissue", id);
    r = call(F, U_ADMIN, "POST", path, "{}", NULL);
    ck_assert_int_eq(r.status, 201);
    snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
    hresp_free(&r);
    pay_and_issue(id);
    strcpy(s2, handshake("live.example.com"));
    ck_assert_str_ne(s2, s1);
    ck_assert_str_ne(s2, fallback_serial);
    /* revoked: the next handshake no longer gets it */
    snprintf(path, sizeof(path), "/api/v1/orders/%s/revoke", id);
    r = call(F, U_ADMIN, "POST", path, "{\"reason\":\"keyCompromise\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    ck_assert_str_eq(handshake("live.example.com"), fallback_serial);
}
END_TEST

/* The provider moves or removes a domain: its old owner's certificate is no
 * longer served for it on the very next handshake, a wildcard included. */
START_TEST(served_only_while_the_account_owns_the_name)
{
    static const cin_actor provider = {NULL, "cli", NULL};
    cin_problem p = {0};
    char a[80], w[80];

    strcpy(a, issue("dv-ssl", "[\"shop.example.net\"]", NULL));
    strcpy(w, issue("dv-wildcard", "[\"*.example.com\",\"example.com\"]", NULL));
    ck_assert_int_eq(cin_tls_create(F->core, 100, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("shop.example.net"), a);
    ck_assert_str_eq(handshake("cart.example.com"), w);
    /* moved to another account: acme's certificate is not served for it */
    ck_assert_int_eq(cin_account_domain_remove(F->st, &provider, "shop.example.net", &p), CIN_OK);
    ck_assert_str_eq(handshake("shop.example.net"), fallback_serial);
    ck_assert_int_eq(cin_account_domain_add(F->st, &provider, "other", "shop.example.net", &p),
                     CIN_OK);
    ck_assert_str_eq(handshake("shop.example.net"), fallback_serial);
    /* the name back with acme: served again, without a new order */
    ck_assert_int_eq(cin_account_domain_remove(F->st, &provider, "shop.example.net", &p), CIN_OK);
    ck_assert_int_eq(cin_account_domain_add(F->st, &provider, "acme", "shop.example.net", &p),
                     CIN_OK);
    ck_assert_str_eq(handshake("shop.example.net"), a);
    /* a subdomain given to another account: acme's wildcard stops covering it */
    ck_assert_int_eq(cin_account_domain_remove(F->st, &provider, "example.com", &p), CIN_OK);
    ck_assert_str_eq(handshake("cart.example.com"), fallback_serial);
    ck_assert_int_eq(cin_account_domain_add(F->st, &provider, "other", "cart.example.com", &p),
                     CIN_OK);
    ck_assert_str_eq(handshake("cart.example.com"), fallback_serial);
    ck_assert_int_eq(cin_account_domain_add(F->st, &provider, "acme", "example.com", &p),
                     CIN_EEXIST);
    cin_problem_clear(&p);
}
END_TEST

/* Issue an RSA-2048 certificate for name through the API; its serial. */
static void issue_rsa_names(const char *product, const char *first, const char *names_json,
                            char *serial)
{
    char body[320], oid[32], path[96];
    hresp r;

    snprintf(body, sizeof(body),
             "{\"product\":\"%s\",\"common_name\":\"%s\",\"sans\":%s,\"key_type\":\"rsa-2048\"}",
             product, first, names_json);
    r = call(F, U_ADMIN, "POST", "/api/v1/orders", body, NULL);
    ck_assert_int_eq(r.status, 201);
    snprintf(oid, sizeof(oid), "%s", jstr(&r, "id"));
    hresp_free(&r);
    pay_and_issue(oid);
    snprintf(path, sizeof(path), "/api/v1/orders/%s", oid);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    strcpy(serial,
           json_string_value(json_object_get(json_object_get(r.json, "certificate"), "serial")));
    hresp_free(&r);
}

static void issue_rsa(const char *name, char *serial)
{
    char names[128];

    snprintf(names, sizeof(names), "[\"%s\"]", name);
    issue_rsa_names("dv-ssl", name, names, serial);
}

START_TEST(rsa_certificate_beside_ecdsa_fallback)
{
    char rsa[80], path[96];
    const char *id;
    hresp r;

    ck_assert_int_eq(cin_tls_create(F->core, 10, &T, NULL), CIN_OK);
    id = order_new(F, U_ADMIN, "dv-ssl", "[\"rsa.example.com\"]");
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    hresp_free(&r);
    /* an RSA order: the fallback is ECDSA, yet ours must be the one served */
    issue_rsa("rsa2.example.com", rsa);
    ck_assert_str_eq(handshake("rsa2.example.com"), rsa);
}
END_TEST

/* A certificate the server's policy refuses for the connection (RSA 2048
 * under security level 3, which wants 128-bit keys) leaves the server's own
 * certificate in place: the handshake succeeds with the fallback, every
 * time, and the same certificate is served where the policy allows it. */
START_TEST(refused_certificate_leaves_the_servers_own)
{
    char rsa[80];

    ck_assert_int_eq(cin_tls_create(F->core, 10, &T, NULL), CIN_OK);
    issue_rsa("rsa3.example.com", rsa);
    ck_assert_str_eq(handshake("rsa3.example.com"), rsa);
    SSL_CTX_set_security_level(server_ctx, 3);
    ck_assert_str_eq(handshake("rsa3.example.com"), fallback_serial);
    ck_assert_str_eq(handshake("rsa3.example.com"), fallback_serial);
    SSL_CTX_set_security_level(server_ctx, 2);
    ck_assert_str_eq(handshake("rsa3.example.com"), rsa);
}
END_TEST

/* A refused certificate is logged once until the certificates change, however
 * often the cache evicts and loads it again; the line names it by its index
 * name, never by the client's SNI. */
START_TEST(refusal_is_logged_once_until_a_change)
{
    static const char *const line = "refused by this server's TLS settings";
    char rsa4[80], rsa[80], ec[80];
    int i;

    ck_assert_int_eq(cin_tls_create(F->core, 1, &T, NULL), CIN_OK);
    issue_rsa("rsa4.example.com", rsa4);
    strcpy(ec, issue("dv-ssl", "[\"ec4.example.com\"]", NULL));
    SSL_CTX_set_security_level(server_ctx, 3);
    harness_log_clear();
    for (i = 0; i < 3; i++) { /* a cache of 1: every handshake loads its certificate */
        ck_assert_str_eq(handshake("rsa4.example.com"), fallback_serial);
        ck_assert_str_eq(handshake("ec4.example.com"), ec);
    }
    ck_assert_int_eq(harness_logged(line), 1);
    ck_assert_int_eq(harness_logged("for rsa4.example.com refused"), 1);
    ck_assert_int_eq(harness_logged("RSA, 2048 bits; security level 3"), 1);
    issue("dv-ssl", "[\"ec5.example.com\"]", NULL); /* a change */
    ck_assert_str_eq(handshake("rsa4.example.com"), fallback_serial);
    ck_assert_int_eq(harness_logged(line), 2);
    /* a wildcard's: logged by the index's name, not by the client's label */
    issue_rsa_names("dv-wildcard", "*.shop.example.net",
                    "[\"*.shop.example.net\",\"shop.example.net\"]", rsa);
    ck_assert_str_eq(handshake("client-label.shop.example.net"), fallback_serial);
    ck_assert_int_eq(harness_logged("for *.shop.example.net refused"), 1);
    ck_assert_int_eq(harness_logged("client-label"), 0);
    SSL_CTX_set_security_level(server_ctx, 2);
    ck_assert_str_eq(handshake("rsa4.example.com"), rsa4);
    ck_assert_str_eq(handshake("client-label.shop.example.net"), rsa);
}
END_TEST

/* Issue n certificates, prefix0.example.com ...; their serials into s. */
static void issue_n(const char *prefix, int n, char s[][80])
{
    int i;

    for (i = 0; i < n; i++) {
        char names[64];
        snprintf(names, sizeof(names), "[\"%s%d.example.com\"]", prefix, i);
        strcpy(s[i], issue("dv-ssl", names, NULL));
    }
}

/* Handshake for each of them, rounds times: each serves its own certificate
 * with the built-in CA's intermediate. */
static void handshake_n(const char *prefix, int n, int rounds, char s[][80])
{
    int i, round;

    for (round = 0; round < rounds; round++)
        for (i = 0; i < n; i++) {
            char name[64];
            snprintf(name, sizeof(name), "%s%d.example.com", prefix, i);
            ck_assert_str_eq(handshake(name), s[i]);
            ck_assert_int_eq(last_chain_len, 2); /* leaf + the intermediate */
        }
}

/* A cache of 2 for 5 names: every handshake misses, and each still sends
 * its leaf with the built-in CA's intermediate, parsed once and shared. */
START_TEST(bounded_cache)
{
    char s[5][80];
    cin_tls_stats st;

    issue_n("c", 5, s);
    ck_assert_int_eq(cin_tls_create(F->core, 2, &T, NULL), CIN_OK);
    handshake_n("c", 5, 3, s);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.names, 5);
    ck_assert_uint_le(st.cached, 2);
    ck_assert_uint_ge(st.misses, 15);
    ck_assert_uint_eq(st.intermediates, 1);
    /* repeated handshakes for one name hit the cache */
    handshake("c4.example.com");
    handshake("c4.example.com");
    cin_tls_get_stats(T, &st);
    ck_assert_uint_ge(st.hits, 2);
}
END_TEST

/* A full cache keeps what was used since it last came round (the clock's
 * second chance), and lets the oldest unused one go: with room for 2, c0
 * used again survives c2's arrival and c1 does not - a plain FIFO would have
 * dropped c0. */
START_TEST(used_entries_get_a_second_chance)
{
    char s[3][80];
    cin_tls_stats st;

    issue_n("k", 3, s);
    ck_assert_int_eq(cin_tls_create(F->core, 2, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("k0.example.com"), s[0]);
    ck_assert_str_eq(handshake("k1.example.com"), s[1]);
    ck_assert_str_eq(handshake("k0.example.com"), s[0]); /* a hit: c0 used */
    ck_assert_str_eq(handshake("k2.example.com"), s[2]); /* c1 leaves */
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.misses, 3);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.cached, 2);
    ck_assert_str_eq(handshake("k0.example.com"), s[0]);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.hits, 2);
    ck_assert_uint_eq(st.misses, 3);
    ck_assert_str_eq(handshake("k1.example.com"), s[1]);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.misses, 4);
    ck_assert_uint_eq(st.cached, 2);
}
END_TEST

/* The cache's table starts small and grows as it fills: 40 certificates
 * issued after it was made, under a bound of 100, are all found again after
 * it has grown; one made when they exist is sized for them at once. */
START_TEST(the_cache_table_grows_as_it_fills)
{
    char s[40][80];
    cin_tls_stats st;
    cin_tls *sized;

    ck_assert_int_eq(cin_tls_create(F->core, 100, &T, NULL), CIN_OK);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.capacity, 100);
    ck_assert_uint_eq(st.buckets, 16);
    issue_n("g", 40, s);
    handshake_n("g", 40, 1, s);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.misses, 40);
    ck_assert_uint_eq(st.cached, 40);
    ck_assert_uint_ge(st.buckets, 80); /* at most half full */
    handshake_n("g", 40, 2, s);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.misses, 40); /* every one found after the table grew */
    ck_assert_uint_eq(st.hits, 80);
    ck_assert_int_eq(cin_tls_create(F->core, 100, &sized, NULL), CIN_OK);
    cin_tls_get_stats(sized, &st);
    ck_assert_uint_eq(st.cached, 0);
    ck_assert_uint_ge(st.buckets, 80);
    cin_tls_free(sized);
    /* no larger than the bound asks for */
    ck_assert_int_eq(cin_tls_create(F->core, 10, &sized, NULL), CIN_OK);
    cin_tls_get_stats(sized, &st);
    ck_assert_uint_le(st.buckets, 32);
    cin_tls_free(sized);
}
END_TEST

/* Without a configured size, a quarter of the host's memory over the
 * server's processes, 8 KiB a certificate, within the bounds. */
START_TEST(the_default_cache_is_a_share_of_the_hosts_memory)
{
    const uint64_t gib = (uint64_t)1 << 30;
    cin_tls_stats st;
    char why[160];
    uint64_t mem = cin_host_memory();

    ck_assert_uint_eq(cin_tls_cache_for_memory(24 * gib, 1), 24 * gib / 4 / 8192); /* 786 432 */
    ck_assert_uint_eq(cin_tls_cache_for_memory(4 * gib, 4), 32768);
    ck_assert_uint_eq(cin_tls_cache_for_memory(4 * gib, 0), 131072); /* 0 processes: 1 */
    ck_assert_uint_eq(cin_tls_cache_for_memory(64 << 20, 8), 256);
    ck_assert_uint_eq(cin_tls_cache_for_memory(64 << 20, 150), CIN_TLS_CACHE_MIN);
    ck_assert_uint_eq(cin_tls_cache_for_memory(1024 * gib, 1), CIN_TLS_CACHE_MAX);
    ck_assert_uint_eq(cin_tls_cache_for_memory(0, 1), CIN_TLS_CACHE_FALLBACK);
    /* this host's memory is read, and no more than its RAM */
    ck_assert_uint_gt(mem, 0);
    ck_assert_uint_le(mem, (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE));
    ck_assert_uint_eq(cin_tls_auto_cache_size(2), cin_tls_cache_for_memory(mem, 2));
    /* and the reason the server logs */
    ck_assert_uint_eq(cin_tls_default_cache(3, why, sizeof(why)), cin_tls_cache_for_memory(mem, 3));
    ck_assert_ptr_nonnull(strstr(why, "a quarter of "));
    ck_assert_ptr_nonnull(strstr(why, " MiB ("));
    ck_assert_ptr_nonnull(strstr(why, "over 3 processes at 8 KiB a certificate"));
    /* a cin_tls made without a size takes it */
    ck_assert_int_eq(cin_tls_create(F->core, 0, &T, NULL), CIN_OK);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.capacity, cin_tls_auto_cache_size(1));
}
END_TEST

static void write_file(const char *dir, const char *rel, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
}

/* A control group's memory limit bounds the host's: cgroup v2, the group's
 * and its ancestors' (the smallest), the namespace's root in a container;
 * v1's memory controller, the group's or the hierarchy root's. */
START_TEST(a_cgroup_memory_limit_bounds_the_hosts)
{
    char dir[] = "/tmp/cin-cgroup-XXXXXX", self[600], path[600];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(self, sizeof(self), "%s/self-cgroup", dir);
    /* no file at all: no limit */
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 0);
    write_file(dir, "self-cgroup", "0::/hosting.slice/web.service\n");
    snprintf(path, sizeof(path), "%s/hosting.slice", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/hosting.slice/web.service", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    write_file(dir, "hosting.slice/web.service/memory.max", "max\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 0); /* "max": none */
    write_file(dir, "hosting.slice/memory.max", "2147483648\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 2147483648u); /* the parent's */
    write_file(dir, "hosting.slice/web.service/memory.max", "1073741824\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 1073741824u); /* the smaller */
    write_file(dir, "hosting.slice/web.service/memory.max", "-1\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 2147483648u); /* not a limit */
    /* a path that climbs out is not followed */
    write_file(dir, "self-cgroup", "0::/hosting.slice/../hosting.slice\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 0);
    /* a container's own namespace: its group is the root */
    write_file(dir, "self-cgroup", "0::/\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 0);
    write_file(dir, "memory.max", "805306368\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 805306368u);
    snprintf(path, sizeof(path), "%s/memory.max", dir);
    ck_assert_int_eq(unlink(path), 0);
    /* cgroup v1: the memory controller's group, then its parent */
    write_file(dir, "self-cgroup",
               "5:cpu,cpuacct:/hosting.slice/web.service\n"
               "4:memory:/hosting.slice/web.service\n"
               "0::/hosting.slice/web.service\n");
    snprintf(path, sizeof(path), "%s/memory", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/memory/hosting.slice", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/memory/hosting.slice/web.service", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    write_file(dir, "memory/memory.limit_in_bytes", "9223372036854771712\n"); /* unlimited */
    write_file(dir, "memory/hosting.slice/web.service/memory.limit_in_bytes",
               "9223372036854771712\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 2147483648u); /* v2's still */
    write_file(dir, "memory/hosting.slice/memory.limit_in_bytes", "536870912\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 536870912u);
    /* a v1 container: its group mounted as the hierarchy's root */
    write_file(dir, "self-cgroup", "4:memory:/docker/0123abcd\n");
    write_file(dir, "memory/memory.limit_in_bytes", "268435456\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 268435456u);
    /* another controller's line names no memory limit */
    write_file(dir, "self-cgroup", "5:cpu,cpuacct:/hosting.slice\n");
    ck_assert_uint_eq(cin_cgroup_memory_limit(self, dir), 0);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    ck_assert_int_eq(system(path), 0);
}
END_TEST

START_TEST(tampered_key_never_served)
{
    char *out = NULL;
    cin_tls_stats st;

    issue("dv-ssl", "[\"tamper.example.com\"]", NULL);
    settle(F);
    /* one byte of the sealed blob changed where handshakes read it (a fleet's
     * host: its mirror), as the store's own SQL writes it */
    ck_assert_int_eq(
        cin_store_query_text(cin_core_serving(F->core),
                             "UPDATE private_keys SET sealed = substr(sealed, 1, 30)"
                             " || CASE WHEN substr(sealed, 31, 1) = x'00' THEN x'01' ELSE x'00' END"
                             " || substr(sealed, 32)",
                             &out),
        CIN_OK);
    free(out);
    ck_assert_int_eq(cin_tls_create(F->core, 10, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("tamper.example.com"), fallback_serial);
    /* remembered as unusable: not read, decrypted and logged again on every
     * handshake for its name ... */
    ck_assert_str_eq(handshake("tamper.example.com"), fallback_serial);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.misses, 1);
    /* ... until something changes in the store */
    issue("dv-ssl", "[\"other.example.com\"]", NULL);
    settle(F);
    ck_assert_str_eq(handshake("tamper.example.com"), fallback_serial);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.misses, 2);
}
END_TEST

/* The newest active certificate's chain as stored (malloc'd); *leaf_end
 * just after its leaf's END line. */
static char *newest_chain(char **leaf_end)
{
    char *chain = NULL;

    ck_assert_int_eq(cin_store_query_text(cin_core_serving(F->core),
                                          "SELECT chain_pem FROM certificates WHERE status = "
                                          "'active' ORDER BY id DESC LIMIT 1",
                                          &chain),
                     CIN_OK);
    *leaf_end = strstr(chain, "-----END CERTIFICATE-----\n");
    ck_assert_ptr_nonnull(*leaf_end);
    *leaf_end += strlen("-----END CERTIFICATE-----\n");
    return chain;
}

/* Every active certificate's chain replaced by pem, where handshakes read it. */
static void store_chain(const char *pem)
{
    char *sql =
             cin_asprintf("UPDATE certificates SET chain_pem = '%s' WHERE status = 'active'", pem),
         *out = NULL;

    ck_assert_int_eq(cin_store_query_text(cin_core_serving(F->core), sql, &out), CIN_OK);
    free(out);
    free(sql);
}

/* A chain longer than CIN_CHAIN_MAX (a CA's; import refuses them) is sent
 * cut at CIN_CHAIN_MAX certificates, the leaf included. */
START_TEST(long_chains_are_cut)
{
    char *chain, *leaf_end, *blocks;
    const char *serial = issue("dv-ssl", "[\"long.example.com\"]", NULL);
    char want[80];
    size_t n, i;

    strcpy(want, serial);
    settle(F);
    chain = newest_chain(&leaf_end);
    n = strlen(leaf_end);
    ck_assert_uint_gt(n, 100); /* the intermediate */
    blocks = calloc(1, strlen(chain) + 12 * n + 1);
    memcpy(blocks, chain, (size_t)(leaf_end - chain));
    for (i = 0; i < 12; i++)
        strcat(blocks, leaf_end);
    store_chain(blocks);
    free(blocks);
    free(chain);
    ck_assert_int_eq(cin_tls_create(F->core, 10, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("long.example.com"), want);
    ck_assert_int_eq(last_chain_len, CIN_CHAIN_MAX);
}
END_TEST

/* A chain as a CA may send it: text around the blocks, a block that is not
 * a certificate, the old "X509 CERTIFICATE" label, and a broken block after
 * which nothing is read.  The handshake sends what cin_chain_parse (the
 * reader behind the certificate's recorded facts) reads: leaf, intermediate. */
START_TEST(chains_read_as_the_generic_reader_reads_them)
{
    char *chain, *odd, *leaf_end, *inter;
    STACK_OF(X509) * sk;
    const char *serial = issue("dv-ssl", "[\"odd.example.com\"]", NULL);
    char want[80];

    strcpy(want, serial);
    settle(F);
    chain = newest_chain(&leaf_end);
    inter = strstr(leaf_end, "-----BEGIN CERTIFICATE-----\n");
    ck_assert_ptr_nonnull(inter);
    inter += strlen("-----BEGIN CERTIFICATE-----\n");
    *strstr(inter, "-----END CERTIFICATE-----") = '\0';
    leaf_end[0] = '\0';
    odd = cin_asprintf(
        "issued by a CA\n%s"
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        "-----BEGIN X509 CERTIFICATE-----\n%s-----END X509 CERTIFICATE-----\n"
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        "-----BEGIN CERTIFICATE-----\n%s-----END CERTIFICATE-----\n",
        chain, inter, inter);
    store_chain(odd);
    free(odd);
    free(chain);
    ck_assert_int_eq(cin_store_query_text(cin_core_serving(F->core),
                                          "SELECT chain_pem FROM certificates WHERE status = "
                                          "'active'",
                                          &chain),
                     CIN_OK);
    sk = cin_chain_parse(chain);
    ck_assert_int_eq(sk_X509_num(sk), 2);
    sk_X509_pop_free(sk, X509_free);
    free(chain);
    ck_assert_int_eq(cin_tls_create(F->core, 10, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("odd.example.com"), want);
    ck_assert_int_eq(last_chain_len, 2);
}
END_TEST

/* A core of the fixture's store with a host's shared cache of 1 MiB, as a
 * server's parent makes it. */
static cin_core *shared_cache_core(void)
{
    cin_core_config cfg;
    cin_core *core = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.store_path = F->path;
    cfg.key_file = F->key_path;
    cfg.state_dir = F->pg_db ? F->dir : NULL;
    cfg.load_kek = 1;
    cfg.shared_cache = 1 << 20;
    ck_assert_int_eq(cin_core_create(&cfg, cin_core_services(F->core), &core, NULL), CIN_OK);
    return core;
}

/* A certificate a miss has read once on this host is read again from the
 * host's shared cache, by this process and by one forked later, even when
 * the store's copy can no longer be read; a core without the cache reads the
 * store (the control). */
START_TEST(misses_read_the_hosts_shared_cache)
{
    cin_core *core = NULL;
    cin_tls *mine;
    char serial[80];
    int status, chain_len;
    pid_t pid;

    strcpy(serial, issue("dv-ssl", "[\"shared.example.com\"]", NULL));
    issue("dv-ssl", "[\"other.example.com\"]", NULL);
    settle(F);
    core = shared_cache_core();
    /* a cache of one: the second name evicts the first */
    ck_assert_int_eq(cin_tls_create(core, 1, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("shared.example.com"), serial);
    chain_len = last_chain_len;
    ck_assert_int_ge(chain_len, 2); /* the leaf and its intermediate */
    ck_assert_str_ne(handshake("other.example.com"), fallback_serial);
    /* the store's chains, where handshakes read them, made unreadable */
    store_chain("not a certificate");
    ck_assert_str_eq(handshake("shared.example.com"), serial);
    ck_assert_int_eq(last_chain_len, chain_len); /* the whole chain */
    mine = T;
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* another worker: its own parsed cache, the host's shared one */
        T = NULL;
        if (cin_tls_create(core, 1, &T, NULL) != CIN_OK)
            _exit(2);
        _exit(strcmp(handshake("shared.example.com"), serial) || last_chain_len != chain_len);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    /* the control: the fixture's core has no shared cache */
    ck_assert_int_eq(cin_tls_create(F->core, 1, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("shared.example.com"), fallback_serial);
    cin_tls_free(T);
    T = mine;
    cin_tls_free(T);
    T = NULL;
    cin_core_free(core);
}
END_TEST

/* An entry of the host's shared cache that no longer loads - its key sealed
 * under another key-encryption key (or altered), its leaf not DER - is not
 * served and not kept: the miss reads the store, serves what it read and
 * shares that in its place. */
START_TEST(a_shared_entry_that_does_not_load_is_read_from_the_store)
{
    cin_core *core = NULL;
    cin_hostcache *hc;
    cin_hc_material good, bad;
    char serial[80], *out = NULL;
    unsigned char *copy;
    int64_t id;
    int spoil;

    strcpy(serial, issue("dv-ssl", "[\"spoilt.example.com\"]", NULL));
    issue("dv-ssl", "[\"evicts.example.com\"]", NULL);
    settle(F);
    ck_assert_int_eq(cin_store_query_text(cin_core_serving(F->core),
                                          "SELECT id FROM certificates WHERE names LIKE "
                                          "'%spoilt.example.com%'",
                                          &out),
                     CIN_OK);
    id = strtoll(out, NULL, 10);
    free(out);
    ck_assert_int_gt(id, 0);
    core = shared_cache_core();
    hc = cin_core_hostcache(core);
    ck_assert_int_eq(cin_tls_create(core, 1, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("spoilt.example.com"), serial);
    ck_assert_int_eq(cin_hostcache_get(hc, id, &good), CIN_OK);
    for (spoil = 0; spoil < 2; spoil++) {
        cin_hc_material now;

        bad = good;
        if (spoil == 0) {
            /* the sealed key altered: it does not open */
            copy = malloc(good.sealed_len);
            memcpy(copy, good.sealed, good.sealed_len);
            copy[good.sealed_len / 2] ^= 0x01;
            bad.sealed = copy;
        } else {
            /* the leaf not DER */
            copy = malloc(good.der_len[0]);
            memset(copy, 0x5a, good.der_len[0]);
            bad.ders[0] = copy;
        }
        cin_hostcache_drop(hc, id);
        ck_assert_int_eq(cin_hostcache_put(hc, &bad), CIN_OK);
        ck_assert_str_ne(handshake("evicts.example.com"), fallback_serial); /* evicts it */
        ck_assert_str_eq(handshake("spoilt.example.com"), serial);
        /* what the store holds is shared again, in place of the spoilt entry */
        ck_assert_int_eq(cin_hostcache_get(hc, id, &now), CIN_OK);
        ck_assert_uint_eq(now.sealed_len, good.sealed_len);
        ck_assert_mem_eq(now.sealed, good.sealed, good.sealed_len);
        ck_assert_uint_eq(now.der_len[0], good.der_len[0]);
        ck_assert_mem_eq(now.ders[0], good.ders[0], good.der_len[0]);
        cin_hc_material_clear(&now);
        free(copy);
    }
    cin_hc_material_clear(&good);
    cin_tls_free(T);
    T = NULL;
    cin_core_free(core);
}
END_TEST

/* A store that went back (a backup restored in place): its ids may name
 * other certificates now, so the index is read anew and the host's shared
 * cache, keyed by id, is emptied. (A central store's hosts copy their mirror
 * anew instead: mirror.c.) */
START_TEST(a_store_that_went_back_is_read_anew)
{
    cin_core *core = NULL;
    cin_hostcache_stats hs;
    cin_tls_stats ts;
    cin_gen *gen = NULL;
    char serial[80], *out = NULL;
    uint64_t refreshes;
    int i;

    strcpy(serial, issue("dv-ssl", "[\"back.example.com\"]", NULL));
    core = shared_cache_core();
    ck_assert_int_eq(cin_tls_create(core, 10, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("back.example.com"), serial);
    cin_hostcache_get_stats(cin_core_hostcache(core), &hs);
    ck_assert_uint_eq(hs.entries, 1);
    ck_assert_uint_eq(hs.resets, 0);
    harness_log_clear();
    /* the generation as a backup from before left it; the host's counter
     * moves on (it only ever grows) */
    ck_assert_int_eq(cin_store_query_text(cin_core_serving(F->core),
                                          "UPDATE counters SET value = 1 WHERE name = 'generation'",
                                          &out),
                     CIN_OK);
    free(out);
    ck_assert_int_eq(cin_gen_open(cin_store_gen_path(cin_core_serving(F->core)), &gen, NULL),
                     CIN_OK);
    cin_tls_get_stats(T, &ts);
    cin_gen_publish(gen, ts.generation + 1);
    cin_gen_close(gen);
    ck_assert_str_eq(handshake("back.example.com"), serial);
    ck_assert_int_eq(harness_logged("generation went back"), 1);
    cin_hostcache_get_stats(cin_core_hostcache(core), &hs);
    ck_assert_uint_eq(hs.resets, 1);
    ck_assert_uint_eq(hs.entries, 1); /* read from the store again, and shared */
    cin_tls_get_stats(T, &ts);
    ck_assert_uint_eq(ts.misses, 2);
    ck_assert_uint_eq(ts.generation, 1);
    /* the published value was set back with it: the next handshakes do not
     * read the store again (before, every one did until the store's
     * generation passed the file's) */
    ck_assert_int_eq(cin_gen_open(cin_store_gen_path(cin_core_serving(F->core)), &gen, NULL),
                     CIN_OK);
    ck_assert_uint_eq(cin_gen_read(gen), 1);
    refreshes = ts.refreshes;
    for (i = 0; i < 5; i++)
        ck_assert_str_eq(handshake("back.example.com"), serial);
    cin_tls_get_stats(T, &ts);
    ck_assert_uint_eq(ts.refreshes, refreshes);
    ck_assert_uint_eq(ts.hits, 5);
    cin_tls_free(T);
    T = NULL;
    cin_core_free(core);
    core = NULL;

    /* restored while no server ran: the file is ahead of the store when a
     * server starts; opening the store sets it back, once, and says so */
    cin_gen_publish(gen, 50);
    harness_log_clear();
    core = shared_cache_core();
    ck_assert_uint_eq(cin_gen_read(gen), 1);
    ck_assert_int_eq(harness_logged("is behind the one published"), 1);
    ck_assert_int_eq(cin_tls_create(core, 10, &T, NULL), CIN_OK);
    for (i = 0; i < 3; i++)
        ck_assert_str_eq(handshake("back.example.com"), serial);
    cin_tls_get_stats(T, &ts);
    ck_assert_uint_eq(ts.refreshes, 1); /* the first read of the index, only */
    cin_tls_free(T);
    T = NULL;
    cin_core_free(core);
    /* a store in step: nothing set back, nothing said */
    harness_log_clear();
    core = shared_cache_core();
    ck_assert_uint_eq(cin_gen_read(gen), 1);
    ck_assert_int_eq(harness_logged("is behind the one published"), 0);
    cin_core_free(core);
    /* a commit that lands between the read that found the store behind and
     * the setting back published nothing (the file was ahead): the value
     * set back is the store's as it is after it, not the one read before */
    cin_gen_publish(gen, 50);
    ck_assert_int_eq(cin_store_query_text(cin_core_serving(F->core),
                                          "UPDATE counters SET value = 3 WHERE name = 'generation'",
                                          &out),
                     CIN_OK);
    free(out);
    ck_assert_int_eq(cin_store_generation_went_back(cin_core_serving(F->core), 50, 1), 1);
    ck_assert_uint_eq(cin_gen_read(gen), 3);
    /* one that found the value moved since it read it sets nothing back */
    ck_assert_int_eq(cin_store_generation_went_back(cin_core_serving(F->core), 50, 1), 0);
    ck_assert_uint_eq(cin_gen_read(gen), 3);
    cin_gen_close(gen);
}
END_TEST

/* A worker that starts while its store cannot be opened (another process
 * creating the store's -wal file at that instant, say) serves the server's
 * own certificate meanwhile, and tries again on its refresh timer and on
 * handshakes: once the store opens, its certificates are served, with no
 * restart.  (SQLite: a central store's hosts serve from their mirror, which
 * the parent makes before any worker starts.) */
START_TEST(a_store_that_cannot_be_opened_yet_is_tried_again)
{
    cin_core_config cfg;
    cin_core *core = NULL;
    cin_tls_stats st;
    char serial[80], *away = cin_asprintf("%s.away", F->path);
    int i;

    strcpy(serial, issue("dv-ssl", "[\"later.example.com\"]", NULL));
    settle(F);
    memset(&cfg, 0, sizeof(cfg));
    cfg.store_path = F->path;
    cfg.key_file = F->key_path;
    cfg.load_kek = 1;
    ck_assert_int_eq(cin_core_create(&cfg, cin_core_services(F->core), &core, NULL), CIN_OK);
    ck_assert_int_eq(rename(F->path, away), 0);
    ck_assert_int_eq(cin_tls_create(core, 10, &T, NULL), CIN_OK);
    ck_assert_str_eq(handshake("later.example.com"), fallback_serial);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_eq(st.names, 0);
    ck_assert_int_eq(rename(away, F->path), 0);
    /* handshakes try again (a second after the first attempt, then after two
     * more): served with no restart */
    for (i = 0; i < 400 && strcmp(handshake("later.example.com"), serial); i++)
        usleep(25000);
    ck_assert_str_eq(handshake("later.example.com"), serial);
    cin_tls_get_stats(T, &st);
    ck_assert_uint_ge(st.names, 1);
    ck_assert_int_eq(cin_tls_refresh(T), CIN_OK); /* the refresh timer's call */
    cin_tls_free(T);
    T = NULL;
    cin_core_free(core);
    free(away);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exact_wildcard_and_fallback);
    tcase_add_test(tc, new_revoked_and_replaced_seen_on_next_handshake);
    tcase_add_test(tc, served_only_while_the_account_owns_the_name);
    tcase_add_test(tc, rsa_certificate_beside_ecdsa_fallback);
    tcase_add_test(tc, refused_certificate_leaves_the_servers_own);
    tcase_add_test(tc, refusal_is_logged_once_until_a_change);
    tcase_add_test(tc, bounded_cache);
    tcase_add_test(tc, used_entries_get_a_second_chance);
    tcase_add_test(tc, the_cache_table_grows_as_it_fills);
    tcase_add_test(tc, the_default_cache_is_a_share_of_the_hosts_memory);
    tcase_add_test(tc, a_cgroup_memory_limit_bounds_the_hosts);
    tcase_add_test(tc, tampered_key_never_served);
    tcase_add_test(tc, chains_read_as_the_generic_reader_reads_them);
    tcase_add_test(tc, long_chains_are_cut);
    tcase_add_test(tc, misses_read_the_hosts_shared_cache);
    tcase_add_test(tc, a_shared_entry_that_does_not_load_is_read_from_the_store);
    /* a SQLite store restored in place; a central store's hosts copy their
     * mirror anew (their syncer would move the mirror's generation on again);
     * a SQLite store moved away and back (a host's mirror is made by its
     * parent before any worker starts) */
    if (!getenv("CIN_TEST_PG")) {
        tcase_add_test(tc, a_store_that_went_back_is_read_anew);
        tcase_add_test(tc, a_store_that_cannot_be_opened_yet_is_tried_again);
    }
    suite_add_tcase(s, tc);
    return run_suite(s);
}
