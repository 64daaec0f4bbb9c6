/* cli_provider.c - the provider's commands: agent, ca, settings, product; init/order helpers. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cin_agent.h"
#include "cin_metrics.h"
#include "cin_mirror.h"
#include "cin_ca.h"
#include "cin_order.h"
#include "cin_store_ca.h"
#include "cin_util.h"
#include "cli.h"

int cli_init_ca(cin_store *st, char **err)
{
    return cin_ca_local_init(st, err);
}

void cli_remove_store(const char *path, const char *key_file)
{
    static const char *const suffix[] = {"", ".key", ".gen", "-wal", "-shm"};
    size_t i;

    if (key_file)
        unlink(key_file);
    if (strstr(path, "://"))
        return; /* a database store: nothing of it on this host */
    for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char *p = cin_asprintf("%s%s", path, suffix[i]);
        if (p)
            unlink(p);
        free(p);
    }
}

int cli_valid_status(const char *s)
{
    return cin_order_status_valid(s);
}

json_t *cli_order_json(cin_store *st, const cin_order *o)
{
    json_t *j = cin_order_json(st, NULL, o);

    json_object_del(j, "actions"); /* actions are a caller's, and the CLI is no caller */
    return j;
}

/* ---- agent ---------------------------------------------------------------- */

static volatile sig_atomic_t stop_agent;

static void on_signal(int sig)
{
    (void)sig;
    stop_agent = 1;
}

struct agent_opts {
    int once;
    const char *interval;
    const char *state_dir;
    const char *dns_hook;
};

static int agent_opt(int c, const char *arg, void *ud)
{
    struct agent_opts *o = ud;

    if (c == 'o')
        o->once = 1;
    else if (c == 'i')
        o->interval = arg;
    else if (c == 's')
        o->state_dir = arg;
    else if (c == 'd')
        o->dns_hook = arg;
    return 0;
}

