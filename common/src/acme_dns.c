/*
 * acme_dns.c - dns-01 (RFC 8555 8.4): the TXT record published, checked, removed.
 *
 * Two ways to publish _acme-challenge.NAME:
 *   - RFC 2136 dynamic updates signed with TSIG (RFC 8945) to the CA
 *     configuration's dns_update server; the zone is the owner of the SOA
 *     that server gives for the record's name; the TSIG secret is sealed in
 *     the store (cas.tsig_secret) and read only here;
 *   - a hook program, named only in root-owned configuration (the server's
 *     configuration file or `certinext agent --dns-hook`), never in the store
 *     that the worker user can write: root-owned, not writable by group or
 *     other, run (by a forked watcher, see hook_run) as "HOOK add|remove NAME VALUE" with an empty
 *     environment, stdin and stdout on /dev/null, every other descriptor
 *     closed, at most ACME_DNS_HOOK_TIMEOUT seconds.  Its exit status and
 *     stderr (cut to 1 KiB) go into the order's error, under the problem's
 *     "dns_hook" member, which the API shows to administrators only.
 *
 * The CA is told to look only once the record is visible: at the resolver
 * of `certinext settings set dns-resolver HOST:PORT`, else at every
 * authoritative server of the zone.  Each published record is remembered in
 * the challenge table (kind "dns"), so that it is removed when the order is
 * issued, fails or is cleaned up, even by another agent.
 *
 * DNS messages are made and read by Debian's libldns: RFC 2136 packets, TSIG
 * signing and checking of the answer's signature are in it already, and a
 * hand-written DNS wire codec would be new attack surface in the agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <openssl/evp.h>

#include "acme_int.h"
#include "cin_crypto.h"
#include "cin_store_order.h"
#include "cin_util.h"

#define ACME_DNS_TTL          60
#define ACME_DNS_HOOK_TIMEOUT 120  /* seconds */
#define ACME_DNS_STDERR_MAX   1024 /* bytes of the hook's stderr kept */
#define ACME_DNS_RECHECK      3    /* seconds until the record is looked for again */
#define ACME_CHALLENGE_KEEP   (7 * 86400)
#define CLAIM_LOOKUP_BUDGET   5 /* seconds for a domain claim's look-up, in all */
#define CLAIM_LOOKUPS_MAX     2 /* claim look-ups at once, per process */

static char dns_hook[4096]; /* set once at startup, from root-owned configuration */

/* ---- the hook ---------------------------------------------------------------- */

int cin_dns_hook_check(const char *path, char **err)
{
    struct stat sb;

    if (!path || path[0] != '/') {
        cin_seterr(err, "the DNS hook must be an absolute path");
        return CIN_EINVAL;
    }
    if (strlen(path) >= sizeof(dns_hook)) {
        cin_seterr(err, "the DNS hook's path is too long");
        return CIN_EINVAL;
    }
    if (stat(path, &sb) != 0) {
        cin_seterr(err, "the DNS hook %s cannot be used: %s", path, strerror(errno));
        return CIN_EINVAL;
    }
    if (!S_ISREG(sb.st_mode) || !(sb.st_mode & S_IXUSR)) {
        cin_seterr(err, "the DNS hook %s is not an executable file", path);
        return CIN_EINVAL;
    }
    if (sb.st_uid != 0 || (sb.st_mode & (S_IWGRP | S_IWOTH))) {
        cin_seterr(err,
                   "the DNS hook %s must belong to root and not be writable by group or "
                   "other (it runs with the agent's rights)",
                   path);
        return CIN_EPERM;
    }
    return CIN_OK;
}

int cin_dns_hook_set(const char *path, char **err)
{
    int rc = path ? cin_dns_hook_check(path, err) : CIN_OK;

    if (rc == CIN_OK)
        snprintf(dns_hook, sizeof(dns_hook), "%s", path ? path : "");
    return rc;
}

