/* test_agent.c - the issuance agent: leases, concurrency, failures, revocation, expiry. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cin_agent.h"
#include "cin_order.h"
#include "cin_store_ca.h"
#include "cin_util.h"
#include "cin_mirror.h"
#include "harness.h"

static fixture *F;
static const char *cli;

static void setup(void)
{
    cli = getenv("CIN_CLI") ? getenv("CIN_CLI") : "build/certinext";
    F = fixture_new();
}

static void teardown(void)
{
    fixture_free(F);
    F = NULL;
}

static const char *paid_order(const char *name)
{
    static char id[32];
    char names[128], path[96];
    hresp r;

    snprintf(names, sizeof(names), "[\"%s\"]", name);
    snprintf(id, sizeof(id), "%s", order_new(F, U_ADMIN, "dv-ssl", names));
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    return id;
}

static char *sql(const char *q)
{
    return store_query(F, q);
}

START_TEST(cli_agent_once_issues_every_paid_order)
{
    char cmd[512], *out = NULL, *n;
    int i;

    for (i = 0; i < 5; i++) {
        char name[64];
        snprintf(name, sizeof(name), "once%d.example.com", i);
        paid_order(name);
    }
    order_new(F, U_BASIC, "dv-ssl", "[\"unpaid.example.com\"]");
    snprintf(cmd, sizeof(cmd), "%s agent --once %s 2>&1", cli, F->cli_args);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "issued 5,"));
    free(out);
    n = sql("SELECT count(*) FROM orders WHERE status='issued'");
    ck_assert_str_eq(n, "5\n");
    free(n);
    n = sql("SELECT count(*) FROM certificates");
    ck_assert_str_eq(n, "5\n");
    free(n);
    /* a second pass has nothing to do */
    snprintf(cmd, sizeof(cmd), "%s agent --once %s 2>&1", cli, F->cli_args);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "issued 0,"));
    free(out);
}
END_TEST

START_TEST(two_agents_never_issue_twice)
{
    char cmd[1024], *n;
    int i;

    for (i = 0; i < 30; i++) {
        char name[64];
        snprintf(name, sizeof(name), "dup%d.example.com", i);
        paid_order(name);
    }
    /* two agent processes at once, and a third right after */
    snprintf(cmd, sizeof(cmd),
             "(%s agent --once %s >/dev/null 2>&1 & %s agent --once %s "
             ">/dev/null 2>&1 & wait; %s agent --once %s >/dev/null 2>&1)",
             cli, F->cli_args, cli, F->cli_args, cli, F->cli_args);
    ck_assert_int_eq(run(cmd, NULL), 0);
    n = sql("SELECT count(*) FROM orders WHERE status='issued'");
    ck_assert_str_eq(n, "30\n");
    free(n);
    n = sql("SELECT count(*), count(DISTINCT order_id) FROM certificates");
    ck_assert_str_eq(n, "30|30\n");
    free(n);
    n = sql("SELECT count(*) FROM order_events WHERE action='order.issued'");
    ck_assert_str_eq(n, "30\n");
    free(n);
    n = sql("SELECT count(*) FROM leases");
    ck_assert_str_eq(n, "0\n"); /* every lease released */
    free(n);
}
END_TEST

START_TEST(leases_respected_and_taken_over)
{
    char q[256], *n;
    const char *id = paid_order("lease.example.com");
    int64_t oid = cin_order_parse_id(id);

    /* another live agent holds the order: this one leaves it alone */
    snprintf(q, sizeof(q), "order:%lld", (long long)oid);
    ck_assert_int_eq(cin_store_lease_acquire(F->st, q, "other-host:1:1", 60), CIN_OK);
    agent_pass(F);
    n = order_status(F, id);
    ck_assert_str_eq(n, "processing");
    free(n);
    /* that agent died: its lease expires and the order is taken over */
    snprintf(q, sizeof(q), "UPDATE leases SET expires_at = 1 WHERE name = 'order:%lld'",
             (long long)oid);
    free(sql(q));
    agent_pass(F);
    n = order_status(F, id);
    ck_assert_str_eq(n, "issued");
    free(n);
}
END_TEST

START_TEST(dead_holder_on_this_host_released_at_once)
{
    char lease[64], holder[160], mine[160], host[64], *n;
    const char *id = paid_order("dead.example.com");
    pid_t pid = fork();

    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0); /* now a pid that no longer exists */
    /* this host, as its agents name it (a fleet's host id, else the hostname) */
    cin_agent_holder(cin_core_host_id(F->core), mine, sizeof(mine));
    snprintf(host, sizeof(host), "%.*s", (int)strcspn(mine, ":"), mine);
    snprintf(lease, sizeof(lease), "order:%lld", (long long)cin_order_parse_id(id));
    snprintf(holder, sizeof(holder), "%s:%ld:1", host, (long)pid);
    ck_assert_int_eq(cin_store_lease_acquire(F->st, lease, holder, 3600), CIN_OK);
    agent_pass(F);
    n = order_status(F, id);
    ck_assert_str_eq(n, "issued");
    free(n);
    /* a live holder on this host (ourselves) is respected */
    id = paid_order("alive.example.com");
    snprintf(lease, sizeof(lease), "order:%lld", (long long)cin_order_parse_id(id));
    snprintf(holder, sizeof(holder), "%s:%ld:1", host, (long)getpid());
    ck_assert_int_eq(cin_store_lease_acquire(F->st, lease, holder, 3600), CIN_OK);
    agent_pass(F);
    n = order_status(F, id);
    ck_assert_str_eq(n, "processing");
    free(n);
    /* the same dead pid on another host (another host id, the same hostname
     * maybe) means nothing here: that lease runs out its time */
    id = paid_order("elsewhere.example.com");
    snprintf(lease, sizeof(lease), "order:%lld", (long long)cin_order_parse_id(id));
    snprintf(holder, sizeof(holder), "%sx:%ld:1", host, (long)pid);
    ck_assert_int_eq(cin_store_lease_acquire(F->st, lease, holder, 3600), CIN_OK);
    agent_pass(F);
    n = order_status(F, id);
    ck_assert_str_eq(n, "processing");
    free(n);
}
END_TEST

