/* test_metrics.c - metrics.c (the host's mapped counters), store_metrics.c and
 * api_metrics.c (GET <mount>metrics and who may read it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cin_metrics.h"
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

/* The value of the first line starting with `series ` in text, or -1. */
static double series(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *p = text;

    while (p && *p) {
        if (!strncmp(p, name, n) && p[n] == ' ')
            return atof(p + n + 1);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

START_TEST(counters_shared_by_processes_and_summed_per_host)
{
    char *path = NULL;
    cin_metrics_view v;
    pid_t pid;
    int status, i;

    ck_assert_int_gt(asprintf(&path, "%s/m.metrics", F->dir), 0);
    ck_assert_int_eq(cin_metrics_open(path, NULL), CIN_OK);
    cin_metrics_add(CIN_M_HS_STORE, 3);
    cin_metrics_set(CIN_M_INDEX_GEN, 17);
    /* two children (forked after the open, as server workers are) count
     * into their own slots; one stays alive, one exits */
    pid = fork();
    if (pid == 0) {
        cin_metrics_add(CIN_M_HS_STORE, 5);
        cin_metrics_add(CIN_M_HS_FALLBACK, 1);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        char c;
        cin_metrics_add(CIN_M_HS_STORE, 100);
        close(fds[1]);
        if (read(fds[0], &c, 1) < 0)
            _exit(1);
        _exit(0);
    }
    close(fds[0]);
    /* wait until the live child has counted */
    for (i = 0; i < 500; i++) {
        ck_assert_int_eq(cin_metrics_read(&v), CIN_OK);
        if (v.host[CIN_M_HS_STORE] == 108)
            break;
        cin_metrics_view_clear(&v);
        usleep(10000);
    }
    ck_assert_int_eq(v.host[CIN_M_HS_STORE], 108); /* 3 + 5 (gone, still counted) + 100 */
    ck_assert_int_eq(v.host[CIN_M_HS_FALLBACK], 1);
    ck_assert_int_eq(v.nprocs, 2); /* this process and the live child */
    for (i = 0; i < (int)v.nprocs; i++) {
        if (v.procs[i].pid == getpid()) {
            ck_assert_int_eq(v.procs[i].v[CIN_M_HS_STORE], 3);
            ck_assert_int_eq(v.procs[i].v[CIN_M_INDEX_GEN], 17);
        } else {
            ck_assert_int_eq(v.procs[i].pid, pid);
            ck_assert_int_eq(v.procs[i].v[CIN_M_HS_STORE], 100);
        }
    }
    cin_metrics_view_clear(&v);
    close(fds[1]);
    waitpid(pid, &status, 0);
    /* the issuance histogram: one bucket per observation */
    cin_metrics_issued(0.5);
    cin_metrics_issued(42);
    ck_assert_int_eq(cin_metrics_read(&v), CIN_OK);
    ck_assert_int_eq(v.host[CIN_M_ISSUED_COUNT], 2);
    ck_assert_int_eq(v.host[CIN_M_ISSUED_LE + 0], 1); /* <= 1 s */
    ck_assert_int_eq(v.host[CIN_M_ISSUED_LE + 4], 1); /* <= 60 s */
    ck_assert_int_eq(v.host[CIN_M_ISSUED_MSEC], 42500);
    cin_metrics_view_clear(&v);
    /* another file is another host's: nothing shared with this one */
    cin_metrics_close();
    free(path);
    ck_assert_int_gt(asprintf(&path, "%s/other.metrics", F->dir), 0);
    ck_assert_int_eq(cin_metrics_open(path, NULL), CIN_OK);
    ck_assert_int_eq(cin_metrics_read(&v), CIN_OK);
    ck_assert_int_eq(v.host[CIN_M_HS_STORE], 0);
    cin_metrics_view_clear(&v);
    free(path);
}
END_TEST

/* The mapped file's layout (metrics.c), to plant a dead process's slot. */
struct test_slot {
    int32_t pid;
    uint32_t start;
    uint64_t v[CIN_M_COUNT];
};
struct test_mfile {
    uint64_t magic, nvalues;
    struct test_slot retired, s[1];
};

/* A PID the kernel gave again to another process: the slot a dead process
 * left with that PID is not the new process's (its counters are the host's,
 * not a live process's), and the new process starts its own from zero. */
START_TEST(reused_pid_is_another_process)
{
    struct test_mfile *m;
    cin_metrics_view v;
    char *path = NULL;
    int fd;

    ck_assert_int_gt(asprintf(&path, "%s/reuse.metrics", F->dir), 0);
    ck_assert_int_eq(cin_metrics_open(path, NULL), CIN_OK);
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    ck_assert_ptr_ne(m, MAP_FAILED);
    /* a process that had this PID, started at the first tick after boot
     * (no test runs that early), counted 7 handshakes and died */
    m->s[0].v[CIN_M_HS_STORE] = 7;
    m->s[0].v[CIN_M_INDEX_GEN] = 99;
    m->s[0].start = 1;
    __atomic_store_n(&m->s[0].pid, (int32_t)getpid(), __ATOMIC_RELEASE);
    ck_assert_int_eq(cin_metrics_read(&v), CIN_OK);
    ck_assert_int_eq(v.nprocs, 0); /* not this process, and not alive */
    ck_assert_int_eq(v.host[CIN_M_HS_STORE], 7);
    cin_metrics_view_clear(&v);
    /* this process counts: its own slot, from zero; the host keeps the 7 */
    cin_metrics_add(CIN_M_HS_STORE, 2);
    ck_assert_int_eq(cin_metrics_read(&v), CIN_OK);
    ck_assert_int_eq(v.nprocs, 1);
    ck_assert_int_eq(v.procs[0].pid, getpid());
    ck_assert_int_eq(v.procs[0].v[CIN_M_HS_STORE], 2);
    ck_assert_int_eq(v.procs[0].v[CIN_M_INDEX_GEN], 0);
    ck_assert_int_eq(v.host[CIN_M_HS_STORE], 9);
    cin_metrics_view_clear(&v);
    munmap(m, sizeof(*m));
    cin_metrics_close();
    free(path);
}
END_TEST

START_TEST(allow_list_addresses_and_prefixes)
{
    const char *l = "127.0.0.1, 10.1.0.0/16 ::1 2001:db8::/32";

    ck_assert_int_eq(cin_metrics_addr_allowed(l, "127.0.0.1"), 1);
    ck_assert_int_eq(cin_metrics_addr_allowed(l, "127.0.0.2"), 0);
    ck_assert_int_eq(cin_metrics_addr_allowed(l, "10.1.200.3"), 1);
    ck_assert_int_eq(cin_metrics_addr_allowed(l, "10.2.0.1"), 0);
    ck_assert_int_eq(cin_metrics_addr_allowed(l, "::1"), 1);
    ck_assert_int_eq(cin_metrics_addr_allowed(l, "::ffff:127.0.0.1"), 1);
    ck_assert_int_eq(cin_metrics_addr_allowed(l, "2001:db8:1::5"), 1);
    ck_assert_int_eq(cin_metrics_addr_allowed(l, "2001:db9::5"), 0);
    ck_assert_int_eq(cin_metrics_addr_allowed(l, "not-an-address"), 0);
    ck_assert_int_eq(cin_metrics_addr_allowed(NULL, "127.0.0.1"), 0);
    ck_assert_int_eq(cin_metrics_addr_allowed("0.0.0.0/0", "192.0.2.7"), 1);
    ck_assert_int_eq(cin_metrics_allow_valid(l, NULL), CIN_OK);
    ck_assert_int_eq(cin_metrics_allow_valid("10.0.0.0/33", NULL), CIN_EINVAL);
    ck_assert_int_eq(cin_metrics_allow_valid("localhost", NULL), CIN_EINVAL);
    ck_assert_int_eq(cin_metrics_allow_valid("10.0.0.0/", NULL), CIN_EINVAL);
}
END_TEST

START_TEST(admins_see_their_account_others_refused)
{
    const char *hdr_none[] = {NULL};
    hresp r;

    order_new(F, U_ADMIN, "dv-ssl", "[\"example.com\"]");
    order_new(F, U_OTHER_ADMIN, "dv-ssl", "[\"other.org\"]");
    r = call(F, U_ADMIN, "GET", "/metrics", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.ctype, "text/plain; version=0.0.4"));
    ck_assert_double_eq(
        series(r.body, "certinext_orders{account=\"acme\",status=\"awaiting_payment\"}"), 1);
    /* the other account's orders are not in an acme administrator's view */
    ck_assert_ptr_null(strstr(r.body, "account=\"other\""));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE certinext_tls_handshakes_total counter"));
    ck_assert_ptr_nonnull(strstr(r.body, "certinext_issuance_seconds_bucket{le=\"+Inf\"}"));
    ck_assert_double_eq(series(r.body, "certinext_store_up"), 1);
    hresp_free(&r);
    r = call(F, U_STANDARD, "GET", "/metrics", NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(problem_code(&r), "forbidden");
    hresp_free(&r);
    r = call_from(F, -1, "127.0.0.1", "GET", "/metrics", NULL, hdr_none);
    ck_assert_int_eq(r.status, 401); /* no allow list in this core: none by default */
    ck_assert_str_eq(problem_code(&r), "unauthorized");
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/metrics", "{}", NULL);
    ck_assert_int_eq(r.status, 405);
    hresp_free(&r);
    /* the account's IP allowlist holds here too (the harness calls from 192.0.2.7) */
    r = call(F, U_ADMIN, "PATCH", "/api/v1/accounts/acme", "{\"ip_allowlist\":[\"10.9.0.0/16\"]}",
             NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/metrics", NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(problem_code(&r), "forbidden");
    hresp_free(&r);
    r = call_from(F, U_ADMIN, "10.9.1.1", "GET", "/metrics", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
}
END_TEST

/* The notification backlog: queued e-mails and webhook deliveries, by kind,
 * an administrator seeing only the own account's. */
START_TEST(notification_backlog_by_kind)
{
    hresp r;

    free(store_query(
        F, "INSERT INTO outbox(account_id, kind, recipient, body, event, state,"
           " next_at, created_at) VALUES"
           " (1, 'mail', 'a@example.com', 'b', 'order.issued', 'queued', 0, 0),"
           " (1, 'mail', 'a@example.com', 'b', 'order.issued', 'queued', 0, 0),"
           " (1, 'mail', 'a@example.com', 'b', 'order.issued', 'sent', 0, 0),"
           " (1, 'webhook', 'https://h.example/x', 'b', 'order.issued', 'queued', 0, 0),"
           " (2, 'webhook', 'https://h.example/y', 'b', 'order.issued', 'queued', 0, 0)"));
    r = call(F, U_ADMIN, "GET", "/metrics", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_double_eq(
        series(r.body, "certinext_notification_backlog{account=\"acme\",kind=\"mail\"}"), 2);
    ck_assert_double_eq(
        series(r.body, "certinext_notification_backlog{account=\"acme\",kind=\"webhook\"}"), 1);
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE certinext_notification_backlog gauge"));
    hresp_free(&r);
}
END_TEST

START_TEST(allowed_address_sees_every_account)
{
    cin_core_config cfg = {0};
    cin_core *allowing = NULL, *saved = F->core;
    char *err = NULL;
    hresp r;

    order_new(F, U_ADMIN, "dv-ssl", "[\"example.com\"]");
    order_new(F, U_OTHER_ADMIN, "dv-ssl", "[\"other.org\"]");
    cfg.store_path = F->path;
    cfg.key_file = F->key_path;
    cfg.state_dir = F->dir;
    cfg.load_kek = store_is_pg(F);
    cfg.metrics_allow = "192.0.2.0/24";
    ck_assert_int_eq(cin_core_create(&cfg, NULL, &allowing, &err), CIN_OK);
    F->core = allowing;
    r = call_from(F, -1, "192.0.2.9", "GET", "/metrics", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    /* every account's orders together, unlabelled */
    ck_assert_double_eq(series(r.body, "certinext_orders{status=\"awaiting_payment\"}"), 2);
    ck_assert_double_eq(series(r.body, "certinext_certificates_expiring{within_days=\"+Inf\"}"), 0);
    hresp_free(&r);
    r = call_from(F, -1, "198.51.100.1", "GET", "/metrics", NULL, NULL);
    ck_assert_int_eq(r.status, 401);
    hresp_free(&r);
    F->core = saved;
    cin_core_free(allowing);
}
END_TEST

START_TEST(handshake_and_issuance_counted)
{
    hresp r;
    char path[64];
    const char *id = order_new(F, U_ADMIN, "dv-ssl", "[\"example.com\"]");
    double before;

    r = call(F, U_ADMIN, "GET", "/metrics", NULL, NULL);
    before = series(r.body, "certinext_issuance_seconds_count");
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    r = call(F, U_ADMIN, "GET", "/metrics", NULL, NULL);
    ck_assert_double_eq(series(r.body, "certinext_issuance_seconds_count"), before + 1);
    ck_assert_double_eq(
        series(r.body, "certinext_certificates_expiring{account=\"acme\",within_days=\"+Inf\"}"),
        1);
    ck_assert_double_eq(
        series(r.body, "certinext_certificates_expiring{account=\"acme\",within_days=\"7\"}"), 0);
    hresp_free(&r);
}
END_TEST

/* A file another build wrote, with other counters (its slots elsewhere), is
 * moved aside (PATH.old, where that build's processes go on counting) and a
 * new one counts from zero: no counter read at another counter's place. */
START_TEST(file_of_another_layout_is_moved_aside)
{
    struct test_mfile *m;
    cin_metrics_view v;
    char *path = NULL, *old = NULL;
    struct stat sb;
    int fd;

    ck_assert_int_gt(asprintf(&path, "%s/layout.metrics", F->dir), 0);
    ck_assert_int_gt(asprintf(&old, "%s.old", path), 0);
    fd = open(path, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 4096), 0);
    m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    ck_assert_ptr_ne(m, MAP_FAILED);
    m->magic = 0x315254454d4e4943ULL; /* "CINMETR1" */
    m->nvalues = CIN_M_COUNT - 2;
    m->retired.v[CIN_M_HS_STORE] = 12345;
    munmap(m, sizeof(*m));
    ck_assert_int_eq(cin_metrics_open(path, NULL), CIN_OK);
    ck_assert_int_eq(stat(old, &sb), 0);
    ck_assert_int_eq(cin_metrics_read(&v), CIN_OK);
    ck_assert_int_eq(v.host[CIN_M_HS_STORE], 0);
    cin_metrics_view_clear(&v);
    cin_metrics_add(CIN_M_HS_STORE, 2);
    ck_assert_int_eq(cin_metrics_read(&v), CIN_OK);
    ck_assert_int_eq(v.host[CIN_M_HS_STORE], 2);
    cin_metrics_view_clear(&v);
    cin_metrics_close();
    /* opened again: this layout, kept */
    ck_assert_int_eq(cin_metrics_open(path, NULL), CIN_OK);
    ck_assert_int_eq(cin_metrics_read(&v), CIN_OK);
    ck_assert_int_eq(v.host[CIN_M_HS_STORE], 2);
    cin_metrics_view_clear(&v);
    cin_metrics_close();
    free(path);
    free(old);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, counters_shared_by_processes_and_summed_per_host);
    tcase_add_test(tc, reused_pid_is_another_process);
    tcase_add_test(tc, file_of_another_layout_is_moved_aside);
    tcase_add_test(tc, allow_list_addresses_and_prefixes);
    tcase_add_test(tc, admins_see_their_account_others_refused);
    tcase_add_test(tc, notification_backlog_by_kind);
    tcase_add_test(tc, allowed_address_sees_every_account);
    tcase_add_test(tc, handshake_and_issuance_counted);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