const char *cin_dns_hook(void)
{
    return dns_hook[0] ? dns_hook : NULL;
}

/* Read what the child writes to fd until it closes it or the deadline. */
static size_t read_until(int fd, char *buf, size_t max, time_t deadline)
{
    size_t n = 0;
    char sink[512];

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        long left = (long)(deadline - time(NULL));
        ssize_t got;
        if (left <= 0 || poll(&p, 1, (int)(left * 1000)) <= 0)
            break;
        got = n < max ? read(fd, buf + n, max - n) : read(fd, sink, sizeof(sink));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (n < max)
            n += (size_t)got;
    }
    return n;
}

/* What the intermediate process reports through the status pipe. */
struct hook_status {
    int killed; /* killed at the timeout */
    int wst;    /* waitpid status of the hook */
};

/* The hook itself, in the grandchild: only async-signal-safe calls, since
 * the process it was forked from may have other threads. */
static void hook_exec(char *const argv[], char *const envp[], int errfd)
{
    struct sigaction dfl;
    sigset_t none;
    int sig, fd;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    fd = open("/dev/null", O_RDWR);
    if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(errfd, 2) < 0)
        _exit(127);
    closefrom(3);
    execve(argv[0], argv, envp);
    _exit(127);
}

/* The intermediate process: runs the hook, waits for it (its own child: no
 * SIGCHLD handler of the server can take it), kills it at the deadline and
 * reports how it ended through statfd.  Async-signal-safe calls only. */
static void hook_watch(char *const argv[], char *const envp[], int errfd, int statfd,
                       time_t deadline)
{
    struct sigaction dfl;
    struct hook_status hs = {0, 0};
    struct timespec tick = {0, 20000000};
    pid_t pid;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL); /* never SIG_IGN: that would reap the hook */
    pid = fork();
    if (pid < 0)
        _exit(126);
    if (pid == 0) {
        close(statfd);
        hook_exec(argv, envp, errfd);
    }
    close(errfd);
    for (;;) {
        pid_t w = waitpid(pid, &hs.wst, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            _exit(125);
        if (time(NULL) >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &hs.wst, 0);
            hs.killed = 1;
            break;
        }
        nanosleep(&tick, NULL);
    }
    if (write(statfd, &hs, sizeof(hs)) != (ssize_t)sizeof(hs))
        _exit(124);
    _exit(0);
}

/*
 * Run the hook: "add" or "remove" NAME VALUE.  CIN_OK when it exited 0, else
 * CIN_ERR with *status (the exit status, -1 killed at the timeout or not
 * started) and its stderr in errbuf.
 *
 * The hook is a grandchild: an intermediate process forks it, waits for it
 * and sends its status through a pipe.  Inside nginx, the master's or a
 * worker's SIGCHLD handler reaps any child of the process (waitpid(-1)), so
 * the status of a direct child could be lost; the grandchild is the
 * intermediate's alone, and the pipe carries its status whoever reaps the
 * intermediate.
 */
