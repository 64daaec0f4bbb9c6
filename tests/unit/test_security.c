/*
 * test_security.c - the findings of the security review, each as a
 * regression test: domain ownership re-checked at every step, login
 * throttling that holds under concurrency, sessions that end, EV consent on
 * automatic renewal, lineages with one active certificate, idempotent
 * replays scoped to their caller, problem documents that survive any input,
 * the key file's owner, and a store failure that is never a wrong answer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cin_account.h"
#include "cin_agent.h"
#include "cin_order.h"
#include "cin_problem.h"
#include "cin_util.h"
#include "harness.h"

extern int (*db_fault_hook)(const char *sql);

static fixture *F;
static const cin_actor provider = {NULL, "cli", NULL};

static void setup(void)
{
    F = fixture_new();
}

static void teardown(void)
{
    db_fault_hook = NULL;
    fixture_free(F);
}

static hresp post(int u, const char *id, const char *action, const char *body)
{
    char path[128];

    snprintf(path, sizeof(path), "/api/v1/orders/%s/%s", id, action);
    return call(F, u, "POST", path, body, NULL);
}

static char *sql(const char *q)
{
    return store_query(F, q);
}

static void sql_exec(const char *q)
{
    free(sql(q));
}

/* What a refusal must leave alone: the order's row and every table's size. */
static char *snapshot(const char *id)
{
    char q[512];

    snprintf(q, sizeof(q),
             "SELECT * FROM orders WHERE id=%lld; SELECT count(*) FROM orders;"
             " SELECT count(*) FROM ledger; SELECT id, credits FROM accounts ORDER BY id;"
             " SELECT count(*) FROM certificates; SELECT count(*) FROM order_events",
             (long long)cin_order_parse_id(id));
    return sql(q);
}

/* The provider moves shop.example.net from acme to other, as `certinext
 * domain remove; certinext domain add --account other` does. */
static void move_domain(void)
{
    cin_problem p = {0};

    ck_assert_int_eq(cin_account_domain_remove(F->st, &provider, "shop.example.net", &p), CIN_OK);
    ck_assert_int_eq(cin_account_domain_add(F->st, &provider, "other", "shop.example.net", &p),
                     CIN_OK);
}

static void expect_not_owned(hresp *r)
{
    ck_assert_msg(r->status == 403, "got %d: %s", r->status, r->body ? r->body : "");
    ck_assert_str_eq(problem_code(r), "domain_not_owned");
    ck_assert_ptr_nonnull(strstr(jstr(r, "detail"), "shop.example.net"));
}

static const char *status_of(const char *id)
{
    static char buf[64];
    char *s = order_status(F, id);

    snprintf(buf, sizeof(buf), "%s", s ? s : "");
    free(s);
    return buf;
}

static void issued(char *id, int auto_renew, const char *product, const char *names)
{
    char body[512];
    hresp r;

    snprintf(body, sizeof(body), "{\"product\":\"%s\",\"common_name\":\"%s\",\"auto_renew\":%s}",
             product, names, auto_renew ? "true" : "false");
    r = call(F, U_ADMIN, "POST", "/api/v1/orders", body, NULL);
    ck_assert_int_eq(r.status, 201);
    snprintf(id, 32, "%s", jstr(&r, "id"));
    hresp_free(&r);
    r = post(U_ADMIN, id, "pay", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    ck_assert_str_eq(status_of(id), "issued");
}

/* ---- finding 1: ownership at every step -------------------------------------- */

START_TEST(pay_after_transfer_is_refused)
{
    char id[32], *before, *after;
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_ADMIN, "dv-ssl", "[\"shop.example.net\"]"));
    ck_assert_str_eq(status_of(id), "awaiting_payment");
    move_domain();
    before = snapshot(id);
    r = post(U_ADMIN, id, "pay", NULL);
    expect_not_owned(&r);
    hresp_free(&r);
    after = snapshot(id);
    ck_assert_str_eq(before, after); /* no debit, no order number, no event */
    free(before);
    free(after);
}
END_TEST