int cli_cmd_agent(int argc, char **argv)
{
    static const char usage[] =
        "certinext agent [--once] [--interval SECONDS] [--state-dir DIR] [--dns-hook PATH]";
    static const struct option opts[] = {{"once", no_argument, NULL, 'o'},
                                         {"interval", required_argument, NULL, 'i'},
                                         {"state-dir", required_argument, NULL, 's'},
                                         {"dns-hook", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    struct agent_opts o = {0};
    long long interval_ms = 500;
    char holder[160], host_id[40] = "";
    cin_agent_stats s;
    cin_store *st;
    int rc;

    rc = cli_getopt(argc, argv, usage, opts, agent_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (optind < argc) {
        cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (o.interval) {
        char *end;
        double v = strtod(o.interval, &end);
        if (*end || v < 0.05 || v > 86400) {
            cli_usage_error(usage, "--interval must be a number of seconds from 0.05 to 86400");
            return 2;
        }
        interval_ms = (long long)(v * 1000);
    }
    if (o.dns_hook) {
        char *err = NULL;
        if (cin_dns_hook_set(o.dns_hook, &err) != CIN_OK) {
            fprintf(stderr, "certinext: %s\n", err ? err : "the DNS hook cannot be used");
            free(err);
            return 1;
        }
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    /* a fleet's host: the host id the servers of this host use, so that a
     * lease left by one of its dead processes is taken over at once */
    if (!o.state_dir)
        o.state_dir = getenv("CERTINEXT_STATE_DIR");
    if (cin_host_id_read(o.state_dir && *o.state_dir ? o.state_dir : CIN_DEFAULT_STATE_DIR, host_id,
                         sizeof(host_id)) != CIN_OK &&
        cin_store_target_is_central(cli_store_path())) {
        unsigned char rnd[6];
        /* no host id here: one of its own, so no other process is taken for it */
        if (cin_random(rnd, sizeof(rnd)) == CIN_OK) {
            memcpy(host_id, "cli-", 4);
            cin_hex(rnd, sizeof(rnd), host_id + 4);
        }
    }
    cin_agent_holder(host_id, holder, sizeof(holder));
    /* this host's metrics count what the agent does (a SQLite store's file;
     * a central store's is its host mirror's, beside the servers) */
    if (!cin_store_target_is_central(cli_store_path())) {
        char *mpath = cin_asprintf("%s.metrics", cli_store_path());
        if (mpath)
            cin_metrics_open(mpath, NULL);
        free(mpath);
    }
    if (o.once) {
        rc = cin_agent_run_once(st, holder, &s);
        cin_store_close(st);
        if (rc != CIN_OK) {
            fprintf(stderr, "certinext: agent pass failed: %s\n", cin_strstatus(rc));
            return 1;
        }
        printf("issued %d, failed %d, deferred %d, revocations sent %d, expired %d, "
               "cleaned up %d\n",
               s.issued, s.failed, s.deferred, s.revocations_sent, s.expired, s.cleanups);
        return 0;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "certinext agent: working %s every %.2f s (Ctrl-C stops)\n", cli_store_path(),
            interval_ms / 1000.0);
    while (!stop_agent) {
        struct timespec ts = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
        if (cin_agent_work_due(st)) {
            rc = cin_agent_run_once(st, holder, &s);
            if (rc == CIN_OK && (s.issued || s.failed || s.revocations_sent))
                fprintf(stderr,
                        "certinext agent: issued %d, failed %d, deferred %d, "
                        "revocations sent %d\n",
                        s.issued, s.failed, s.deferred, s.revocations_sent);
        }
        nanosleep(&ts, NULL);
    }
    cin_store_close(st);
    return 0;
}

/* ---- ca ------------------------------------------------------------------- */

struct ca_opts {
    const char *name, *acme, *kid, *hmac_file, *trust, *contact, *chain, *challenge;
    const char *dns_update, *tsig_file, *failover_after, *profile;
};

static int ca_opt(int c, const char *arg, void *ud)
{
    struct ca_opts *o = ud;

    switch (c) {
    case 'n':
        o->name = arg;
        break;
    case 'a':
        o->acme = arg;
        break;
    case 'k':
        o->kid = arg;
        break;
    case 'f':
        o->hmac_file = arg;
        break;
    case 't':
        o->trust = arg;
        break;
    case 'c':
        o->contact = arg;
        break;
    case 'p':
        o->chain = arg;
        break;
    case 'g':
        o->challenge = arg;
        break;
    case 'u':
        o->dns_update = arg;
        break;
    case 'y':
        o->tsig_file = arg;
        break;
    case 'F':
        o->failover_after = arg;
        break;
    case 'P':
        o->profile = arg;
        break;
    }
    return 0;
}

static int fp_opt(int c, const char *arg, void *ud)
{
    if (c == 'r')
        *(const char **)ud = arg;
    return 0;
}

/* issue 14: ca distrust NAME | --root-fingerprint SHA256; ca status */
static int ca_distrust_cmd(int argc, char **argv)
{
    static const char usage[] =
        "certinext ca distrust NAME | ca distrust --root-fingerprint SHA256 | ca status";
    static const struct option opts[] = {{"root-fingerprint", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    const char *fp = NULL, *name;
    cin_distrust_counts c;
    char *err = NULL, **stranded = NULL;
    size_t n = 0, i;
    cin_store *st;
    int rc, status = !strcmp(argv[1], "status");

    rc = cli_getopt(argc - 1, argv + 1, usage, opts, fp_opt, (void *)&fp);
    if (rc)
        return rc == 1 ? 0 : 2;
    name = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (status ? (name || fp) : (!name == !fp || optind + 2 < argc)) {
        cli_usage_error(usage, status ? "ca status takes no argument"
                                      : "name one CA, or give --root-fingerprint");
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    if (!status) {
        rc = cin_ca_distrust(st, name, fp, "cli", &c, &err);
        if (rc != CIN_OK) {
            fprintf(stderr, "certinext: %s\n", err ? err : cin_strstatus(rc));
            free(err);
            cin_store_close(st);
            return 1;
        }
        printf("distrusted %s %s: %zu certificates queued for replacement, %zu with no other CA\n",
               name ? "CA" : "root", name ? name : fp, c.queued, c.stranded);
    }
    rc = cin_distrust_status(st, &c, &stranded, &n);
    if (rc == CIN_OK) {
        printf("replacements: %zu queued, %zu in progress, %zu replaced, %zu failed\n", c.queued,
               c.replacing, c.replaced, c.failed);
        if (c.stranded) {
            printf("not replaced, %zu certificates: no other CA for product", c.stranded);
            for (i = 0; i < n; i++)
                printf("%s %s", i ? "," : "", stranded[i]);
            printf(" (certinext product set-ca PRODUCT CA,...)\n");
        }
    }
    cin_strv_free(stranded, n);
    cin_store_close(st);
    return rc == CIN_OK ? 0 : 1;
}

int cli_cmd_ca(int argc, char **argv)
{
    static const char usage[] =
        "certinext ca add --name NAME --acme DIRECTORY_URL [--eab-kid KID --eab-hmac-file FILE] "
        "[--trust PEM] [--contact MAILTO] [--preferred-chain ROOT_NAME] "
        "[--challenge http-01|tls-alpn-01|dns-01 [--dns-update HOST:PORT --tsig-key-file FILE]] "
        "[--failover-after N] [--profile NAME] | ca list";
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"acme", required_argument, NULL, 'a'},
                                         {"eab-kid", required_argument, NULL, 'k'},
                                         {"eab-hmac-file", required_argument, NULL, 'f'},
                                         {"trust", required_argument, NULL, 't'},
                                         {"contact", required_argument, NULL, 'c'},
                                         {"preferred-chain", required_argument, NULL, 'p'},
                                         {"challenge", required_argument, NULL, 'g'},
                                         {"dns-update", required_argument, NULL, 'u'},
                                         {"tsig-key-file", required_argument, NULL, 'y'},
                                         {"failover-after", required_argument, NULL, 'F'},
                                         {"profile", required_argument, NULL, 'P'},
                                         {NULL, 0, NULL, 0}};
    struct ca_opts o = {0};
    cin_ca_config c, *list = NULL;
    char *trust = NULL, *hmac = NULL, *err = NULL;
    char *tsig_name = NULL, *tsig_alg = NULL, *tsig_secret = NULL;
    size_t n = 0, i;
    cin_store *st;
    int rc, ret = 1, failover = 0;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n", usage);
        return 0;
    }
    if (argc >= 2 && (!strcmp(argv[1], "distrust") || !strcmp(argv[1], "status")))
        return ca_distrust_cmd(argc, argv);
    if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "list"))) {
        cli_usage_error(usage, "expected 'ca add', 'ca list', 'ca distrust' or 'ca status'");
        return 2;
    }
    rc = cli_getopt(argc - 1, argv + 1, usage, opts, ca_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!strcmp(argv[1], "list")) {
        if (cli_open(&st) != CIN_OK)
            return 1;
        rc = cin_store_ca_list(st, &list, &n);
        printf("%-16s %-6s %s\n", "NAME", "KIND", "DIRECTORY / ACCOUNT");
        for (i = 0; rc == CIN_OK && i < n; i++)
            printf("%-16s %-6s %s%s%s%s%s%s%s\n", list[i].name, list[i].kind,
                   list[i].directory_url ? list[i].directory_url : "(built in)",
                   list[i].eab_kid ? " eab-kid=" : "", list[i].eab_kid ? list[i].eab_kid : "",
                   list[i].challenge ? " challenge=" : "",
                   list[i].challenge ? list[i].challenge : "",
                   list[i].account_url ? " (account registered)" : "",
                   cin_store_ca_distrusted(st, list[i].name) ? " DISTRUSTED" : "");
        cin_ca_config_list_free(list, n);
        cin_store_close(st);
        return rc == CIN_OK ? 0 : 1;
    }
    if (!o.name || !o.acme) {
        cli_usage_error(usage, "--name and --acme are required");
        return 2;
    }
    if (strncmp(o.acme, "https://", 8) && strncmp(o.acme, "http://", 7)) {
        cli_usage_error(usage, "--acme must be the directory's http(s) URL");
        return 2;
    }
    if (o.challenge && !cin_ca_challenge_valid(o.challenge)) {
        cli_usage_error(usage, "--challenge must be http-01, tls-alpn-01 or dns-01");
        return 2;
    }
    if (o.failover_after) {
        char *end;
        long v = strtol(o.failover_after, &end, 10);
        if (*end || v < 1 || v > 100) {
            cli_usage_error(usage, "--failover-after must be a number of attempts from 1 to 100");
            return 2;
        }
        failover = (int)v;
    }
    if ((o.dns_update || o.tsig_file) &&
        (!o.challenge || strcmp(o.challenge, "dns-01") || !o.dns_update || !o.tsig_file)) {
        cli_usage_error(usage, "--dns-update and --tsig-key-file go together, with "
                               "--challenge dns-01");
        return 2;
    }
    if (!o.kid != !o.hmac_file) {
        cli_usage_error(usage, "--eab-kid and --eab-hmac-file go together");
        return 2;
    }
    if (o.hmac_file) {
        size_t len = 0;
        unsigned char *raw;
        char *s = cin_file_read(o.hmac_file, 4096), *p, *e;
        if (!s) {
            fprintf(stderr, "certinext: cannot read %s: %s\n", o.hmac_file, strerror(errno));
            return 1;
        }
        for (p = s; *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'; p++)
            ;
        for (e = p + strlen(p);
             e > p && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r' || e[-1] == '\t');)
            *--e = '\0';
        raw = cin_b64url_decode(p, &len);
        if (!raw || len == 0) {
            fprintf(stderr, "certinext: %s does not hold a base64url HMAC key\n", o.hmac_file);
            free(raw);
            cin_free_secret(s, 4097);
            return 1;
        }
        cin_free_secret(raw, len);
        hmac = strdup(p);
        cin_free_secret(s, 4097);
    }
    if (o.tsig_file) {
        char *s = cin_file_read(o.tsig_file, 4096);
        if (!s) {
            fprintf(stderr, "certinext: cannot read %s: %s\n", o.tsig_file, strerror(errno));
            goto fail;
        }
        rc = cin_tsig_key_parse(s, &tsig_name, &tsig_alg, &tsig_secret, &err);
        cin_free_secret(s, strlen(s) + 1);
        if (rc != CIN_OK) {
            fprintf(stderr, "certinext: %s: %s\n", o.tsig_file, err ? err : cin_strstatus(rc));
            free(err);
            err = NULL;
            goto fail;
        }
    }
    if (o.trust && !(trust = cin_file_read(o.trust, 1 << 20))) {
        fprintf(stderr, "certinext: cannot read %s: %s\n", o.trust, strerror(errno));
        goto fail;
    }
    if (cli_open(&st) != CIN_OK)
        goto fail;
    memset(&c, 0, sizeof(c));
    c.name = (char *)o.name;
    c.kind = "acme";
    c.directory_url = (char *)o.acme;
    c.eab_kid = (char *)o.kid;
    c.trust_pem = trust;
    c.contact = (char *)o.contact;
    c.preferred_chain = (char *)o.chain;
    c.challenge = (char *)o.challenge;
    c.dns_update = (char *)o.dns_update;
    c.tsig_name = tsig_name;
    c.tsig_alg = tsig_alg;
    c.failover_after = failover;
    c.profile = (char *)o.profile;
    rc = cin_store_begin(st);
    if (rc == CIN_OK)
        rc = cin_store_ca_add(st, &c, NULL, &err);
    if (rc == CIN_OK && hmac)
        rc = cin_store_ca_set_secret(st, o.name, "eab_hmac", hmac);
    /* the TSIG secret is read once, here, and sealed like an EAB key */
    if (rc == CIN_OK && tsig_secret)
        rc = cin_store_ca_set_secret(st, o.name, "tsig_secret", tsig_secret);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, 0, 0, "cli", "ca.add", NULL, o.name);
    rc = cin_store_end(st, rc);
    cin_store_close(st);
    if (rc != CIN_OK) {
        fprintf(stderr, "certinext: %s\n", err ? err : cin_strstatus(rc));
        free(err);
        goto fail;
    }
    printf("added ACME CA %s (%s)%s%s\n", o.name, o.acme, hmac ? " with EAB" : "",
           tsig_name ? " with a TSIG key" : "");
    ret = 0;
fail:
    free(trust);
    if (hmac)
        cin_free_secret(hmac, strlen(hmac));
    free(tsig_name);
    free(tsig_alg);
    if (tsig_secret)
        cin_free_secret(tsig_secret, strlen(tsig_secret));
    return ret;
}

/* ---- settings ------------------------------------------------------------- */

static const struct cli_setting {
    const char *name, *key, *help;
} cli_settings[] = {
    {"renew-fraction", "renew_fraction",
     "renew auto_renew certificates when this fraction of their lifetime remains (0.05-0.95, "
     "default 0.333)"},
    {"lease-ttl", "lease_ttl",
     "seconds an agent holds an order it works before another host may take it over "
     "(5-600, default 60; renewed every third of it)"},
    {"acme-orders-per-3h", "acme_orders_per_3h",
     "new orders a user may place over ACME in 3 hours, all their ACME accounts together "
     "(1-1000000, default 300)"},
    {"distrust-rate", "distrust_rate",
     "replacements of distrusted certificates started per minute (1-100000, default 60)"},
    {"ari-interval", "ari_interval",
     "seconds between the agent's looks for ACME renewal windows (ARI) that are due "
     "(1-3600, default 60; each window is read again after the CA's Retry-After)"},
    {"dns-resolver", "dns_resolver",
     "HOST:PORT of the resolver that dns-01 records and domain claims are looked up at "
     "(default: the zone's authoritative servers)"},
    /* issue 15: notifications */
    {"smtp-url", "smtp-url", "the mail server for notifications: smtp://HOST:PORT or smtps://..."},
    {"smtp-from", "smtp-from", "the sender address of notification e-mails"},
    {"smtp-user", "smtp-user", "the SMTP user name (with smtp-password)"},
    {"smtp-password", "smtp-password",
     "the SMTP password (stored sealed; never shown); '-' reads it from standard input"},
    {"smtp-starttls", "smtp-starttls", "true: require STARTTLS on smtp:// (default false)"},
    {"smtp-ca-file", "smtp-ca-file",
     "a PEM file of the CA certificates the mail server's certificate is checked against "
     "(default: the system's)"},
    {"webhook-allow-private", "webhook-allow-private",
     "true: webhooks may go to loopback and private addresses (default false)"},
    {"notify-retry-base", "notify-retry-base",
     "seconds before the first retry of an e-mail or webhook, doubling after (default 60)"},
};

int cli_cmd_settings(int argc, char **argv)
{
    static const char usage[] = "certinext settings set NAME VALUE | settings get NAME";
    const struct cli_setting *k = NULL;
    cin_problem p = {0};
    cin_store *st;
    size_t i;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n", usage);
        for (i = 0; i < sizeof(cli_settings) / sizeof(cli_settings[0]); i++)
            printf("  %s: %s\n", cli_settings[i].name, cli_settings[i].help);
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "set") && strcmp(argv[1], "get"))) {
        cli_usage_error(usage, "expected 'settings set' or 'settings get'");
        return 2;
    }
    rc = cli_getopt(argc - 1, argv + 1, usage, NULL, NULL, NULL);
    if (rc)
        return rc == 1 ? 0 : 2;
    for (i = 0; optind + 1 < argc && i < sizeof(cli_settings) / sizeof(cli_settings[0]); i++)
        if (!strcmp(argv[optind + 1], cli_settings[i].name))
            k = &cli_settings[i];
    if (!k) {
        cli_usage_error(usage, "unknown setting (certinext settings --help lists them)");
        return 2;
    }
    if (optind + (!strcmp(argv[1], "set") ? 3 : 2) != argc) {
        cli_usage_error(usage, !strcmp(argv[1], "set") ? "give one value" : "unexpected argument");
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    if (!strcmp(argv[1], "get")) {
        /* the value in force (a default when unset or out of range) */
        char *v = NULL;
        int set = 0;
        if (!strcmp(k->key, "renew_fraction")) {
            printf("%.3f\n", cin_agent_renew_fraction(st));
        } else if (!strcmp(k->key, "lease_ttl")) {
            printf("%d\n", cin_agent_lease_ttl(st));
        } else {
            set = cin_store_setting_get(st, k->key, &v) == CIN_OK && v;
            if (!strcmp(k->key, "smtp-password"))
                printf("%s\n", set ? "(set, sealed)" : "(unset)");
            else if (set)
                printf("%s\n", v);
            else if (!strcmp(k->key, "acme_orders_per_3h"))
                printf("300\n"); /* the defaults */
            else if (!strcmp(k->key, "distrust_rate") || !strcmp(k->key, "ari_interval"))
                printf("60\n");
            else
                printf("(unset)\n");
        }
        free(v);
        cin_store_close(st);
        return 0;
    }
    if (!strcmp(k->key, "smtp-password") && !strcmp(argv[optind + 2], "-")) {
        /* "-": the password from standard input, never in argv (ps, shell history) */
        char *pw = read_password_line();
        if (!pw || !*pw) {
            fprintf(stderr, "certinext: smtp-password -: no password on standard input\n");
            free(pw);
            cin_store_close(st);
            return 2;
        }
        rc = cin_account_setting_set(st, &cli_actor, k->key, pw, &p);
        cin_free_secret(pw, strlen(pw));
    } else {
        rc = cin_account_setting_set(st, &cli_actor, k->key, argv[optind + 2], &p);
    }
    cin_store_close(st);
    if (rc != CIN_OK)
        return cli_problem(&p);
    printf("%s is now %s\n", k->name,
           strcmp(k->key, "smtp-password") ? argv[optind + 2] : "set (sealed)");
    return 0;
}

/* ---- product -------------------------------------------------------------- */

/* "a,b,c" as a malloc'd array of malloc'd names (empty names refused: NULL). */
static char **split_commas(const char *s, size_t *n)
{
    size_t cap = 1, i;
    const char *p;
    char **v;

    *n = 0;
    for (p = s; *p; p++)
        cap += *p == ',';
    v = calloc(cap, sizeof(*v));
    for (p = s; v && *n < cap; p += strcspn(p, ",") + 1) {
        size_t len = strcspn(p, ",");
        if (len == 0 || !(v[*n] = strndup(p, len))) {
            for (i = 0; i < *n; i++)
                free(v[i]);
            free(v);
            *n = 0;
            return NULL;
        }
        (*n)++;
        if (!p[len])
            break;
    }
    return v;
}

int cli_cmd_product(int argc, char **argv)
{
    static const char usage[] = "certinext product set-ca PRODUCT CA[,CA...] | product list";
    cin_product *list = NULL;
    char *err = NULL, *kind = NULL, **cas = NULL;
    size_t n = 0, i, ncas = 0;
    cin_store *st;
    int rc, set;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n", usage);
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "set-ca") && strcmp(argv[1], "list"))) {
        cli_usage_error(usage, "expected 'product set-ca' or 'product list'");
        return 2;
    }
    set = !strcmp(argv[1], "set-ca");
    rc = cli_getopt(argc - 1, argv + 1, usage, NULL, NULL, NULL);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (set && optind + 2 != argc - 1) {
        cli_usage_error(usage, "give PRODUCT and CA");
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    if (!set) {
        rc = cin_store_product_list(st, &list, &n);
        printf("%-13s %-9s %-6s %-9s %-9s %-6s %s\n", "PRODUCT", "TYPE", "NAMES", "WILDCARD",
               "VALIDITY", "PRICE", "CA");
        for (i = 0; rc == CIN_OK && i < n; i++)
            printf("%-13s %-9s %-6d %-9s %-9d %-6lld %s\n", list[i].code, list[i].type,
                   list[i].max_names, list[i].wildcard ? "yes" : "no", list[i].max_validity_days,
                   (long long)list[i].price, list[i].ca);
        cin_product_list_free(list, n);
        cin_store_close(st);
        return rc == CIN_OK ? 0 : 1;
    }
    /* issue 14: an ordered list, the preferred CA first (failover to the next) */
    cas = split_commas(argv[optind + 2], &ncas);
    for (i = 0, rc = cas && ncas ? CIN_OK : CIN_EINVAL; rc == CIN_OK && i < ncas; i++) {
        free(kind);
        kind = NULL;
        rc = cin_store_ca_kind(st, cas[i], &kind);
        if (rc == CIN_OK && !cin_ca_ops_for(kind)) {
            fprintf(stderr, "certinext: CA %s is of kind %s, which this build cannot issue from\n",
                    cas[i], kind);
            rc = CIN_EINVAL;
        } else if (rc != CIN_OK) {
            fprintf(stderr, "certinext: no CA named %s (certinext ca list)\n", cas[i]);
        }
    }
    if (rc == CIN_OK) {
        rc = cin_store_begin(st);
        if (rc == CIN_OK)
            rc = cin_store_product_set_cas(st, argv[optind + 1], cas, ncas, &err);
        if (rc == CIN_OK)
            rc = cin_store_event_add(st, 0, 0, "cli", "product.set_ca", NULL, argv[optind + 2]);
        rc = cin_store_end(st, rc);
        if (rc != CIN_OK)
            fprintf(stderr, "certinext: %s\n", err ? err : cin_strstatus(rc));
        else
            printf("product %s now issues from CA %s\n", argv[optind + 1], argv[optind + 2]);
    }
    cin_strv_free(cas, ncas);
    free(kind);
    free(err);
    cin_store_close(st);
    return rc == CIN_OK ? 0 : 1;
}