static int hook_run(const char *verb, const char *name, const char *value, int *status,
                    char *errbuf, size_t errlen)
{
    char *argv[] = {dns_hook, (char *)verb, (char *)name, (char *)value, NULL};
    char *envp[] = {NULL};
    struct hook_status hs;
    int fds[2], sfd[2], wst;
    time_t deadline = time(NULL) + ACME_DNS_HOOK_TIMEOUT;
    pid_t pid;
    size_t n, got;

    *status = -1;
    errbuf[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(errbuf, errlen, "no pipe: %s", strerror(errno));
        return CIN_ERR;
    }
    if (pipe2(sfd, O_CLOEXEC) != 0) {
        snprintf(errbuf, errlen, "no pipe: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return CIN_ERR;
    }
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        close(sfd[0]);
        hook_watch(argv, envp, fds[1], sfd[1], deadline);
    }
    close(fds[1]);
    close(sfd[1]);
    if (pid < 0) {
        close(fds[0]);
        close(sfd[0]);
        snprintf(errbuf, errlen, "cannot be started: %s", strerror(errno));
        return CIN_ERR;
    }
    n = read_until(fds[0], errbuf, errlen - 1, deadline);
    errbuf[n] = '\0';
    close(fds[0]);
    /* the intermediate reports within a moment of the deadline at worst */
    got = read_until(sfd[0], (char *)&hs, sizeof(hs), deadline + 10);
    close(sfd[0]);
    waitpid(pid, &wst, 0); /* unless the server's handler took it: no matter */
    if (got != sizeof(hs)) {
        snprintf(errbuf + n, errlen - n, "%s(no status from the hook's watcher)", n ? "\n" : "");
        return CIN_ERR;
    }
    if (hs.killed) {
        snprintf(errbuf + n, errlen - n, "%s(killed after %d s)", n ? "\n" : "",
                 ACME_DNS_HOOK_TIMEOUT);
        return CIN_ERR;
    }
    *status = WIFEXITED(hs.wst) ? WEXITSTATUS(hs.wst) : -1;
    return *status == 0 ? CIN_OK : CIN_ERR;
}

/* ---- DNS: resolvers, zone, update -------------------------------------------- */

/* A resolver asking exactly HOST:PORT (an address), recursion as asked. */
static ldns_resolver *resolver_at(const char *hostport, int recursive, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    long port = 53;
    ldns_resolver *res;
    ldns_rdf *ns;
    struct timeval tv = {4, 0};

    if (colon && strchr(hostport, ':') == colon) { /* one colon: HOST:PORT */
        port = strtol(colon + 1, NULL, 10);
        snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
    } else {
        snprintf(host, sizeof(host), "%s", hostport);
    }
    if (host[0] == '[') { /* [v6]:port */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, host);
    if (!ns)
        ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, host);
    if (!ns || port <= 0 || port > 65535) {
        ldns_rdf_free(ns);
        snprintf(err, errlen, "%s is no IP address and port", hostport);
        return NULL;
    }
    res = ldns_resolver_new();
    if (res && ldns_resolver_push_nameserver(res, ns) != LDNS_STATUS_OK) {
        ldns_resolver_deep_free(res);
        res = NULL;
    }
    ldns_rdf_deep_free(ns);
    if (!res) {
        snprintf(err, errlen, "no resolver for %s", hostport);
        return NULL;
    }
    ldns_resolver_set_port(res, (uint16_t)port);
    ldns_resolver_set_recursive(res, recursive != 0);
    ldns_resolver_set_timeout(res, tv);
    ldns_resolver_set_retry(res, 2);
    ldns_resolver_set_random(res, false);
    return res;
}

/* The system's resolver (/etc/resolv.conf). */
static ldns_resolver *resolver_system(char *err, size_t errlen)
{
    ldns_resolver *res = NULL;

    if (ldns_resolver_new_frm_file(&res, NULL) != LDNS_STATUS_OK) {
        snprintf(err, errlen, "the system's resolver cannot be used");
        return NULL;
    }
    return res;
}

/* The zone that holds name: the owner of the SOA in the answer or the
 * authority section of a SOA query for it (malloc'd, with a final dot). */
static char *zone_of(ldns_resolver *res, const char *name, char *err, size_t errlen)
{
    ldns_rdf *d = ldns_dname_new_frm_str(name);
    ldns_pkt *p =
        d ? ldns_resolver_query(res, d, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, LDNS_RD) : NULL;
    ldns_rr_list *soa = NULL;
    char *zone = NULL;

    if (p) {
        soa = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_SOA, LDNS_SECTION_ANSWER);
        if (!soa)
            soa = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_SOA, LDNS_SECTION_AUTHORITY);
    }
    if (soa && ldns_rr_list_rr_count(soa) > 0)
        zone = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(soa, 0)));
    if (!zone)
        snprintf(err, errlen, "no zone (SOA) found for %s%s", name,
                 p ? "" : ": the DNS server did not answer");
    ldns_rr_list_deep_free(soa);
    ldns_pkt_free(p);
    ldns_rdf_deep_free(d);
    return zone;
}

