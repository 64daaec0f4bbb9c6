/*
 * test_notify_prefs.c - who gets which e-mail (issue 15, round 2): a user opts out
 * of single events, an account's administrator sets any of its users' addresses and
 * the account's own addresses (which get the administrators' e-mails); others are
 * refused with the field at fault and nothing changes; the CLI does the same for the
 * provider. Both engines (CIN_TEST_PG).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_account.h"
#include "cin_notify.h"
#include "harness.h"

static fixture *F;

static void setup(void)
{
    cin_problem p = {0};

    F = fixture_new();
    ck_assert_int_eq(cin_account_setting_set(F->st, NULL, "smtp-url", "smtp://127.0.0.1:1", &p),
                     CIN_OK);
    ck_assert_int_eq(
        cin_account_setting_set(F->st, NULL, "smtp-from", "certs@provider.example", &p), CIN_OK);
    ck_assert_int_eq(cin_account_setting_set(F->st, NULL, "notify-retry-base", "300", &p), CIN_OK);
}

static void teardown(void)
{
    fixture_free(F);
    F = NULL;
}

static int put(int u, const char *body, const char *field)
{
    hresp r = call(F, u, "PUT", "/api/v1/notifications", body, NULL);
    int status = r.status;

    if (field)
        ck_assert_msg(jstr(&r, "field") && !strcmp(jstr(&r, "field"), field), "%s", r.body);
    hresp_free(&r);
    return status;
}

static void approve(const char *id)
{
    char path[96];
    hresp r;

    snprintf(path, sizeof(path), "/api/v1/orders/%s/approve", id);
    r = call(F, U_ADMIN, "POST", path, "{}", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
}

START_TEST(opt_out_per_event)
{
    char id1[32], *rows;
    hresp r;

    ck_assert_int_eq(put(U_ADMIN, "{\"email\":\"ann@example.com\"}", NULL), 200);
    /* bob does not want to hear of approvals, only of the rest */
    ck_assert_int_eq(
        put(U_BASIC, "{\"email\":\"bob@example.com\",\"muted\":[\"order.approved\"]}", NULL), 200);
    r = call(F, U_BASIC, "GET", "/api/v1/notifications", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "muted")), 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r.json, "muted"), 0)),
                     "order.approved");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "events")), 6);
    ck_assert_ptr_null(json_object_get(r.json, "account_emails")); /* not an admin */
    ck_assert_str_eq(jstr(&r, "email"), "bob@example.com");
    hresp_free(&r);
    /* leaving a field out keeps it */
    ck_assert_int_eq(put(U_BASIC, "{\"notify\":true}", NULL), 200);
    r = call(F, U_BASIC, "GET", "/api/v1/notifications", NULL, NULL);
    ck_assert_str_eq(jstr(&r, "email"), "bob@example.com");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "muted")), 1);
    hresp_free(&r);
    /* an unknown event: refused, nothing changed */
    ck_assert_int_eq(put(U_BASIC, "{\"muted\":[\"order.issued\",\"order.nope\"]}", "muted"), 400);
    rows = store_query(F, "SELECT notify_off FROM users WHERE name = 'bob'");
    ck_assert_str_eq(rows, "order.approved\n");
    free(rows);
    agent_pass(F); /* the first pass starts the cursor */
    snprintf(id1, sizeof(id1), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"m1.example.com\"]"));
    approve(id1);
    {
        char path[96];
        const char *id2 = order_new(F, U_BASIC, "dv-ssl", "[\"m2.example.com\"]");
        snprintf(path, sizeof(path), "/api/v1/orders/%s/reject", id2);
        r = call(F, U_ADMIN, "POST", path, "{\"reason\":\"no\"}", NULL);
        ck_assert_int_eq(r.status, 200);
        hresp_free(&r);
    }
    agent_pass(F);
    rows = store_query(F, "SELECT recipient, event FROM outbox WHERE kind = 'mail' ORDER BY id");
    /* ann: both waits; bob: the rejection, not the approval */
    ck_assert_str_eq(rows, "ann@example.com|order.created\nann@example.com|order.created\n"
                           "bob@example.com|order.rejected\n");
    free(rows);
}
END_TEST

