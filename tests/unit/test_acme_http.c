/*
 * test_acme_http.c - the ACME connector's HTTP client (common/src/acme_http.c):
 * libcurl's implementation of acme_http_ops against a scripted HTTP server on
 * the loopback interface (a child process answering canned responses, so
 * that what libcurl parses is what a CA sends: several Link headers,
 * Retry-After as seconds and as an HTTP date), and what the connector reads
 * from an answer (Link rel="alternate", the bounded Retry-After).
 */
#include "../../common/src/acme_http.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cin_util.h"
#include "harness.h"

#define MAX_ANSWERS 8

static struct {
    pid_t pid;
    int port;
} SRV;

/* Read one request (headers and a Content-Length body) into buf. */
static size_t read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char *end = NULL;
    long body = 0;

    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            body = cl && cl < end ? strtol(cl + 17, NULL, 10) : 0;
        }
        if (end && len >= (size_t)(end + 4 - buf) + (size_t)body)
            break;
    }
    buf[len] = '\0';
    return len;
}

/* Serve the answers in turn, one connection each; "%REQUEST%" in an answer
 * is replaced by the request as received (to check what libcurl sent). */
static void serve(const char *const *answers)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1, i;

    ck_assert_int_ge(ls, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(ls, 8), 0);
    ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
    SRV.port = ntohs(a.sin_port);
    SRV.pid = fork();
    ck_assert_int_ge(SRV.pid, 0);
    if (SRV.pid > 0) {
        close(ls);
        return;
    }
    /* not Check's handler, which would take the whole test down with us */
    signal(SIGTERM, SIG_DFL);
    for (i = 0; answers[i]; i++) {
        char req[8192], *out, *at;
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            _exit(1);
        read_request(fd, req, sizeof(req));
        at = strstr(answers[i], "%REQUEST%");
        out = at ? cin_asprintf("%.*s%s%s", (int)(at - answers[i]), answers[i], req, at + 9)
                 : strdup(answers[i]);
        if (write(fd, out, strlen(out)) < 0)
            _exit(1);
        free(out);
        close(fd);
    }
    _exit(0);
}

static void serve_end(void)
{
    int status = 0;

    if (SRV.pid > 0) {
        kill(SRV.pid, SIGKILL); /* gone already when it served every answer */
        waitpid(SRV.pid, &status, 0);
    }
    SRV.pid = 0;
}

static void setup(void)
{
    /* the loopback server is reached directly, whatever proxy the host names */
    setenv("no_proxy", "*", 1);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
}

static int request(const char *method, const char *path, const char *const *headers,
                   const char *body, acme_http_resp *h, char *err, size_t errlen)
{
    void *client = acme_http_curl.open(NULL);
    char url[128];
    int rc;

    ck_assert_ptr_nonnull(client);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", SRV.port, path);
    rc = acme_http_curl.request(client, method, url, headers, body, h, err, errlen);
    acme_http_curl.close(client);
    return rc;
}

START_TEST(curl_reads_the_headers_the_client_needs)
{
    static const char *const answers[] = {
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        "Location: https://ca.test/order/1\r\nReplay-Nonce: abc_DEF-1\r\n"
        "Link: <https://ca.test/dir>;rel=\"index\"\r\n"
        "Link: <https://ca.test/cert/1/1>;rel=\"alternate\"\r\n"
        "Link: <https://ca.test/cert/1/2>; rel=alternate\r\n"
        "Retry-After: 42\r\nContent-Length: 15\r\nConnection: close\r\n\r\n"
        "{\"status\":\"ok\"}",
        NULL};
    char err[256] = "", *urls[ACME_MAX_LINKS];
    acme_http_resp h;
    json_t *j;
    int n;

    serve(answers);
    ck_assert_int_eq(request("GET", "/dir", NULL, NULL, &h, err, sizeof(err)), CIN_OK);
    serve_end();
    ck_assert_int_eq(h.status, 201);
    ck_assert_str_eq(h.location, "https://ca.test/order/1");
    ck_assert_str_eq(h.nonce, "abc_DEF-1");
    ck_assert_str_eq(h.ctype, "application/json");
    ck_assert_int_eq(h.retry_after, 42);
    ck_assert_int_eq(h.nlinks, 3);
    ck_assert_str_eq(h.links[0], "<https://ca.test/dir>;rel=\"index\"");
    n = acme_resp_alternates(&h, urls, ACME_MAX_LINKS);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(urls[0], "https://ca.test/cert/1/1");
    ck_assert_str_eq(urls[1], "https://ca.test/cert/1/2");
    free(urls[0]);
    free(urls[1]);
    j = acme_resp_json(&h);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    acme_resp_clear(&h);
}
END_TEST

