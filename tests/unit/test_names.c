/* test_names.c - DNS name rules of API.md. */
#include <stdlib.h>
#include <string.h>

#include "cin_names.h"
#include "harness.h"

static void ok(const char *in, int flags, const char *want)
{
    char *out = NULL, *err = NULL;

    ck_assert_msg(cin_name_normalize(in, flags, &out, &err) == CIN_OK, "%s: %s", in,
                  err ? err : "");
    ck_assert_str_eq(out, want);
    free(out);
}

static void bad(const char *in, int flags, const char *why)
{
    char *out = NULL, *err = NULL;

    ck_assert_msg(cin_name_normalize(in, flags, &out, &err) == CIN_EINVAL, "%s accepted", in);
    ck_assert_ptr_null(out);
    ck_assert_msg(err && strstr(err, why), "%s: '%s' lacks '%s'", in, err ? err : "", why);
    free(err);
}

START_TEST(normalize)
{
    ok("Shop.Example.COM", 0, "shop.example.com");
    ok("shop.example.com.", 0, "shop.example.com");
    ok("xn--bcher-kva.example", CIN_NAME_PRIVATE, "xn--bcher-kva.example");
    ok("*.example.com", CIN_NAME_WILDCARD, "*.example.com");
    ok("fileserver", CIN_NAME_PRIVATE, "fileserver");
    bad("a..b.com", 0, "empty label");
    bad(".a.com", 0, "empty label");
    bad("-a.com", 0, "hyphen");
    bad("a-.com", 0, "hyphen");
    bad("a_b.com", 0, "contains '_'");
    bad("bücher.com", 0, "punycode");
    bad("*.example.com", 0, "wildcard");
    bad("www.*.example.com", CIN_NAME_WILDCARD, "leftmost");
    bad("*foo.example.com", CIN_NAME_WILDCARD, "leftmost");
    bad("192.0.2.1", CIN_NAME_PRIVATE, "IP address");
    bad("[2001:db8::1]", CIN_NAME_PRIVATE, "IP address");
    bad("2001:db8::1", CIN_NAME_PRIVATE, "IP address");
    bad("fileserver", 0, "private");
    bad("host.internal", 0, "private");
    bad("x.test", 0, "private");
    bad("", 0, "empty");
    bad("a123456789012345678901234567890123456789012345678901234567890123.com", 0, "63");
    {
        char longname[300];
        memset(longname, 'a', sizeof(longname));
        for (int i = 50; i < 290; i += 50)
            longname[i] = '.';
        strcpy(longname + 260, ".com");
        bad(longname, 0, "253");
    }
}
END_TEST

START_TEST(matches)
{
    ck_assert(cin_name_matches("a.example.com", "a.example.com"));
    ck_assert(cin_name_matches("*.example.com", "a.example.com"));
    ck_assert(!cin_name_matches("*.example.com", "example.com"));
    ck_assert(!cin_name_matches("*.example.com", "b.a.example.com"));
    ck_assert(cin_name_is_private("intranet"));
    ck_assert(cin_name_is_private("nas.lan"));
    ck_assert(!cin_name_is_private("example.com"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("names");

    tcase_add_test(tc, normalize);
    tcase_add_test(tc, matches);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