static const char *rcode_name(int rcode)
{
    ldns_lookup_table *t = ldns_lookup_by_id(ldns_rcodes, rcode);

    return t && t->name ? t->name : "?";
}

/*
 * One RFC 2136 update of zone at the CA's server, signed with its TSIG key:
 * add (or, remove != 0, delete) the TXT record name = value.  CIN_OK, or
 * CIN_EPERM (the server refused: TSIG, policy) / CIN_EIO (no answer) with a
 * sentence in err.
 */
static int dns_update(const cin_ca_config *cfg, const char *secret, const char *name,
                      const char *value, int remove, char *err, size_t errlen)
{
    ldns_resolver *res = resolver_at(cfg->dns_update, 0, err, errlen);
    ldns_rr_list *up = ldns_rr_list_new();
    ldns_pkt *q = NULL, *answer = NULL;
    ldns_rdf *zone_rdf = NULL;
    ldns_rr *rr = NULL;
    ldns_status s;
    char *zone = NULL, *line = NULL;
    int rc = CIN_EIO;

    if (!res || !up)
        goto done;
    if (!(zone = zone_of(res, name, err, errlen)))
        goto done;
    line = cin_asprintf("%s. %d IN TXT \"%s\"", name, ACME_DNS_TTL, value);
    if (!line || ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) != LDNS_STATUS_OK) {
        snprintf(err, errlen, "no TXT record can be made for %s", name);
        goto done;
    }
    if (remove) { /* RFC 2136 2.5.4: this one record, class NONE, TTL 0 */
        ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
        ldns_rr_set_ttl(rr, 0);
    }
    ldns_rr_list_push_rr(up, rr);
    rr = NULL;
    zone_rdf = ldns_dname_new_frm_str(zone);
    q = zone_rdf ? ldns_update_pkt_new(zone_rdf, LDNS_RR_CLASS_IN, NULL, up, NULL) : NULL;
    zone_rdf = NULL; /* the packet owns it */
    if (!q) {
        snprintf(err, errlen, "no update message can be made for zone %s", zone);
        goto done;
    }
    ldns_pkt_set_random_id(q);
    if (cfg->tsig_name && secret) {
        ldns_resolver_set_tsig_keyname(res, cfg->tsig_name);
        ldns_resolver_set_tsig_algorithm(res, cfg->tsig_alg ? cfg->tsig_alg : "hmac-sha256.");
        ldns_resolver_set_tsig_keydata(res, secret);
        if (ldns_update_pkt_tsig_add(q, res) != LDNS_STATUS_OK) {
            snprintf(err, errlen, "the update cannot be signed with TSIG key %s", cfg->tsig_name);
            goto done;
        }
    }
    s = ldns_resolver_send_pkt(&answer, res, q);
    if (s == LDNS_STATUS_CRYPTO_TSIG_BOGUS || s == LDNS_STATUS_CRYPTO_TSIG_ERR) {
        rc = CIN_EPERM;
        snprintf(err, errlen,
                 "the DNS server %s refused the TSIG key %s (wrong name, algorithm or secret)",
                 cfg->dns_update, cfg->tsig_name ? cfg->tsig_name : "(none)");
    } else if (s != LDNS_STATUS_OK || !answer) {
        snprintf(err, errlen, "the DNS server %s did not answer the update of zone %s (%s)",
                 cfg->dns_update, zone, ldns_get_errorstr_by_id(s));
    } else if (ldns_pkt_get_rcode(answer) != LDNS_RCODE_NOERROR) {
        int code = ldns_pkt_get_rcode(answer);
        rc = CIN_EPERM;
        snprintf(err, errlen, "the DNS server %s refused the update of zone %s: %s%s",
                 cfg->dns_update, zone, rcode_name(code),
                 code == LDNS_RCODE_NOTAUTH ? " (the TSIG key is wrong or not allowed to update)"
                                            : "");
    } else {
        rc = CIN_OK;
    }