START_TEST(approve_consent_retry_after_transfer_are_refused)
{
    char id[32], ev[32], failed[32], *before, *after;
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"shop.example.net\"]"));
    snprintf(ev, sizeof(ev), "%s", order_new(F, U_STANDARD, "ev-ssl", "[\"shop.example.net\"]"));
    r = post(U_ADMIN, ev, "approve", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    ck_assert_str_eq(status_of(ev), "pending_signatory");
    snprintf(failed, sizeof(failed), "%s",
             order_new(F, U_ADMIN, "dv-ssl", "[\"www.shop.example.net\"]"));
    r = post(U_ADMIN, failed, "pay", NULL);
    hresp_free(&r);
    {
        char q[128];
        snprintf(q, sizeof(q), "UPDATE orders SET status='failed' WHERE id=%lld",
                 (long long)cin_order_parse_id(failed));
        sql_exec(q);
    }
    move_domain();
    before = snapshot(id);
    r = post(U_ADMIN, id, "approve", NULL);
    expect_not_owned(&r);
    hresp_free(&r);
    after = snapshot(id);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    r = post(U_SIGNATORY, ev, "signatory/approve", NULL);
    expect_not_owned(&r);
    hresp_free(&r);
    ck_assert_str_eq(status_of(ev), "pending_signatory");
    r = post(U_ADMIN, failed, "retry", NULL);
    expect_not_owned(&r);
    hresp_free(&r);
    ck_assert_str_eq(status_of(failed), "failed");
    /* a rejection needs no ownership: it writes nothing for the name */
    r = post(U_ADMIN, id, "reject", "{\"reason\":\"the domain moved\"}");
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
}
END_TEST

START_TEST(renew_reissue_sans_after_transfer_are_refused)
{
    char id[32], *before, *after;
    hresp r;

    issued(id, 0, "dv-multi", "shop.example.net");
    move_domain();
    before = snapshot(id);
    r = post(U_ADMIN, id, "renew", NULL);
    expect_not_owned(&r);
    hresp_free(&r);
    r = post(U_ADMIN, id, "reissue", NULL);
    expect_not_owned(&r);
    hresp_free(&r);
    r = post(U_ADMIN, id, "sans", "{\"add\":[\"api.example.com\"]}");
    expect_not_owned(&r);
    hresp_free(&r);
    after = snapshot(id);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

START_TEST(agent_fails_an_order_whose_domain_moved)
{
    char id[32], *out;
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_ADMIN, "dv-ssl", "[\"shop.example.net\"]"));
    r = post(U_ADMIN, id, "pay", NULL);
    ck_assert_str_eq(jstr(&r, "status"), "processing");
    hresp_free(&r);
    move_domain();
    agent_pass(F);
    ck_assert_str_eq(status_of(id), "failed");
    out = sql("SELECT count(*) FROM certificates");
    ck_assert_str_eq(out, "0\n"); /* the CA was never asked */
    free(out);
    {
        char path[96];
        snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
        r = call(F, U_ADMIN, "GET", path, NULL, NULL);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(r.json, "error"), "type")),
            "urn:certinext:error:domain_not_owned");
        hresp_free(&r);
    }
}
END_TEST

/* Make an issued order's certificate due for renewal now. */
static void make_due(const char *id)
{
    char q[256];

    time_t now = time(NULL);

    snprintf(q, sizeof(q),
             "UPDATE certificates SET lifetime_start = %lld, lifetime_end = %lld WHERE"
             " order_id = %lld",
             (long long)now - 8000000, (long long)now + 1000, (long long)cin_order_parse_id(id));
    sql_exec(q);
}

START_TEST(automatic_renewal_after_transfer_is_not_charged)
{
    char id[32], q[256], *out, *ledger;
    cin_agent_stats s;

    issued(id, 1, "dv-ssl", "shop.example.net");
    make_due(id);
    move_domain();
    ledger = sql("SELECT count(*) FROM ledger");
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(cin_agent_renewals(F->st, "test-agent", &s), CIN_OK);
    ck_assert_int_eq(s.renewals, 0);
    snprintf(q, sizeof(q), "SELECT count(*) FROM orders WHERE parent_id = %lld",
             (long long)cin_order_parse_id(id));
    out = sql(q);
    ck_assert_str_eq(out, "0\n");
    free(out);
    out = sql("SELECT count(*) FROM ledger");
    ck_assert_str_eq(out, ledger); /* nothing charged */
    free(out);
    free(ledger);
    snprintf(q, sizeof(q), "SELECT error FROM orders WHERE id = %lld",
             (long long)cin_order_parse_id(id));
    out = sql(q);
    ck_assert_ptr_nonnull(strstr(out, "domain_not_owned"));
    free(out);
    out = sql("SELECT count(*) FROM order_events WHERE action = 'order.renewal_failed'");
    ck_assert_str_eq(out, "1\n");
    free(out);
}
END_TEST

