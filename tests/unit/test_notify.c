/*
 * test_notify.c - notifications (issue 15): the webhook signature, private
 * destinations, the retry delay, the webhooks API (secret once, sealed,
 * admins only), each user's address and opt-out, the SMTP settings (password
 * sealed), and the agent's outbox: who gets which e-mail, and a failed
 * delivery kept for a retry. Both engines (CIN_TEST_PG).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_account.h"
#include "cin_notify.h"
#include "cin_util.h"
#include "harness.h"

static fixture *F;

static void setup(void)
{
    F = fixture_new();
}

static void teardown(void)
{
    fixture_free(F);
    F = NULL;
}

START_TEST(signature_known_answer)
{
    char sig[CIN_SIGNATURE_MAX];
    const char *body = "{\"a\":1}";

    /* python3: hmac.new(b'whsec_test', b'1700000000.{"a":1}', hashlib.sha256).hexdigest() */
    cin_webhook_signature("whsec_test", 1700000000, body, strlen(body), sig);
    ck_assert_str_eq(sig, "t=1700000000,v1="
                          "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
}
END_TEST

START_TEST(private_hosts_and_backoff)
{
    static const char *priv[] = {
        "127.0.0.1",        "10.1.2.3",  "172.16.0.1",  "192.168.1.1", "169.254.1.1",
        "0.0.0.0",          "::1",       "[::1]",       "fd00::1",     "fe80::1",
        "::ffff:127.0.0.1", "localhost", "a.localhost", "100.64.0.1"};
    static const char *pub[] = {"8.8.8.8", "example.com", "172.32.0.1", "2001:4860::8888",
                                "hooks.panel.example"};
    size_t i;

    for (i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
        ck_assert_msg(cin_host_is_private(priv[i]), "%s", priv[i]);
    for (i = 0; i < sizeof(pub) / sizeof(pub[0]); i++)
        ck_assert_msg(!cin_host_is_private(pub[i]), "%s", pub[i]);
    ck_assert_int_eq(cin_notify_backoff(60, 1), 60);
    ck_assert_int_eq(cin_notify_backoff(60, 2), 120);
    ck_assert_int_eq(cin_notify_backoff(60, 3), 240);
    ck_assert_int_eq(cin_notify_backoff(60, 30), 6 * 3600);
    ck_assert_int_eq(cin_notify_backoff(1, 1), 1);
}
END_TEST

static int provider_set(const char *key, const char *value)
{
    cin_problem p = {0};
    int rc = cin_account_setting_set(F->st, NULL, key, value, &p);

    cin_problem_clear(&p);
    return rc;
}

START_TEST(webhooks_api)
{
    hresp r;
    char *raw, path[64];
    const char *secret;
    long long id;

    /* loopback is refused unless the provider allows it */
    r = call(F, U_ADMIN, "POST", "/api/v1/webhooks",
             "{\"url\":\"http://127.0.0.1:9/hook\",\"events\":[\"order.issued\"]}", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(jstr(&r, "field"), "url");
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/webhooks", "{\"url\":\"ftp://x.example/\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/webhooks",
             "{\"url\":\"https://panel.example.com/h\",\"events\":[\"order.nope\"]}", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(jstr(&r, "field"), "events");
    hresp_free(&r);
    ck_assert_int_eq(provider_set("webhook-allow-private", "maybe"), CIN_EINVAL);
    ck_assert_int_eq(provider_set("webhook-allow-private", "true"), CIN_OK);
    /* not an administrator */
    r = call(F, U_STANDARD, "POST", "/api/v1/webhooks", "{\"url\":\"http://127.0.0.1:9/\"}", NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/webhooks",
             "{\"url\":\"http://127.0.0.1:9/hook\",\"events\":[\"order.issued\"]}", NULL);
    ck_assert_int_eq(r.status, 201);
    secret = jstr(&r, "secret");
    ck_assert_ptr_nonnull(secret);
    ck_assert_int_eq(strlen(secret), 6 + 64);
    ck_assert(!strncmp(secret, "whsec_", 6));
    id = (long long)json_integer_value(json_object_get(r.json, "id"));
    /* sealed: the store does not hold it in the clear */
    raw = store_query(F, "SELECT url FROM webhooks");
    ck_assert_ptr_nonnull(strstr(raw, "127.0.0.1"));
    free(raw);
    ck_assert_int_eq(count_rows(F, "webhooks"), 1);
    {
        char sql[200], *hit;
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM webhooks WHERE secret LIKE '%%%s%%'",
                 secret + 6);
        hit = store_query(F, sql);
        ck_assert_int_eq(atoi(hit), 0);
        free(hit);
    }
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/webhooks", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "webhooks")), 1);
    ck_assert_ptr_null(strstr(r.body, "whsec_"));
    hresp_free(&r);
    /* another account's admin sees nothing, cannot delete it */
    r = call(F, U_OTHER_ADMIN, "GET", "/api/v1/webhooks", NULL, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "webhooks")), 0);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/webhooks/%lld", id);
    r = call(F, U_OTHER_ADMIN, "DELETE", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    r = call(F, U_ADMIN, "DELETE", path, NULL, NULL);
    ck_assert_int_eq(r.status, 204);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/webhooks", NULL, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "webhooks")), 0);
    hresp_free(&r);
}
END_TEST

START_TEST(smtp_password_is_sealed)
{
    char *raw;

    ck_assert_int_eq(provider_set("smtp-url", "http://mail.example"), CIN_EINVAL);
    ck_assert_int_eq(provider_set("smtp-url", "smtp://127.0.0.1:2525"), CIN_OK);
    ck_assert_int_eq(provider_set("smtp-password", "hunter2-secret"), CIN_OK);
    raw = store_query(F, "SELECT value FROM settings WHERE key = 'smtp-password'");
    ck_assert_ptr_null(strstr(raw, "hunter2"));
    ck_assert_uint_gt(strlen(raw), 20);
    free(raw);
    raw = store_query(F, "SELECT detail FROM order_events WHERE action = 'settings.set'");
    ck_assert_ptr_null(strstr(raw, "hunter2"));
    ck_assert_ptr_nonnull(strstr(raw, "(sealed)"));
    free(raw);
    /* a URL's user information never reaches the audit trail (a review finding) */
    ck_assert_int_eq(provider_set("smtp-url", "smtp://mailer:s3cret-pw@127.0.0.1:2525"), CIN_OK);
    raw = store_query(F, "SELECT detail FROM order_events WHERE action = 'settings.set'");
    ck_assert_ptr_null(strstr(raw, "s3cret-pw"));
    ck_assert_ptr_null(strstr(raw, "mailer"));
    ck_assert_ptr_nonnull(strstr(raw, "smtp://***@127.0.0.1:2525"));
    free(raw);
}
END_TEST

START_TEST(outbox_recipients_and_retry)
{
    hresp r;
    char *rows;

    ck_assert_int_eq(provider_set("smtp-url", "smtp://127.0.0.1:1"), CIN_OK); /* nobody there */
    ck_assert_int_eq(provider_set("smtp-from", "certs@provider.example"), CIN_OK);
    ck_assert_int_eq(provider_set("notify-retry-base", "300"), CIN_OK);
    r = call(F, U_ADMIN, "PUT", "/api/v1/notifications", "{\"email\":\"ann@example.com\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    r = call(F, U_BASIC, "PUT", "/api/v1/notifications", "{\"email\":\"bob@example.com\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    r = call(F, U_ADMIN2, "PUT", "/api/v1/notifications",
             "{\"email\":\"adam@example.com\",\"notify\":false}", NULL); /* opted out */
    ck_assert_int_eq(r.status, 200);
    ck_assert(json_is_false(json_object_get(r.json, "notify")));
    hresp_free(&r);
    r = call(F, U_BASIC, "PUT", "/api/v1/notifications", "{\"email\":\"not an address\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(jstr(&r, "field"), "email");
    hresp_free(&r);
    agent_pass(F); /* the first pass starts the cursor: history is not mailed */
    ck_assert_int_eq(count_rows(F, "outbox"), 0);
    order_new(F, U_BASIC, "dv-ssl", "[\"mail.example.com\"]");
    agent_pass(F);
    rows = store_query(F, "SELECT kind, recipient, event, state, attempts FROM outbox ORDER BY id");
    /* the admin who did not opt out, once; tried, failed (no server), kept for a retry */
    ck_assert_str_eq(rows, "mail|ann@example.com|order.created|queued|1\n");
    free(rows);
    rows = store_query(F, "SELECT subject, last_error FROM outbox");
    ck_assert_ptr_nonnull(strstr(rows, "R-000001 waits for your approval"));
    ck_assert_ptr_nonnull(strstr(rows, "|")); /* an error recorded */
    free(rows);
    /* not due yet: the next pass does not try again */
    agent_pass(F);
    rows = store_query(F, "SELECT attempts FROM outbox");
    ck_assert_str_eq(rows, "1\n");
    free(rows);
    /* approved: the requester hears of it */
    r = call(F, U_ADMIN, "POST", "/api/v1/orders/R-000001/approve", "{}", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    rows = store_query(F, "SELECT recipient, event FROM outbox WHERE id > 1 ORDER BY id");
    ck_assert_str_eq(rows, "bob@example.com|order.approved\n");
    free(rows);
}
END_TEST

START_TEST(expiry_warnings_once_per_level)
{
    char path[96], sql[200], *rows;
    const char *id;
    hresp r;

    ck_assert_int_eq(provider_set("smtp-url", "smtp://127.0.0.1:1"), CIN_OK);
    ck_assert_int_eq(provider_set("smtp-from", "certs@provider.example"), CIN_OK);
    r = call(F, U_ADMIN, "PUT", "/api/v1/notifications", "{\"email\":\"ann@example.com\"}", NULL);
    hresp_free(&r);
    id = order_new(F, U_ADMIN, "dv-ssl", "[\"exp.example.com\"]");
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F); /* issued; 200 days left: no warning */
    ck_assert_int_eq(count_rows(F, "expiry_notices"), 0);
    /* five days left: the 7-day warning, to the requester (here also the admin) */
    snprintf(sql, sizeof(sql),
             "UPDATE certificates SET not_after_ts = %lld WHERE status = 'active'",
             (long long)time(NULL) + 5 * 86400 - 60);
    free(store_query(F, sql));
    ck_assert_int_eq(cin_notify_check_expiry(F->st), CIN_OK);
    ck_assert_int_eq(cin_notify_check_expiry(F->st), CIN_OK); /* once per level */
    rows = store_query(F, "SELECT level FROM expiry_notices");
    if (!*rows) {
        free(rows);
        ck_abort_msg("no expiry notice");
    }
    ck_assert_str_eq(rows, "7\n");
    free(rows);
    rows = store_query(F, "SELECT recipient, subject FROM outbox WHERE event = 'order.expiring'");
    ck_assert_str_eq(rows, "ann@example.com|R-000001 expires in 5 days\n");
    free(rows);
    /* under a day: the last warning */
    snprintf(sql, sizeof(sql),
             "UPDATE certificates SET not_after_ts = %lld WHERE status = 'active'",
             (long long)time(NULL) + 3600);
    free(store_query(F, sql));
    ck_assert_int_eq(cin_notify_check_expiry(F->st), CIN_OK);
    rows = store_query(F, "SELECT level FROM expiry_notices ORDER BY level");
    ck_assert_str_eq(rows, "1\n7\n");
    free(rows);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("notify");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, signature_known_answer);
    tcase_add_test(tc, private_hosts_and_backoff);
    tcase_add_test(tc, webhooks_api);
    tcase_add_test(tc, smtp_password_is_sealed);
    tcase_add_test(tc, outbox_recipients_and_retry);
    tcase_add_test(tc, expiry_warnings_once_per_level);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