done:
    ldns_pkt_free(q);
    ldns_pkt_free(answer);
    ldns_rr_free(rr);
    ldns_rr_list_deep_free(up);
    ldns_resolver_deep_free(res);
    free(zone);
    free(line);
    return rc;
}

/* Does the server res asks have TXT name = value? */
/* A look-up with a deadline (0: none): each query waits at most
 * DNS_QUERY_WAIT seconds, once, and none starts past the deadline. */
#define DNS_QUERY_WAIT 2

static int budget(ldns_resolver *res, time_t deadline)
{
    long left = deadline ? (long)(deadline - time(NULL)) : DNS_QUERY_WAIT;
    struct timeval tv = {left < DNS_QUERY_WAIT ? left : DNS_QUERY_WAIT, 0};

    if (!deadline)
        return 1;
    if (left <= 0)
        return 0;
    ldns_resolver_set_timeout(res, tv);
    ldns_resolver_set_retry(res, 1);
    return 1;
}

/* 1 when name has the TXT value, 0 not, -1 no answer. */
static int has_txt(ldns_resolver *res, const char *name, const char *value, int rd)
{
    ldns_rdf *d = ldns_dname_new_frm_str(name);
    ldns_pkt *p =
        d ? ldns_resolver_query(res, d, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, rd ? LDNS_RD : 0)
          : NULL;
    ldns_rr_list *txt =
        p ? ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_TXT, LDNS_SECTION_ANSWER) : NULL;
    char *want = cin_asprintf("\"%s\"", value);
    size_t i;
    int found = 0;

    for (i = 0; want && txt && i < ldns_rr_list_rr_count(txt) && !found; i++) {
        char *s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(txt, i), 0));
        found = s && !strcmp(s, want);
        free(s);
    }
    free(want);
    ldns_rr_list_deep_free(txt);
    if (!p && d)
        found = -1; /* no answer at all */
    ldns_pkt_free(p);
    ldns_rdf_deep_free(d);
    return found;
}

/* Is name = value visible where the CA will look?  1 yes, 0 not yet, -1 no
 * way to tell (err says why). */
static int dns_visible(cin_store *st, const char *name, const char *value, time_t deadline,
                       char *err, size_t errlen)
{
    char *at = NULL, *zone = NULL;
    ldns_resolver *res = NULL;
    ldns_rr_list *ns = NULL;
    ldns_pkt *p = NULL;
    ldns_rdf *d = NULL;
    size_t i;
    int seen = -1;

    if (cin_store_setting_get(st, "dns_resolver", &at) == CIN_OK && at && *at) {
        res = resolver_at(at, 1, err, errlen);
        seen = res && budget(res, deadline) ? has_txt(res, name, value, 1) : -1;
        if (res && seen < 0)
            snprintf(err, errlen, "no answer from %s", at);
        goto done;
    }
    /* every authoritative server of the zone */
    if (!(res = resolver_system(err, errlen)) || !budget(res, deadline) ||
        !(zone = zone_of(res, name, err, errlen)))
        goto done;
    d = ldns_dname_new_frm_str(zone);
    p = d && budget(res, deadline)
            ? ldns_resolver_query(res, d, LDNS_RR_TYPE_NS, LDNS_RR_CLASS_IN, LDNS_RD)
            : NULL;
    ns = p ? ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_NS, LDNS_SECTION_ANSWER) : NULL;
    if (!ns || !ldns_rr_list_rr_count(ns)) {
        snprintf(err, errlen, "zone %s names no authoritative servers", zone);
        goto done;
    }
    seen = 1;
    for (i = 0; seen == 1 && i < ldns_rr_list_rr_count(ns); i++) {
        ldns_rr_list *addrs =
            budget(res, deadline)
                ? ldns_get_rr_list_addr_by_name(res, ldns_rr_rdf(ldns_rr_list_rr(ns, i), 0),
                                                LDNS_RR_CLASS_IN, LDNS_RD)
                : NULL;
        ldns_resolver *auth = ldns_resolver_new();
        size_t k;
        for (k = 0; auth && addrs && k < ldns_rr_list_rr_count(addrs); k++)
            ldns_resolver_push_nameserver(auth, ldns_rr_rdf(ldns_rr_list_rr(addrs, k), 0));
        if (!auth || !ldns_resolver_nameserver_count(auth) || !budget(auth, deadline) ||
            has_txt(auth, name, value, 0) != 1)
            seen = 0;
        ldns_resolver_deep_free(auth);
        ldns_rr_list_deep_free(addrs);
    }
    if (deadline && time(NULL) >= deadline && seen != 1) {
        snprintf(err, errlen, "no answer within %ld s", (long)CLAIM_LOOKUP_BUDGET);
        seen = -1;
    }