START_TEST(curl_reads_retry_after_as_a_date)
{
    static char answer[512];
    static const char *answers[] = {answer, NULL};
    char date[64], err[256] = "";
    time_t later = time(NULL) + 3600;
    acme_http_resp h;

    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
    snprintf(answer, sizeof(answer),
             "HTTP/1.1 503 Service Unavailable\r\nRetry-After: %s\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             date);
    serve(answers);
    ck_assert_int_eq(request("POST", "/order", NULL, "{}", &h, err, sizeof(err)), CIN_OK);
    serve_end();
    ck_assert_int_eq(h.status, 503);
    ck_assert_msg(h.retry_after > 3590 && h.retry_after <= 3600, "retry_after %lld", h.retry_after);
    ck_assert_int_ge(acme_retry_after(&h, 0), 3590);
    ck_assert_ptr_null(h.body);
    acme_resp_clear(&h);
}
END_TEST

START_TEST(curl_sends_method_headers_and_body)
{
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n%REQUEST%",
        "HTTP/1.1 200 OK\r\nReplay-Nonce: n2\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
        "ignored",
        NULL};
    const char *const headers[] = {"Content-Type: application/jose+json",
                                   "Accept: application/pem-certificate-chain", NULL};
    char err[256] = "";
    acme_http_resp h;

    serve(answers);
    ck_assert_int_eq(request("POST", "/cert/1", headers, "{\"x\":1}", &h, err, sizeof(err)),
                     CIN_OK);
    ck_assert_ptr_nonnull(h.body);
    ck_assert_ptr_nonnull(strstr(h.body, "POST /cert/1 HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(h.body, "\r\nContent-Type: application/jose+json\r\n"));
    ck_assert_ptr_nonnull(strstr(h.body, "\r\nAccept: application/pem-certificate-chain\r\n"));
    ck_assert_ptr_nonnull(strstr(h.body, "\r\n\r\n{\"x\":1}"));
    ck_assert_int_eq(h.retry_after, 0); /* not said */
    ck_assert_ptr_null(h.nonce);
    acme_resp_clear(&h);
    /* HEAD: headers only */
    ck_assert_int_eq(request("HEAD", "/nonce", NULL, NULL, &h, err, sizeof(err)), CIN_OK);
    serve_end();
    ck_assert_str_eq(h.nonce, "n2");
    ck_assert_ptr_null(h.body);
    acme_resp_clear(&h);
}
END_TEST

START_TEST(curl_unreachable_says_why)
{
    char err[256] = "";
    acme_http_resp h;

    SRV.port = 1; /* nothing listens there */
    ck_assert_int_eq(request("GET", "/dir", NULL, NULL, &h, err, sizeof(err)), CIN_EIO);
    ck_assert_int_eq(h.status, 0);
    ck_assert_ptr_null(h.body);
    ck_assert_msg(err[0] != '\0', "no reason given");
}
END_TEST

START_TEST(link_alternates)
{
    acme_http_resp h;
    char *urls[ACME_MAX_LINKS];
    int n, i;

    memset(&h, 0, sizeof(h));
    h.links[h.nlinks++] = strdup("<https://a/1>;rel=\"alternate\", <https://a/up>;rel=\"up\"");
    h.links[h.nlinks++] = strdup("<https://a/2>; title=\"x, y; z\"; REL=\"index alternate\"");
    h.links[h.nlinks++] = strdup("<https://a/3>; rel=\"alternates\"");
    h.links[h.nlinks++] = strdup("<https://a/4>; rel=\"alternate"); /* no closing quote */
    h.links[h.nlinks++] = strdup("<https://a/5 ; rel=alternate");   /* no closing bracket */
    h.links[h.nlinks++] = strdup("garbage, <>;rel=alternate, <https://a/6>;rel=alternate");
    h.links[h.nlinks++] = strdup("<https://a/7>; title=\"a;rel=alternate\"; rel=up");
    n = acme_resp_alternates(&h, urls, ACME_MAX_LINKS);
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(urls[0], "https://a/1");
    ck_assert_str_eq(urls[1], "https://a/2");
    ck_assert_str_eq(urls[2], "https://a/4");
    ck_assert_str_eq(urls[3], "https://a/6");
    for (i = 0; i < n; i++)
        free(urls[i]);
    /* never more than asked for */
    ck_assert_int_eq(acme_resp_alternates(&h, urls, 1), 1);
    free(urls[0]);
    acme_resp_clear(&h);
}
END_TEST

START_TEST(retry_after_bounds)
{
    acme_http_resp h;

    memset(&h, 0, sizeof(h));
    ck_assert_int_eq(acme_retry_after(&h, 0), 0);
    ck_assert_int_eq(acme_retry_after(&h, 5), 5);
    h.retry_after = -1;
    ck_assert_int_eq(acme_retry_after(&h, 5), 1);
    h.retry_after = 1;
    ck_assert_int_eq(acme_retry_after(&h, 5), 1);
    h.retry_after = ACME_RETRY_AFTER_MAX;
    ck_assert_int_eq(acme_retry_after(&h, 5), ACME_RETRY_AFTER_MAX);
    h.retry_after = 1LL << 40;
    ck_assert_int_eq(acme_retry_after(&h, 5), ACME_RETRY_AFTER_MAX);
}
END_TEST

START_TEST(problem_type)
{
    acme_http_resp h;
    char buf[64];

    memset(&h, 0, sizeof(h));
    ck_assert_str_eq(acme_resp_problem(&h, buf, sizeof(buf)), "");
    h.body = strdup("{\"type\":\"urn:ietf:params:acme:error:badNonce\"}");
    h.len = strlen(h.body);
    ck_assert_str_eq(acme_resp_problem(&h, buf, sizeof(buf)), "badNonce");
    free(h.body);
    h.body = strdup("{\"type\":\"urn:certinext:error:badNonce\"}");
    h.len = strlen(h.body);
    ck_assert_str_eq(acme_resp_problem(&h, buf, sizeof(buf)), "");
    acme_resp_clear(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("acme_http");
    TCase *tc = tcase_create("acme_http");

    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, curl_reads_the_headers_the_client_needs);
    tcase_add_test(tc, curl_reads_retry_after_as_a_date);
    tcase_add_test(tc, curl_sends_method_headers_and_body);
    tcase_add_test(tc, curl_unreachable_says_why);
    tcase_add_test(tc, link_alternates);
    tcase_add_test(tc, retry_after_bounds);
    tcase_add_test(tc, problem_type);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