START_TEST(admin_sets_addresses)
{
    char *rows;
    hresp r;

    /* ann sets bob's address and the account's own */
    ck_assert_int_eq(put(U_ADMIN, "{\"user\":\"bob\",\"email\":\"bob@shop.example\"}", NULL), 200);
    ck_assert_int_eq(
        put(U_ADMIN, "{\"account_emails\":[\"certs@shop.example\",\"ops@shop.example\"]}", NULL),
        200);
    r = call(F, U_ADMIN, "GET", "/api/v1/notifications?user=bob", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "user"), "bob");
    ck_assert_str_eq(jstr(&r, "email"), "bob@shop.example");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "account_emails")), 2);
    hresp_free(&r);
    /* refused: a basic user for another user or the account; another account's user;
     * a bad address. Nothing changed. */
    ck_assert_int_eq(put(U_BASIC, "{\"user\":\"ann\",\"email\":\"x@example.com\"}", "user"), 403);
    ck_assert_int_eq(put(U_BASIC, "{\"account_emails\":[\"x@example.com\"]}", "account_emails"),
                     403);
    ck_assert_int_eq(put(U_ADMIN, "{\"user\":\"oscar\",\"email\":\"x@example.com\"}", "user"), 404);
    ck_assert_int_eq(put(U_ADMIN, "{\"account_emails\":[\"not an address\"]}", "account_emails"),
                     400);
    r = call(F, U_BASIC, "GET", "/api/v1/notifications?user=ann", NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    rows = store_query(F, "SELECT name, coalesce(email, '-') FROM users WHERE name IN"
                          " ('ann', 'bob', 'oscar') ORDER BY name");
    ck_assert_str_eq(rows, "ann|-\nbob|bob@shop.example\noscar|-\n");
    free(rows);
    rows = store_query(F, "SELECT notify_emails FROM accounts WHERE name = 'acme'");
    ck_assert_str_eq(rows, "certs@shop.example,ops@shop.example\n");
    free(rows);
    /* the account's addresses get what goes to its administrators, once each */
    agent_pass(F);
    order_new(F, U_BASIC, "dv-ssl", "[\"acct.example.com\"]");
    agent_pass(F);
    rows = store_query(F, "SELECT recipient FROM outbox WHERE kind = 'mail' ORDER BY recipient");
    ck_assert_str_eq(rows, "certs@shop.example\nops@shop.example\n");
    free(rows);
}
END_TEST

static const char *cli(void)
{
    return getenv("CIN_CLI") ? getenv("CIN_CLI") : "build/certinext";
}

START_TEST(cli_for_the_provider)
{
    char cmd[1024], *out = NULL, *rows;

    snprintf(cmd, sizeof(cmd),
             "%s notifications %s --account acme --user bob --email"
             " bob@cli.example --mute order.issued,order.expiring 2>&1",
             cli(), F->cli_args);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "user bob: e-mail bob@cli.example"));
    ck_assert_ptr_nonnull(strstr(out, "muted: order.issued order.expiring"));
    free(out);
    snprintf(cmd, sizeof(cmd),
             "%s notifications %s --account acme --account-emails"
             " certs@acme.example 2>&1",
             cli(), F->cli_args);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "account acme: addresses certs@acme.example"));
    free(out);
    snprintf(cmd, sizeof(cmd),
             "%s notifications %s --account acme --user bob --mute order.bogus"
             " 2>&1",
             cli(), F->cli_args);
    ck_assert_int_eq(run(cmd, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "order.bogus is not an e-mail event"));
    free(out);
    rows = store_query(F, "SELECT email, notify_off FROM users WHERE name = 'bob'");
    ck_assert_str_eq(rows, "bob@cli.example|order.issued order.expiring\n");
    free(rows);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("notify_prefs");
    TCase *tc = tcase_create("notify_prefs");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, opt_out_per_event);
    tcase_add_test(tc, admin_sets_addresses);
    tcase_add_test(tc, cli_for_the_provider);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
