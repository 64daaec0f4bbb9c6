/* test_dns.c - dns-01's TSIG key files and the DNS hook's rules (issue 14). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cin_ca.h"
#include "cin_crypto.h"
#include "cin_domain_claim.h"
#include "harness.h"

#define SECRET "Nyz6YfsHP1KgmLPK7HUPfurMoVvOyV7fnr3Y1OmituA="

static void parses(const char *text, const char *name, const char *alg)
{
    char *n = NULL, *a = NULL, *s = NULL, *err = NULL;

    ck_assert_msg(cin_tsig_key_parse(text, &n, &a, &s, &err) == CIN_OK, "%s", err ? err : "");
    ck_assert_str_eq(n, name);
    ck_assert_str_eq(a, alg);
    ck_assert_str_eq(s, SECRET);
    free(n);
    free(a);
    cin_free_secret(s, strlen(s));
}

static void refused(const char *text, const char *why)
{
    char *n = NULL, *a = NULL, *s = NULL, *err = NULL;

    ck_assert_int_eq(cin_tsig_key_parse(text, &n, &a, &s, &err), CIN_EINVAL);
    ck_assert_ptr_null(n);
    ck_assert_ptr_null(s);
    ck_assert_msg(err && strstr(err, why), "'%s' lacks '%s'", err ? err : "", why);
    free(err);
}

START_TEST(tsig_key_files)
{
    /* BIND's (tsig-keygen) and Knot's (keymgr -t) */
    parses("key \"certinext-test\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET "\";\n};\n",
           "certinext-test", "hmac-sha256.");
    parses("# hmac-sha512:k1:...\nkey:\n  - id: k1\n    algorithm: hmac-sha512\n    secret: " SECRET
           "\n",
           "k1", "hmac-sha512.");
    refused("key \"x\" { algorithm hmac-sha256; };", "name, algorithm and secret");
    refused("key \"x\" { algorithm rot13; secret \"" SECRET "\"; };", "rot13");
    refused("key \"x\" { algorithm hmac-sha256; secret \"***\"; };", "not base64");
}
END_TEST

static char *hook_file(uid_t uid, mode_t mode)
{
    char *path = strdup("/tmp/cin-hook-XXXXXX");
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    ck_assert_int_eq(chown(path, uid, uid), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

static void hook_refused(const char *path, int rc, const char *why)
{
    char *err = NULL;

    ck_assert_int_eq(cin_dns_hook_set(path, &err), rc);
    ck_assert_msg(err && strstr(err, why), "'%s' lacks '%s'", err ? err : "", why);
    free(err);
}

START_TEST(hook_only_root_owned)
{
    char *good = hook_file(0, 0755), *theirs = hook_file(33, 0755), *open = hook_file(0, 0775),
         *plain = hook_file(0, 0644);

    ck_assert_int_eq(cin_dns_hook_set(good, NULL), CIN_OK);
    ck_assert_str_eq(cin_dns_hook(), good);
    hook_refused("relative/hook", CIN_EINVAL, "absolute");
    hook_refused("/nonexistent/hook", CIN_EINVAL, "cannot be used");
    hook_refused(theirs, CIN_EPERM, "must belong to root");
    hook_refused(open, CIN_EPERM, "not be writable by group or other");
    hook_refused(plain, CIN_EINVAL, "not an executable");
    /* a refused hook leaves the configured one; NULL clears it */
    ck_assert_str_eq(cin_dns_hook(), good);
    ck_assert_int_eq(cin_dns_hook_set(NULL, NULL), CIN_OK);
    ck_assert_ptr_null(cin_dns_hook());
    unlink(good);
    unlink(theirs);
    unlink(open);
    unlink(plain);
    free(good);
    free(theirs);
    free(open);
    free(plain);
}
END_TEST

START_TEST(public_suffixes)
{
    ck_assert_int_eq(cin_public_suffix("com"), 1);
    ck_assert_int_eq(cin_public_suffix("co.uk"), 1);
    ck_assert_int_eq(cin_public_suffix("example.co.uk"), 0);
    ck_assert_int_eq(cin_public_suffix("example.com"), 0);
    ck_assert_int_eq(cin_public_suffix("anything.ck"), 1); /* *.ck */
    ck_assert_int_eq(cin_public_suffix("www.ck"), 0);      /* !www.ck */
    ck_assert_int_eq(cin_public_suffix("newcorp.test"), 0);
    cin_psl_path = "/nonexistent/list.dat";
    ck_assert_int_eq(cin_public_suffix("example.com"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("dns");

    tcase_add_test(tc, tsig_key_files);
    tcase_add_test(tc, hook_only_root_owned);
    tcase_add_test(tc, public_suffixes);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