/* A lookup that fails must be the store's problem (503), never a 403. */
static int busy_domains(const char *q)
{
    return strstr(q, "FROM domains WHERE name") ? CIN_EBUSY : CIN_OK;
}

static int lost_domains(const char *q)
{
    return strstr(q, "FROM domains WHERE name") ? CIN_EUNAVAIL : CIN_OK;
}

START_TEST(ownership_lookup_failure_is_503_not_403)
{
    long long before = count_rows(F, "orders");
    hresp r;

    db_fault_hook = busy_domains;
    r = call(F, U_ADMIN, "POST", "/api/v1/orders",
             "{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\"}", NULL);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(problem_code(&r), "store_busy");
    ck_assert_ptr_nonnull(hresp_header(&r, "Retry-After"));
    hresp_free(&r);
    db_fault_hook = lost_domains;
    r = call(F, U_ADMIN, "POST", "/api/v1/orders",
             "{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\"}", NULL);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(problem_code(&r), "store_unavailable");
    ck_assert_ptr_nonnull(hresp_header(&r, "Retry-After"));
    hresp_free(&r);
    db_fault_hook = NULL;
    ck_assert_int_eq(count_rows(F, "orders"), before);
}
END_TEST

static int broken_lists(const char *q)
{
    return strstr(q, "FROM orders o JOIN") ? CIN_EIO : CIN_OK;
}

START_TEST(list_failure_is_never_a_short_list)
{
    hresp r;

    order_new(F, U_ADMIN, "dv-ssl", "[\"a.example.com\"]");
    db_fault_hook = broken_lists;
    r = call(F, U_ADMIN, "GET", "/api/v1/orders", NULL, NULL);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.ctype, "application/problem+json");
    ck_assert_ptr_null(json_object_get(r.json, "orders"));
    hresp_free(&r);
}
END_TEST

/* ---- finding 2: throttling that holds under concurrency -------------------------- */

struct guess {
    const char *user, *password, *peer;
    int status;
};

static void *guess_thread(void *arg)
{
    struct guess *g = arg;
    char body[256];
    hresp r;

    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", g->user, g->password);
    r = call_from(F, -1, g->peer, "POST", "/api/v1/session", body, NULL);
    g->status = r.status;
    hresp_free(&r);
    return NULL;
}

static int login_from(const char *user, const char *password, const char *peer)
{
    struct guess g = {user, password, peer, 0};

    guess_thread(&g);
    return g.status;
}

START_TEST(parallel_guesses_get_five_checks)
{
    struct guess g[40];
    pthread_t t[40];
    int i, n401 = 0, n429 = 0;

    for (i = 0; i < 40; i++) {
        g[i] = (struct guess){"ann", "guess-password", "198.51.100.1", 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, guess_thread, &g[i]), 0);
    }
    for (i = 0; i < 40; i++) {
        pthread_join(t[i], NULL);
        n401 += g[i].status == 401;
        n429 += g[i].status == 429;
    }
    /* a slot is reserved before each check: five checks, whatever the concurrency */
    ck_assert_int_eq(n401, 5);
    ck_assert_int_eq(n429, 35);
    /* the right password from that peer is refused too; ann elsewhere is not */
    ck_assert_int_eq(login_from("ann", "ann-password", "198.51.100.1"), 429);
    ck_assert_int_eq(login_from("ann", "ann-password", "203.0.113.9"), 200);
}
END_TEST

START_TEST(peer_and_user_limits)
{
    char peer[32], user[32];
    int i;

    /* one peer, many user names: 20 checks, then refused for anyone */
    for (i = 0; i < 20; i++) {
        snprintf(user, sizeof(user), "nobody%d", i);
        ck_assert_int_eq(login_from(user, "x-password", "198.51.100.2"), 401);
    }
    ck_assert_int_eq(login_from("ann", "ann-password", "198.51.100.2"), 429);
    /* one user from many peers: 50 checks in all */
    for (i = 0; i < 50; i++) {
        snprintf(peer, sizeof(peer), "10.0.%d.%d", i / 5, i % 5);
        ck_assert_int_eq(login_from("victim", "x-password", peer), 401);
    }
    ck_assert_int_eq(login_from("victim", "x-password", "10.9.9.9"), 429);
}
END_TEST