done:
    ldns_rr_list_deep_free(ns);
    ldns_pkt_free(p);
    ldns_rdf_deep_free(d);
    ldns_resolver_deep_free(res);
    free(zone);
    free(at);
    return seen;
}

/* ---- publish / remove ---------------------------------------------------------- */

/* FAILED with the hook's exit status and stderr, for administrators' eyes. */
static void hook_failed(cin_ca_result *r, const char *verb, const char *name, int status,
                        const char *stderr_text)
{
    json_t *extra = json_pack("{s:{s:s, s:i, s:s}}", "dns_hook", "action", verb, "exit", status,
                              "stderr", stderr_text);

    acme_failed(r, 400, "ca_error", "The DNS hook failed",
                "the DNS hook failed to %s the TXT record %s (exit status %d)", verb, name, status);
    free(r->problem.extra_json);
    r->problem.extra_json = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    json_decref(extra);
}

/* add or remove name = value, the CA configuration's way.  CIN_OK, or
 * CIN_ERR with r filled. */
static int publish(cin_store *st, const cin_ca_config *cfg, int remove, const char *name,
                   const char *value, cin_ca_result *r)
{
    char err[ACME_DNS_STDERR_MAX + 64];
    const char *verb = remove ? "remove" : "add";
    int rc, status;

    if (cfg->dns_update) {
        char *secret = NULL;
        if (cfg->tsig_name &&
            cin_store_ca_get_secret(st, cfg->name, "tsig_secret", &secret) != CIN_OK) {
            acme_transient(r, 5, "the TSIG secret cannot be read from the store");
            return CIN_ERR;
        }
        rc = dns_update(cfg, secret, name, value, remove, err, sizeof(err));
        if (secret)
            cin_free_secret(secret, strlen(secret));
        if (rc == CIN_EPERM)
            acme_failed(r, 400, "ca_error", "The DNS server refused the update", "%s", err);
        else if (rc != CIN_OK)
            acme_transient(r, 0, "%s", err);
        return rc == CIN_OK ? CIN_OK : CIN_ERR;
    }
    if (!cin_dns_hook()) {
        acme_failed(r, 400, "ca_error", "No way to publish the DNS record",
                    "CA %s answers dns-01, but it has no --dns-update server and no DNS hook "
                    "is configured (certinext_dns_hook / CertInextDNSHook / certinext agent "
                    "--dns-hook)",
                    cfg->name);
        return CIN_ERR;
    }
    /* checked again now: the file may have changed since startup */
    if (cin_dns_hook_check(dns_hook, NULL) != CIN_OK) {
        acme_failed(r, 400, "ca_error", "The DNS hook may not run",
                    "the DNS hook %s is no longer root-owned and protected", dns_hook);
        return CIN_ERR;
    }
    rc = hook_run(verb, name, value, &status, err, ACME_DNS_STDERR_MAX + 1);
    if (rc != CIN_OK) {
        hook_failed(r, verb, name, status, err);
        return CIN_ERR;
    }
    return CIN_OK;
}

