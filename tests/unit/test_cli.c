/* test_cli.c - the certinext command end to end on a temporary store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cin_util.h"
#include "harness.h"

static char *dir, *store;
static const char *cli;

static void setup(void)
{
    cli = getenv("CIN_CLI") ? getenv("CIN_CLI") : "build/certinext";
    dir = tmpdir_new();
    store = cin_asprintf("%s/store.db", dir);
}

static void teardown(void)
{
    free(store);
    tmpdir_remove(dir);
}

/* Run `certinext ARGS` on the test store; returns the exit code, output in *out
 * (stdout and stderr together when merge). */
static int cx(char **out, const char *args)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd), "%s %s 2>&1", cli, args ? args : "");
    setenv("CERTINEXT_STORE", store, 1);
    return run(cmd, out);
}

static int cx_stdout(char **out, const char *args)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", cli, args);
    setenv("CERTINEXT_STORE", store, 1);
    return run(cmd, out);
}

#define EXPECT(code, args, needle)                                                                 \
    do {                                                                                           \
        char *o_ = NULL;                                                                           \
        int rc_ = cx(&o_, args);                                                                   \
        ck_assert_msg(rc_ == (code), "'%s' exited %d, not %d: %s", args, rc_, code, o_ ? o_ : ""); \
        ck_assert_msg(o_ &&strstr(o_, needle), "'%s' said '%s', lacking '%s'", args, o_ ? o_ : "", \
                      needle);                                                                     \
        free(o_);                                                                                  \
    } while (0)

static void init_store(void)
{
    EXPECT(0, "init", "created store");
}