START_TEST(success_clears_its_pair)
{
    int i;

    for (i = 0; i < 4; i++)
        ck_assert_int_eq(login_from("ann", "wrong-password", "198.51.100.3"), 401);
    ck_assert_int_eq(login_from("ann", "ann-password", "198.51.100.3"), 200);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(login_from("ann", "wrong-password", "198.51.100.3"), 401);
    ck_assert_int_eq(login_from("ann", "ann-password", "198.51.100.3"), 200);
}
END_TEST

/* ---- finding 3: sessions end ------------------------------------------------------- */

static char *session_of(const char *user, const char *password, char **csrf)
{
    char body[256];
    hresp r;
    char *sid = NULL;
    const char *c;

    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
    r = call(F, -1, "POST", "/api/v1/session", body, NULL);
    ck_assert_int_eq(r.status, 200);
    c = hresp_header(&r, "Set-Cookie");
    ck_assert_ptr_nonnull(strstr(c, "__Host-cin_session="));
    ck_assert_ptr_nonnull(strstr(c, "Path=/;"));
    ck_assert_ptr_null(strstr(c, "Domain="));
    sid = cin_asprintf("Cookie: %.*s", (int)strcspn(c, ";"), c);
    if (csrf)
        *csrf = strdup(jstr(&r, "csrf_token"));
    hresp_free(&r);
    return sid;
}

static int whoami(const char *cookie)
{
    const char *h[] = {cookie, NULL};
    hresp r = call(F, -1, "GET", "/api/v1/session", NULL, h);
    int st = r.status;

    hresp_free(&r);
    return st;
}