/* base64url(SHA-256(key authorization)): the TXT value (RFC 8555 8.4). */
static char *txt_value(const char *keyauth)
{
    unsigned char d[32];

    if (!EVP_Digest(keyauth, strlen(keyauth), d, NULL, EVP_sha256(), NULL))
        return NULL;
    return cin_b64url_encode(d, sizeof(d));
}

int acme_dns_answer(acme *a, const cin_order *o, const char *ident, const char *token,
                    const char *keyauth, cin_ca_result *r)
{
    char *name = cin_asprintf("_acme-challenge.%s", ident), *value = txt_value(keyauth);
    char err[256];
    json_t *row = NULL;
    char *content = NULL;
    int rc = CIN_ENOMEM, seen;
    time_t now = cin_now(cin_store_services(a->st));

    if (!name || !value || !(row = json_pack("{s:s, s:s}", "name", name, "value", value)) ||
        !(content = json_dumps(row, JSON_COMPACT))) {
        acme_transient(r, 5, "out of memory");
        goto done;
    }
    /* already visible (an earlier pass published it): the CA may look */
    seen = dns_visible(a->st, name, value, 0, err, sizeof(err));
    if (seen == 1) {
        rc = CIN_OK;
        goto done;
    }
    /* remembered first, so that it is removed whatever happens next */
    rc = cin_store_begin(a->st);
    if (rc == CIN_OK) {
        rc =
            cin_store_challenge_put(a->st, "dns", token, content, o->id, now + ACME_CHALLENGE_KEEP);
        rc = cin_store_end(a->st, rc);
    }
    if (rc != CIN_OK) {
        acme_transient(r, 5, "the DNS record cannot be remembered (%s)", cin_strstatus(rc));
        goto done;
    }
    if ((rc = publish(a->st, &a->cfg, 0, name, value, r)) != CIN_OK)
        goto done;
    seen = dns_visible(a->st, name, value, 0, err, sizeof(err));
    if (seen == 1) {
        rc = CIN_OK;
    } else if (seen < 0) {
        acme_transient(r, ACME_DNS_RECHECK, "the TXT record %s cannot be looked up: %s", name, err);
        rc = CIN_ERR;
    } else {
        acme_pending(r, ACME_DNS_RECHECK); /* published, not visible yet */
        rc = CIN_EBUSY;
    }
done:
    json_decref(row);
    free(content);
    free(name);
    free(value);
    return rc;
}

void acme_dns_cleanup(cin_store *st, const char *ca, int64_t order_id)
{
    cin_ca_config cfg;
    char **rows = NULL;
    size_t n = 0, i;

    if (cin_store_challenge_list_order(st, "dns", order_id, &rows, &n) != CIN_OK || n == 0) {
        free(rows);
        return;
    }
    if (cin_store_ca_get(st, ca, &cfg) == CIN_OK) {
        for (i = 0; i < n; i++) {
            json_t *j = json_loads(rows[i], 0, NULL);
            const char *name = json_string_value(json_object_get(j, "name"));
            const char *value = json_string_value(json_object_get(j, "value"));
            cin_ca_result r;
            memset(&r, 0, sizeof(r));
            if (name && value) /* best effort: a stale TXT record harms nothing */
                publish(st, &cfg, 1, name, value, &r);
            cin_ca_result_clear(&r);
            json_decref(j);
        }
        cin_ca_config_clear(&cfg);
    }
    for (i = 0; i < n; i++)
        free(rows[i]);
    free(rows);
}

/* ---- TSIG key files ------------------------------------------------------------ */