START_TEST(init_and_refuse_overwrite)
{
    struct stat sb;
    char *kp = cin_asprintf("%s.key", store);

    init_store();
    ck_assert_int_eq(stat(kp, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    EXPECT(1, "init", "refusing to overwrite");
    EXPECT(0, "product list", "dv-wildcard");
    EXPECT(0, "ca list", "builtin");
    free(kp);
}
END_TEST

START_TEST(no_store)
{
    EXPECT(1, "account create acme", "no store at");
    EXPECT(1, "orders list", "certinext init");
    unsetenv("CERTINEXT_STORE");
    {
        char *o = NULL, cmd[512];
        snprintf(cmd, sizeof(cmd), "env -u CERTINEXT_STORE %s orders list 2>&1", cli);
        ck_assert_int_eq(run(cmd, &o), 1);
        ck_assert_ptr_nonnull(strstr(o, "CERTINEXT_STORE"));
        free(o);
    }
}
END_TEST

START_TEST(accounts_users_tokens)
{
    char *tok = NULL, args[512];

    init_store();
    EXPECT(0, "account create acme --credits 100", "100 credits");
    EXPECT(1, "account create acme", "already exists");
    EXPECT(2, "account create acme --credits -5", "--credits");
    EXPECT(2, "account create", "exactly one account");
    EXPECT(0, "user create --account acme --name alice --role admin", "created admin user");
    EXPECT(1, "user create --account acme --name alice --role basic", "already exists");
    EXPECT(2, "user create --account acme --name bob --role boss", "unknown role");
    EXPECT(1, "user create --account nope --name bob --role basic", "no account named nope");
    EXPECT(2, "user create --account acme --name 'Bad Name' --role basic", "a-z 0-9");
    EXPECT(2, "user create --account acme --role basic", "required");
    EXPECT(0, "user create --account acme --name sig --role standard --signatory",
           "authorized signatory");
    /* the password is read from stdin, one line, line ending dropped */
    {
        char *o = NULL, cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "printf 'pa55word-bob\\r\\n' | %s user create --account acme --name bob "
                 "--role basic --password-stdin 2>&1",
                 cli);
        ck_assert_int_eq(run(cmd, &o), 0);
        free(o);
        snprintf(cmd, sizeof(cmd),
                 "printf '' | %s user create --account acme --name bob2 --role basic "
                 "--password-stdin 2>&1",
                 cli);
        ck_assert_int_eq(run(cmd, &o), 2);
        ck_assert_ptr_nonnull(strstr(o, "no password"));
        free(o);
        /* the SMTP password too: "-" reads it from stdin, never from argv */
        snprintf(cmd, sizeof(cmd),
                 "printf 'smtp-Secret-9\\n' | %s settings set smtp-password - 2>&1", cli);
        ck_assert_int_eq(run(cmd, &o), 0);
        ck_assert_ptr_nonnull(strstr(o, "set (sealed)"));
        ck_assert_ptr_null(strstr(o, "smtp-Secret-9"));
        free(o);
        snprintf(cmd, sizeof(cmd), "printf '' | %s settings set smtp-password - 2>&1", cli);
        ck_assert_int_eq(run(cmd, &o), 2);
        ck_assert_ptr_nonnull(strstr(o, "no password"));
        free(o);
    }
    EXPECT(0, "settings get smtp-password", "(set, sealed)");
    /* the token is printed once, alone on stdout */
    ck_assert_int_eq(cx_stdout(&tok, "token create --user alice --expires-in-days 30"), 0);
    ck_assert_int_eq(strncmp(tok, "cin_", 4), 0);
    ck_assert_ptr_null(strchr(tok, ' '));
    ck_assert_int_eq((int)(strchr(tok, '\n') - tok), (int)strlen(tok) - 1);
    EXPECT(1, "token create --user nobody", "no user named nobody");
    EXPECT(2, "token create --user alice --expires-in-days 0", "--expires-in-days");
    EXPECT(2, "token create", "--user is required");
    EXPECT(0, "credits add --account acme 25", "125 credits");
    EXPECT(2, "credits add --account acme 0", "whole number > 0");
    EXPECT(2, "credits add --account acme -3", "-3");
    EXPECT(1, "credits add --account ghost 3", "no account named ghost");
    EXPECT(0, "domain add --account acme Example.COM", "example.com and its subdomains");
    EXPECT(0, "domain add --account acme www.example.com", "www.example.com");
    EXPECT(1, "domain add --account acme www.example.com", "already assigned");
    EXPECT(2, "domain add --account acme a..b", "empty label");
    EXPECT(0, "account create other", "created account other");
    EXPECT(1, "domain add --account other shop.example.com", "another account");
    EXPECT(0, "domain remove example.com", "removed");
    EXPECT(1, "domain remove example.com", "not assigned");
    EXPECT(0, "store check", "sound");
    snprintf(args, sizeof(args), "store backup %s/backup.db", dir);
    EXPECT(0, args, "backed up");
    EXPECT(1, args, "already exists");
    EXPECT(0, "orders list", "STATUS");
    EXPECT(0, "orders list --json", "[]");
    EXPECT(2, "orders list --status bogus", "unknown status");
    EXPECT(1, "orders list --account ghost", "no account named ghost");
    EXPECT(2, "frobnicate", "unknown command");
    EXPECT(0, "--help", "certinext token create");
    EXPECT(0, "user --help", "--password-stdin");
    EXPECT(2, "user create --bogus", "unknown or incomplete option");
    free(tok);
}
END_TEST

START_TEST(global_store_option)
{
    char *o = NULL, cmd[1024];

    snprintf(cmd, sizeof(cmd), "env -u CERTINEXT_STORE %s --store %s init 2>&1", cli, store);
    ck_assert_int_eq(run(cmd, &o), 0);
    free(o);
    snprintf(cmd, sizeof(cmd), "env -u CERTINEXT_STORE %s account create x --store=%s 2>&1", cli,
             store);
    ck_assert_int_eq(run(cmd, &o), 0);
    free(o);
    snprintf(cmd, sizeof(cmd), "env -u CERTINEXT_STORE %s account create y --store %s 2>&1", cli,
             store);
    ck_assert_int_eq(run(cmd, &o), 0);
    free(o);
}
END_TEST

START_TEST(ca_and_product)
{
    char path[512], args[1024];
    FILE *f;

    init_store();
    snprintf(path, sizeof(path), "%s/hmac", dir);
    f = fopen(path, "w");
    fputs("  zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W  \n", f);
    fclose(f);
    snprintf(args, sizeof(args),
             "ca add --name pebble --acme https://127.0.0.1:14000/dir --eab-kid kid-1 "
             "--eab-hmac-file %s",
             path);
    EXPECT(0, args, "with EAB");
    EXPECT(1, args, "already exists");
    EXPECT(0, "ca list", "eab-kid=kid-1");
    {
        /* the HMAC key is a secret: it is neither printed nor stored in clear */
        char *o = NULL;
        cx(&o, "ca list");
        ck_assert_ptr_null(strstr(o, "zWNDZM6e"));
        free(o);
        snprintf(args, sizeof(args), "grep -c zWNDZM6e %s", store);
        run(args, &o);
        ck_assert_str_eq(o, "0\n");
        free(o);
    }
    EXPECT(2, "ca add --name x --acme ftp://x", "http(s) URL");
    EXPECT(2, "ca add --name x --acme https://x --eab-kid k", "go together");
    EXPECT(1, "product set-ca dv-ssl nope", "no CA named nope");
    EXPECT(1, "product set-ca nope builtin", "no product nope");
    EXPECT(0, "product set-ca intranet-ssl builtin", "issues from CA builtin");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, init_and_refuse_overwrite);
    tcase_add_test(tc, no_store);
    tcase_add_test(tc, accounts_users_tokens);
    tcase_add_test(tc, global_store_option);
    tcase_add_test(tc, ca_and_product);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