START_TEST(password_change_and_disable_end_sessions)
{
    cin_user_fields f = {NULL, NULL, -1, -1, NULL};
    cin_actor admin = {NULL, "cli", NULL};
    cin_problem p = {0};
    cin_user u;
    char *cookie, *cookie2;
    hresp r;

    cookie = session_of("ann", "ann-password", NULL);
    cookie2 = session_of("ann", "ann-password", NULL);
    ck_assert_int_eq(whoami(cookie), 200);
    f.password = "a-new-password";
    ck_assert_int_eq(cin_account_user_update(F->st, &admin, "ann", &f, &u, &p), CIN_OK);
    cin_user_clear(&u);
    ck_assert_int_eq(whoami(cookie), 401);
    ck_assert_int_eq(whoami(cookie2), 401);
    free(cookie);
    free(cookie2);
    /* a disabled user: sessions end and tokens stop working */
    cookie = session_of("ann", "a-new-password", NULL);
    r = call(F, U_ADMIN, "GET", "/api/v1/account", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    f.password = NULL;
    f.disabled = 1;
    ck_assert_int_eq(cin_account_user_update(F->st, &admin, "ann", &f, &u, &p), CIN_OK);
    cin_user_clear(&u);
    ck_assert_int_eq(whoami(cookie), 401);
    r = call(F, U_ADMIN, "GET", "/api/v1/account", NULL, NULL);
    ck_assert_int_eq(r.status, 401);
    hresp_free(&r);
    free(cookie);
}
END_TEST

START_TEST(password_change_by_api_ends_sessions)
{
    char *cookie = session_of("ann", "ann-password", NULL);
    hresp r;

    r = call(F, U_ADMIN2, "PATCH", "/api/v1/users/ann", "{\"password\":\"changed-password\"}",
             NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    ck_assert_int_eq(whoami(cookie), 401);
    free(cookie);
    /* bad input names its field */
    r = call(F, U_ADMIN2, "PATCH", "/api/v1/users/ann", "{\"password\":\"short\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(jstr(&r, "field"), "password");
    hresp_free(&r);
}
END_TEST

/* ---- finding 4: EV consent on automatic renewal ------------------------------------- */

START_TEST(automatic_ev_renewal_waits_for_the_signatory)
{
    char id[32], q[256], *out;
    cin_agent_stats s;
    hresp r;

    r = call(F, U_ADMIN, "POST", "/api/v1/orders",
             "{\"product\":\"ev-ssl\",\"common_name\":\"ev.example.com\",\"auto_renew\":true}",
             NULL);
    ck_assert_int_eq(r.status, 201);
    snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
    hresp_free(&r);
    r = post(U_SIGNATORY, id, "signatory/approve", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    r = post(U_ADMIN, id, "pay", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    ck_assert_str_eq(status_of(id), "issued");
    make_due(id);
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(cin_agent_renewals(F->st, "test-agent", &s), CIN_OK);
    ck_assert_int_eq(s.renewals, 1);
    snprintf(q, sizeof(q),
             "SELECT status || ' ' || kind || ' ' || coalesce(CAST(order_number AS TEXT), 'none') "
             "FROM orders"
             " WHERE parent_id = %lld",
             (long long)cin_order_parse_id(id));
    out = sql(q);
    /* approval skipped (an administrator placed it), consent not, nothing charged yet */
    ck_assert_str_eq(out, "pending_signatory renewal none\n");
    free(out);
}
END_TEST

START_TEST(automatic_renewal_is_the_workflow_renewal)
{
    char id[32], q[256], *out;
    cin_agent_stats s;

    issued(id, 1, "dv-ssl", "auto.example.com");
    make_due(id);
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(cin_agent_renewals(F->st, "test-agent", &s), CIN_OK);
    ck_assert_int_eq(s.renewals, 1);
    snprintf(q, sizeof(q),
             "SELECT status || ' ' || kind || ' ' || CASE WHEN order_number IS NULL THEN 0 ELSE 1 "
             "END FROM orders"
             " WHERE parent_id = %lld",
             (long long)cin_order_parse_id(id));
    out = sql(q);
    ck_assert_str_eq(out, "processing renewal 1\n"); /* charged, to the CA */
    free(out);
    /* issued: the renewal supersedes its parent */
    agent_pass(F);
    ck_assert_str_eq(status_of(id), "superseded");
    /* never a second renewal of the same certificate */
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(cin_agent_renewals(F->st, "test-agent", &s), CIN_OK);
    ck_assert_int_eq(s.renewals, 0);
}
END_TEST

/* ---- finding 5: reissues and one active certificate ---------------------------------- */

START_TEST(reissue_keeps_the_end_and_revokes_the_old_later)
{
    char id[32], rid[32], q[256], *out;
    int64_t *ids = NULL;
    size_t n = 0;
    time_t now = time(NULL);
    hresp r;

    issued(id, 0, "dv-ssl", "re.example.com");
    r = post(U_ADMIN, id, "reissue", NULL);
    ck_assert_int_eq(r.status, 201);
    snprintf(rid, sizeof(rid), "%s", jstr(&r, "id"));
    hresp_free(&r);
    r = post(U_ADMIN, rid, "pay", NULL);
    hresp_free(&r);
    agent_pass(F);
    ck_assert_str_eq(status_of(rid), "issued");
    ck_assert_str_eq(status_of(id), "superseded");
    /* the same end; renewal timing follows the original */
    snprintf(q, sizeof(q),
             "SELECT count(DISTINCT not_after), count(DISTINCT lifetime_end) FROM certificates");
    out = sql(q);
    ck_assert_str_eq(out, "1|1\n");
    free(out);
    /* the replaced certificate: not served, revoked at its CA 72 hours later */
    snprintf(q, sizeof(q),
             "SELECT status, revocation_reason, revoke_next_at - %lld FROM certificates WHERE"
             " order_id = %lld",
             (long long)now, (long long)cin_order_parse_id(id));
    out = sql(q);
    {
        long d = 0;
        char st[32] = "", reason[32] = "";
        ck_assert_int_eq(sscanf(out, "%31[^|]|%31[^|]|%ld", st, reason, &d), 3);
        ck_assert_str_eq(st, "superseded");
        ck_assert_str_eq(reason, "superseded");
        ck_assert_int_ge(d, 72 * 3600 - 60);
        ck_assert_int_le(d, 72 * 3600 + 60);
    }
    free(out);
    ck_assert_int_eq(cin_store_cert_unnotified(F->st, now + 3600, &ids, &n), CIN_OK);
    ck_assert_uint_eq(n, 0);
    free(ids);
    ck_assert_int_eq(cin_store_cert_unnotified(F->st, now + 72 * 3600 + 120, &ids, &n), CIN_OK);
    ck_assert_uint_eq(n, 1);
    free(ids);
}
END_TEST

struct twice {
    const char *id;
    int status;
};

static void *renew_thread(void *arg)
{
    struct twice *t = arg;
    hresp r = post(U_ADMIN, t->id, "renew", NULL);

    t->status = r.status;
    hresp_free(&r);
    return NULL;
}

START_TEST(simultaneous_renewals_make_one_order)
{
    char id[32], q[256], *out;
    struct twice t[4];
    pthread_t th[4];
    int i, created = 0, conflict = 0;

    issued(id, 0, "dv-ssl", "twice.example.com");
    for (i = 0; i < 4; i++) {
        t[i] = (struct twice){id, 0};
        pthread_create(&th[i], NULL, renew_thread, &t[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        created += t[i].status == 201;
        conflict += t[i].status == 409;
    }
    ck_assert_int_eq(created, 1);
    ck_assert_int_eq(conflict, 3);
    snprintf(q, sizeof(q), "SELECT count(*) FROM orders WHERE parent_id = %lld",
             (long long)cin_order_parse_id(id));
    out = sql(q);
    ck_assert_str_eq(out, "1\n");
    free(out);
}
END_TEST

/* ---- finding 6: an idempotent replay is the caller's own ------------------------------ */

START_TEST(idempotency_keys_are_scoped_to_the_caller)
{
    const char *key[] = {"Idempotency-Key: k-123", NULL};
    char id[32], path[96];
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"idem.example.com\"]"));
    r = post(U_ADMIN, id, "approve", NULL);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    r = call(F, U_ADMIN, "POST", path, NULL, key);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    /* the admin's own retry is a replay */
    r = call(F, U_ADMIN, "POST", path, NULL, key);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(hresp_header(&r, "Idempotent-Replayed"), "true");
    hresp_free(&r);
    /* a standard user replaying the admin's key: refused as any pay by them */
    r = call(F, U_STANDARD, "POST", path, NULL, key);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_null(hresp_header(&r, "Idempotent-Replayed"));
    hresp_free(&r);
    /* another basic user does not even see it */
    r = call(F, U_BASIC2, "POST", path, NULL, key);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    /* the requester with the admin's key gets no one else's reply */
    r = call(F, U_BASIC, "POST", path, NULL, key);
    ck_assert_int_eq(r.status, 409);
    ck_assert_ptr_null(hresp_header(&r, "Idempotent-Replayed"));
    hresp_free(&r);
}
END_TEST

/* ---- finding 7: problem documents survive any bytes ------------------------------------- */

START_TEST(non_utf8_input_keeps_its_detail)
{
    hresp r = call(F, U_ADMIN, "GET", "/api/v1/orders/R-\xff\xfe", NULL, NULL);

    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(r.json);
    ck_assert_ptr_nonnull(jstr(&r, "detail"));
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "\\xFF\\xFE"));
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/orders?status=\xc3\x28", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(jstr(&r, "detail"));
    ck_assert_str_eq(jstr(&r, "field"), "status");
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/orders/R-1/bogus\xff", "{}", NULL);
    ck_assert_ptr_nonnull(r.json);
    ck_assert_ptr_nonnull(jstr(&r, "detail"));
    hresp_free(&r);
}
END_TEST

/* ---- finding 9: the key file's owner --------------------------------------------------- */

START_TEST(key_file_must_be_roots_and_not_a_link)
{
    cin_core_config cfg = {0};
    cin_core *core = NULL;
    char *key = strdup(F->key_path), *moved = cin_asprintf("%s.real", key);
    char *err = NULL;

    cfg.store_path = F->path;
    cfg.key_file = F->key_path;
    cfg.state_dir = F->dir;
    cfg.load_kek = 1;
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(key, 65534, 65534), 0); /* the worker user replaced it */
        ck_assert_int_eq(cin_core_create(&cfg, NULL, &core, &err), CIN_EPERM);
        ck_assert_ptr_nonnull(strstr(err, "not to root"));
        free(err);
        err = NULL;
        ck_assert_int_eq(chown(key, 0, 0), 0);
    }
    ck_assert_int_eq(rename(key, moved), 0);
    ck_assert_int_eq(symlink(moved, key), 0);
    ck_assert_int_eq(cin_core_create(&cfg, NULL, &core, &err), CIN_EPERM);
    ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
    free(err);
    err = NULL;
    unlink(key);
    ck_assert_int_eq(rename(moved, key), 0);
    ck_assert_int_eq(cin_core_create(&cfg, NULL, &core, &err), CIN_OK);
    cin_core_free(core);
    free(key);
    free(moved);
}
END_TEST

/* ---- finding 11: the smaller ones ---------------------------------------------------------- */

START_TEST(key_download_is_wiped_and_csr_key_type_reported)
{
    char id[32], path[96], *csr, *q, *body;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    X509_REQ *req = X509_REQ_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long len;
    hresp r;

    issued(id, 0, "dv-ssl", "key.example.com");
    snprintf(path, sizeof(path), "/api/v1/orders/%s/key", id);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.raw.secret, 1); /* cin_response_clear wipes it */
    hresp_free(&r);
    /* a CSR order reports the key its CSR carries, not the default */
    X509_REQ_set_pubkey(req, k);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
                               (const unsigned char *)"csrkey.example.com", -1, -1, 0);
    X509_REQ_sign(req, k, EVP_sha256());
    PEM_write_bio_X509_REQ(b, req);
    len = BIO_get_mem_data(b, &data);
    csr = strndup(data, (size_t)len);
    q = json_quote(csr);
    body = cin_asprintf("{\"product\":\"dv-ssl\",\"common_name\":\"csrkey.example.com\","
                        "\"key_source\":\"csr\",\"csr\":%s}",
                        q);
    r = call(F, U_ADMIN, "POST", "/api/v1/orders", body, NULL);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(jstr(&r, "key_type"), "rsa-3072");
    hresp_free(&r);
    free(body);
    free(q);
    free(csr);
    BIO_free(b);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(events_hide_peers_from_customers)
{
    char id[32], path[96];
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"ev.example.com\"]"));
    r = post(U_ADMIN, id, "approve", NULL);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/events", id);
    r = call(F, U_BASIC, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strstr(r.body, "192.0.2.7"));
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "192.0.2.7"));
    hresp_free(&r);
}
END_TEST