static int tsig_alg_known(const char *a)
{
    static const char *const known[] = {"hmac-md5",    "hmac-sha1",   "hmac-sha224",
                                        "hmac-sha256", "hmac-sha384", "hmac-sha512"};
    size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(a, known[i]))
            return 1;
    return 0;
}

int cin_tsig_key_parse(const char *text, char **name, char **alg, char **secret, char **err)
{
    char *copy = cin_strdup(text), *tok, *save = NULL, *prev = NULL;
    char *n = NULL, *a = NULL, *s = NULL, *p;
    ldns_rdf *b64;
    int rc = CIN_EINVAL;

    *name = *alg = *secret = NULL;
    if (!copy)
        return CIN_ENOMEM;
    for (p = copy; *p; p++) /* BIND: key "n" { algorithm a; secret "s"; };  Knot: YAML */
        if (strchr("{};\":\t\r\n", *p))
            *p = ' ';
    for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (!strcmp(tok, "-")) /* a YAML list item */
            continue;
        if (prev && !strcmp(prev, "key") && !strcmp(tok, "id")) { /* YAML: key: - id: NAME */
            prev = tok;
            continue;
        }
        if (prev && (!strcmp(prev, "key") || !strcmp(prev, "id")) && !n)
            n = tok;
        else if (prev && !strcmp(prev, "algorithm") && !a)
            a = tok;
        else if (prev && !strcmp(prev, "secret") && !s)
            s = tok;
        prev = tok;
    }
    if (!n || !a || !s) {
        cin_seterr(err, "no TSIG key (name, algorithm and secret) in the key file");
        goto done;
    }
    if (a[strlen(a) - 1] == '.')
        a[strlen(a) - 1] = '\0';
    if (!tsig_alg_known(a)) {
        cin_seterr(err,
                   "TSIG algorithm %s is not one of hmac-md5, hmac-sha1, hmac-sha224, "
                   "hmac-sha256, hmac-sha384, hmac-sha512",
                   a);
        goto done;
    }
    b64 = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_B64, s);
    if (!b64) {
        cin_seterr(err, "the TSIG secret is not base64");
        goto done;
    }
    ldns_rdf_deep_free(b64);
    *name = cin_strdup(n);
    *alg = cin_asprintf("%s.", a);
    *secret = cin_strdup(s);
    rc = *name && *alg && *secret ? CIN_OK : CIN_ENOMEM;
    if (rc != CIN_OK) {
        free(*name);
        free(*alg);
        if (*secret)
            cin_free_secret(*secret, strlen(*secret));
        *name = *alg = *secret = NULL;
    }
done:
    cin_free_secret(copy, strlen(text) + 1);
    return rc;
}

/* ---- TXT look-ups for domain claims ------------------------------------------- */

/* Domain claims are verified inside an API request: in nginx on a thread of
 * its pool (never the event loop, never a handshake), in httpd on the
 * request's thread.  So the look-up is bounded, CLAIM_LOOKUP_BUDGET seconds
 * in all (each query DNS_QUERY_WAIT at most, none started past it), and at
 * most CLAIM_LOOKUPS_MAX run at once in a process: a burst of verify calls
 * against a silent DNS server cannot take every thread of the pool. */
static int claim_lookups;

int cin_dns_txt_visible(cin_store *st, const char *name, const char *value, char *err,
                        size_t errlen)
{
    int seen;

    if (__atomic_add_fetch(&claim_lookups, 1, __ATOMIC_ACQ_REL) > CLAIM_LOOKUPS_MAX) {
        __atomic_sub_fetch(&claim_lookups, 1, __ATOMIC_ACQ_REL);
        snprintf(err, errlen, "%d look-ups are under way already", CLAIM_LOOKUPS_MAX);
        return -2;
    }
    seen = dns_visible(st, name, value, time(NULL) + CLAIM_LOOKUP_BUDGET, err, errlen);
    __atomic_sub_fetch(&claim_lookups, 1, __ATOMIC_ACQ_REL);
    return seen;
}