START_TEST(permanent_failure_then_retry)
{
    cin_ca_config c;
    const char *id;
    char path[96], *n;
    hresp r;

    /* a product bound to a built-in CA that was never initialised */
    memset(&c, 0, sizeof(c));
    c.name = "broken";
    c.kind = "local";
    ck_assert_int_eq(cin_store_ca_add(F->st, &c, NULL, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_product_set_ca(F->st, "dv-ssl", "broken", NULL), CIN_OK);
    id = paid_order("fail.example.com");
    agent_pass(F);
    n = order_status(F, id);
    ck_assert_str_eq(n, "failed");
    free(n);
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(r.json, "error"), "type"));
    ck_assert_ptr_nonnull(strstr(r.body, "retry"));
    hresp_free(&r);
    /* the admin fixes the binding and retries */
    ck_assert_int_eq(cin_store_product_set_ca(F->st, "dv-ssl", "builtin", NULL), CIN_OK);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/retry", id);
    r = call(F, U_BASIC, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404); /* bob cannot see ann's order */
    hresp_free(&r);
    r = call(F, U_STANDARD, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "status"), "processing");
    ck_assert(json_is_null(json_object_get(r.json, "error")));
    hresp_free(&r);
    agent_pass(F);
    n = order_status(F, id);
    ck_assert_str_eq(n, "issued");
    free(n);
}
END_TEST

START_TEST(unreachable_ca_is_transient_with_attempts)
{
    cin_ca_config c;
    const char *id;
    char path[96], *n;
    hresp r;

    memset(&c, 0, sizeof(c));
    c.name = "down";
    c.kind = "acme";
    c.directory_url = "https://127.0.0.1:1/dir"; /* nothing listens there */
    ck_assert_int_eq(cin_store_ca_add(F->st, &c, NULL, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_product_set_ca(F->st, "dv-ssl", "down", NULL), CIN_OK);
    id = paid_order("down.example.com");
    agent_pass(F);
    n = order_status(F, id);
    ck_assert_str_eq(n, "processing");
    free(n);
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "attempts")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "type")),
                     "urn:certinext:error:ca_unavailable");
    hresp_free(&r);
    /* not due again at once: the next try waits for the backoff */
    agent_pass(F);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "attempts")), 1);
    hresp_free(&r);
}
END_TEST

START_TEST(revocation_sent_and_expiry_marked)
{
    char id[32], id2[32], path[96], *n;
    cin_agent_stats s;
    hresp r;

    snprintf(id, sizeof(id), "%s", paid_order("rev.example.com"));
    snprintf(id2, sizeof(id2), "%s", paid_order("exp.example.com"));
    agent_pass(F);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/revoke", id);
    r = call(F, U_ADMIN, "POST", path, "{\"reason\":\"keyCompromise\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    n = sql("SELECT ca_notified FROM certificates WHERE status='revoked'");
    ck_assert_str_eq(n, "0\n"); /* the request does not talk to the CA */
    free(n);
    free(sql("UPDATE certificates SET not_after_ts = 1 WHERE status='active'"));
    ck_assert_int_eq(cin_agent_run_once(F->st, "t", &s), CIN_OK);
    ck_assert_int_eq(s.revocations_sent, 1);
    ck_assert_int_eq(s.expired, 1);
    n = sql("SELECT ca_notified FROM certificates WHERE status='revoked'");
    ck_assert_str_eq(n, "1\n");
    free(n);
    n = order_status(F, id2);
    ck_assert_str_eq(n, "expired");
    free(n);
}
END_TEST

static double now_s(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

START_TEST(running_agent_picks_up_within_a_second)
{
    char *argv_store = F->path;
    const char *id;
    double t0, t;
    pid_t pid;
    char *st = NULL;

    pid = fork();
    if (pid == 0) {
        execl(cli, cli, "agent", "--interval", "0.2", "--store", argv_store, "--key-file",
              F->key_path, (char *)NULL);
        _exit(127);
    }
    usleep(300000);
    id = paid_order("quick.example.com");
    t0 = now_s();
    do {
        free(st);
        usleep(20000);
        st = order_status(F, id);
        t = now_s() - t0;
    } while (strcmp(st, "issued") && t < 5);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    ck_assert_str_eq(st, "issued");
    ck_assert_msg(t < 1.0, "picked up after %.2f s", t);
    free(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent");
    TCase *tc = tcase_create("agent");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cli_agent_once_issues_every_paid_order);
    tcase_add_test(tc, two_agents_never_issue_twice);
    tcase_add_test(tc, leases_respected_and_taken_over);
    tcase_add_test(tc, dead_holder_on_this_host_released_at_once);
    tcase_add_test(tc, permanent_failure_then_retry);
    tcase_add_test(tc, unreachable_ca_is_transient_with_attempts);
    tcase_add_test(tc, revocation_sent_and_expiry_marked);
    tcase_add_test(tc, running_agent_picks_up_within_a_second);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