START_TEST(server_refusals_are_problems)
{
    hresp r = call(F, -1, "GET", "/_error/413", NULL, NULL);

    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(r.ctype, "application/problem+json");
    ck_assert_str_eq(problem_code(&r), "payload_too_large");
    hresp_free(&r);
    r = call(F, -1, "GET", "/_error/400", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(problem_code(&r), "bad_request");
    hresp_free(&r);
    r = call(F, -1, "GET", "/_error/x", NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("security");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pay_after_transfer_is_refused);
    tcase_add_test(tc, approve_consent_retry_after_transfer_are_refused);
    tcase_add_test(tc, renew_reissue_sans_after_transfer_are_refused);
    tcase_add_test(tc, agent_fails_an_order_whose_domain_moved);
    tcase_add_test(tc, automatic_renewal_after_transfer_is_not_charged);
    tcase_add_test(tc, ownership_lookup_failure_is_503_not_403);
    tcase_add_test(tc, list_failure_is_never_a_short_list);
    tcase_add_test(tc, parallel_guesses_get_five_checks);
    tcase_add_test(tc, peer_and_user_limits);
    tcase_add_test(tc, success_clears_its_pair);
    tcase_add_test(tc, password_change_and_disable_end_sessions);
    tcase_add_test(tc, password_change_by_api_ends_sessions);
    tcase_add_test(tc, automatic_ev_renewal_waits_for_the_signatory);
    tcase_add_test(tc, automatic_renewal_is_the_workflow_renewal);
    tcase_add_test(tc, reissue_keeps_the_end_and_revokes_the_old_later);
    tcase_add_test(tc, simultaneous_renewals_make_one_order);
    tcase_add_test(tc, idempotency_keys_are_scoped_to_the_caller);
    tcase_add_test(tc, non_utf8_input_keeps_its_detail);
    tcase_add_test(tc, key_file_must_be_roots_and_not_a_link);
    tcase_add_test(tc, key_download_is_wiped_and_csr_key_type_reported);
    tcase_add_test(tc, events_hide_peers_from_customers);
    tcase_add_test(tc, server_refusals_are_problems);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
