/*
 * certinext - the administrator's command: stores, accounts, users, tokens,
 * credits, domains, orders and (later) the agent and CA configurations.
 *
 * Every subcommand takes --store PATH (or CERTINEXT_STORE) and --help.
 * Errors go to stderr, in words a person understands, with exit code 1
 * (2 for a usage error).  A token is printed once, on stdout alone.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cin_names.h"
#include "cin_security.h"
#include "cin_store.h"
#include "cin_store_order.h"
#include "cin_util.h"
#include "cli.h"

static const char *store_path;
static const char *key_file;

const cin_actor cli_actor = {NULL, "cli", NULL};

int cli_problem(cin_problem *p)
{
    fprintf(stderr, "certinext: %s\n", p->detail ? p->detail : cin_http_title(p->status));
    cin_problem_clear(p);
    return 1;
}

const char *cli_store_path(void)
{
    return store_path;
}

void cli_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "certinext: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\n", usage);
}

int cli_open(cin_store **st)
{
    char *err = NULL;
    int rc;

    if (!store_path || !*store_path) {
        fprintf(stderr, "certinext: no store given: use --store PATH or set CERTINEXT_STORE\n");
        return CIN_EINVAL;
    }
    {
        cin_store_opts o = {key_file, NULL, 1, 0, -1};
        rc = cin_store_open_opts(store_path, NULL, &o, st, &err);
    }
    if (rc != CIN_OK) {
        fprintf(stderr, "certinext: %s\n", err ? err : cin_strstatus(rc));
        free(err);
    }
    return rc;
}

int cli_parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (!s || !*s)
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

/* Parse the options common to all subcommands plus the given ones.
 * Returns the getopt result array as-is; --store and --help are handled here. */
int cli_getopt(int argc, char **argv, const char *usage, const struct option *extra,
               int (*on_opt)(int c, const char *arg, void *ud), void *ud)
{
    struct option opts[24];
    int n = 0, c;

    while (extra && extra[n].name && n < 20) {
        opts[n] = extra[n];
        n++;
    }
    opts[n++] = (struct option){"store", required_argument, NULL, 'S'};
    opts[n++] = (struct option){"key-file", required_argument, NULL, 'K'};
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'S') {
            store_path = optarg;
        } else if (c == 'K') {
            key_file = optarg;
        } else if (c == 'h') {
            printf("usage: %s\n", usage);
            return 1;
        } else if (c == '?') {
            cli_usage_error(usage, "unknown or incomplete option '%s'", argv[optind - 1]);
            return 2;
        } else if (!on_opt || on_opt(c, optarg, ud) != 0) {
            return 2;
        }
    }
    return 0;
}

/* ---- init ---------------------------------------------------------------- */

static int no_opt(int c, const char *arg, void *ud)
{
    (void)c;
    (void)arg;
    (void)ud;
    return 1;
}

static int cmd_init(int argc, char **argv)
{
    static const char usage[] = "certinext init --store PATH|URI [--key-file FILE]";
    cin_store_opts o = {NULL, NULL, 1, 1, -1};
    cin_store *st = NULL;
    char *err = NULL;
    int rc;

    rc = cli_getopt(argc, argv, usage, NULL, no_opt, NULL);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (optind < argc) {
        cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!store_path) {
        cli_usage_error(usage, "no store given: use --store PATH or set CERTINEXT_STORE");
        return 2;
    }
    o.key_file = key_file;
    rc = cin_store_open_opts(store_path, NULL, &o, &st, &err);
    if (rc == CIN_OK)
        rc = cli_init_ca(st, &err);
    if (rc != CIN_OK) {
        fprintf(stderr, "certinext: %s\n", err ? err : cin_strstatus(rc));
        free(err);
        if (st) {
            cin_store_close(st);
            cli_remove_store(store_path, key_file);
        }
        return 1;
    }
    printf("created store %s (key %s%s, mode 0600)\n", cin_store_name(st),
           key_file ? key_file : store_path, key_file ? "" : ".key");
    cin_store_close(st);
    return 0;
}

/* ---- account / credits --------------------------------------------------- */

struct acct_opts {
    const char *credits;
    const char *account;
    const char *parent;
    const char *billing;
    const char *approval;
    const char *automatic;
    const char *auto_product; /* AutoSSL (cli_import.c): a product, or "none" */
    int auto_www;
    const char *require_2fa;
    const char *allowlist;
};

static int acct_opt(int c, const char *arg, void *ud)
{
    struct acct_opts *o = ud;

    if (c == 'c')
        o->credits = arg;
    else if (c == 'a')
        o->account = arg;
    else if (c == 'p')
        o->parent = arg;
    else if (c == 'b')
        o->billing = arg;
    else if (c == 'r')
        o->approval = arg;
    else if (c == 'A')
        o->automatic = arg;
    else if (c == 'T')
        o->require_2fa = arg;
    else if (c == 'I')
        o->allowlist = arg;
    else if (c == 'Y') /* not 'S': cli_getopt's --store */
        o->auto_product = arg;
    else if (c == 'W')
        o->auto_www = 1;
    return 0;
}

/* yes|no -> 1|0; -1 when absent; -2 when neither. */
static int yes_no(const char *v)
{
    if (!v)
        return -1;
    if (!strcmp(v, "yes"))
        return 1;
    if (!strcmp(v, "no"))
        return 0;
    return -2;
}

/* certinext account set NAME --billing prepaid|parent --requires-parent-approval yes|no
 * --automatic yes|no (issue 16) */
static int cmd_account_set(int argc, char **argv)
{
    static const char usage[] =
        "certinext account set NAME [--billing prepaid|parent] "
        "[--requires-parent-approval yes|no] [--automatic yes|no] [--require-2fa yes|no] "
        "[--ip-allowlist CIDR,... (\"\" for none)] "
        "[--auto-certificate PRODUCT|none [--include-www]]";
    static const struct option opts[] = {{"require-2fa", required_argument, NULL, 'T'},
                                         {"ip-allowlist", required_argument, NULL, 'I'},
                                         {"billing", required_argument, NULL, 'b'},
                                         {"requires-parent-approval", required_argument, NULL, 'r'},
                                         {"automatic", required_argument, NULL, 'A'},
                                         {"auto-certificate", required_argument, NULL, 'Y'},
                                         {"include-www", no_argument, NULL, 'W'},
                                         {NULL, 0, NULL, 0}};
    struct acct_opts o = {0};
    cin_problem p = {0};
    cin_store *st;
    int rc, rpa, aut, tfa;

    rc = cli_getopt(argc - 1, argv + 1, usage, opts, acct_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (optind + 1 != argc - 1) {
        cli_usage_error(usage, "give exactly one account NAME");
        return 2;
    }
    rpa = yes_no(o.approval);
    aut = yes_no(o.automatic);
    tfa = yes_no(o.require_2fa);
    if (rpa == -2 || aut == -2 || tfa == -2) {
        cli_usage_error(usage, "--requires-parent-approval, --automatic and --require-2fa take "
                               "yes or no");
        return 2;
    }
    if (o.auto_www && !o.auto_product) {
        cli_usage_error(usage, "--include-www goes with --auto-certificate");
        return 2;
    }
    if (!o.billing && rpa == -1 && aut == -1 && tfa == -1 && !o.allowlist && !o.auto_product) {
        cli_usage_error(usage, "say what to change");
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    rc = CIN_OK;
    if (o.billing || rpa != -1 || aut != -1)
        rc = cin_account_set_rules(st, &cli_actor, argv[optind + 1], rpa, o.billing, aut, &p);
    if (rc == CIN_OK && (tfa != -1 || o.allowlist))
        rc = cin_account_set_security(st, &cli_actor, argv[optind + 1], tfa, o.allowlist, &p);
    if (rc == CIN_OK && o.auto_product)
        rc = cli_account_autossl(st, argv[optind + 1], o.auto_product, o.auto_www, &p);
    cin_store_close(st);
    if (rc != CIN_OK)
        return cli_problem(&p);
    if (!o.auto_product)
        printf("account %s updated\n", argv[optind + 1]);
    return 0;
}

/* certinext account move NAME --parent P (issue 16: re-parenting) */
static int cmd_account_move(int argc, char **argv)
{
    static const char usage[] = "certinext account move NAME --parent P";
    static const struct option opts[] = {{"parent", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    struct acct_opts o = {0};
    cin_problem p = {0};
    cin_store *st;
    size_t pending = 0;
    int rc;

    rc = cli_getopt(argc - 1, argv + 1, usage, opts, acct_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (optind + 1 != argc - 1 || !o.parent) {
        cli_usage_error(usage, "give exactly one account NAME and --parent");
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    rc = cin_account_move(st, &cli_actor, argv[optind + 1], o.parent, &pending, &p);
    cin_store_close(st);
    if (rc != CIN_OK)
        return cli_problem(&p);
    printf("account %s moved under %s (%zu order%s pending parent approval now wait for %s)\n",
           argv[optind + 1], o.parent, pending, pending == 1 ? "" : "s", o.parent);
    return 0;
}

static int cmd_account(int argc, char **argv)
{
    static const char usage[] = "certinext account create NAME [--credits N] [--parent P]\n"
                                "       certinext account set NAME [--billing prepaid|parent] "
                                "[--requires-parent-approval yes|no] [--automatic yes|no]\n"
                                "       certinext account move NAME --parent P";
    static const struct option opts[] = {{"credits", required_argument, NULL, 'c'},
                                         {"parent", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    struct acct_opts o = {0};
    long long credits = 0;
    cin_problem p = {0};
    cin_store *st;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "set"))
        return cmd_account_set(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "move"))
        return cmd_account_move(argc, argv);
    if (argc < 2 || strcmp(argv[1], "create") != 0) {
        if (argc >= 2 && !strcmp(argv[1], "--help")) {
            printf("usage: %s\n", usage);
            return 0;
        }
        cli_usage_error(usage, "expected 'account create', 'account set' or 'account move'");
        return 2;
    }
    rc = cli_getopt(argc - 1, argv + 1, usage, opts, acct_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (optind + 1 != argc - 1) {
        cli_usage_error(usage, "give exactly one account NAME");
        return 2;
    }
    if (o.credits && !cli_parse_int(o.credits, 0, 1000000000000LL, &credits)) {
        cli_usage_error(usage, "--credits must be a whole number >= 0 (got '%s')", o.credits);
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    if (o.parent) {
        /* a sub-account; its opening credits come from the provider, as for any account */
        rc = cin_account_create_sub(st, &cli_actor, argv[optind + 1], o.parent, NULL, NULL, NULL,
                                    &p);
        if (rc == CIN_OK && credits > 0)
            rc = cin_account_credits_add(st, &cli_actor, argv[optind + 1], credits, NULL, &p);
    } else {
        rc = cin_account_create(st, &cli_actor, argv[optind + 1], credits, NULL, &p);
    }
    cin_store_close(st);
    if (rc != CIN_OK)
        return cli_problem(&p);
    printf("created account %s with %lld credits\n", argv[optind + 1], credits);
    return 0;
}

static int cmd_credits(int argc, char **argv)
{
    static const char usage[] = "certinext credits add --account A N";
    static const struct option opts[] = {{"account", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    struct acct_opts o = {0};
    long long n = 0;
    int64_t balance = 0;
    cin_problem p = {0};
    cin_store *st;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n", usage);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        cli_usage_error(usage, "expected 'credits add'");
        return 2;
    }
    rc = cli_getopt(argc - 1, argv + 1, usage, opts, acct_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!o.account) {
        cli_usage_error(usage, "--account is required");
        return 2;
    }
    if (optind + 1 != argc - 1 || !cli_parse_int(argv[optind + 1], 1, 1000000000000LL, &n)) {
        cli_usage_error(usage, "give one amount N, a whole number > 0");
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    rc = cin_account_credits_add(st, &cli_actor, o.account, n, &balance, &p);
    cin_store_close(st);
    if (rc != CIN_OK)
        return cli_problem(&p);
    printf("account %s now has %lld credits\n", o.account, (long long)balance);
    return 0;
}

/* ---- users ----------------------------------------------------------------- */

struct user_opts {
    const char *account, *name, *role, *user, *expires;
    int signatory, password_stdin;
};

static int user_opt(int c, const char *arg, void *ud)
{
    struct user_opts *o = ud;

    switch (c) {
    case 'a':
        o->account = arg;
        break;
    case 'n':
        o->name = arg;
        break;
    case 'r':
        o->role = arg;
        break;
    case 's':
        o->signatory = 1;
        break;
    case 'p':
        o->password_stdin = 1;
        break;
    case 'u':
        o->user = arg;
        break;
    case 'e':
        o->expires = arg;
        break;
    }
    return 0;
}

char *read_password_line(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);

    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static int cmd_user(int argc, char **argv)
{
    static const char usage[] = "certinext user create --account A --name U "
                                "--role admin|standard|basic [--signatory] [--password-stdin]";
    static const struct option opts[] = {
        {"account", required_argument, NULL, 'a'},  {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},     {"signatory", no_argument, NULL, 's'},
        {"password-stdin", no_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
    struct user_opts o = {0};
    char *password = NULL;
    cin_user_fields f = {NULL, NULL, 0, -1, NULL};
    cin_problem p = {0};
    cin_account a;
    cin_store *st;
    cin_user u;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n       certinext user reset-2fa NAME\n", usage);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "reset-2fa")) {
        /* a user who lost their authenticator and recovery codes (issue 16) */
        if (cli_open(&st) != CIN_OK)
            return 1;
        rc = cin_account_totp_reset(st, &cli_actor, argv[2], &p);
        cin_store_close(st);
        if (rc != CIN_OK)
            return cli_problem(&p);
        printf("two-factor login of %s reset\n", argv[2]);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "create") != 0) {
        cli_usage_error(usage, "expected 'user create' or 'user reset-2fa NAME'");
        return 2;
    }
    rc = cli_getopt(argc - 1, argv + 1, usage, opts, user_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!o.account || !o.name || !o.role) {
        cli_usage_error(usage, "--account, --name and --role are required");
        return 2;
    }
    if (!cin_valid_role(o.role)) {
        cli_usage_error(usage, "unknown role '%s': use admin, standard or basic", o.role);
        return 2;
    }
    if (!cin_valid_username(o.name)) {
        cli_usage_error(usage, "user name '%s' must be 1-64 characters of a-z 0-9 . _ -", o.name);
        return 2;
    }
    if (o.password_stdin) {
        password = read_password_line();
        if (!password || !*password) {
            fprintf(stderr, "certinext: --password-stdin: no password on standard input\n");
            free(password);
            return 2;
        }
    }
    if (cli_open(&st) != CIN_OK) {
        if (password)
            cin_free_secret(password, strlen(password));
        return 1;
    }
    rc = cin_store_account_get(st, o.account, &a);
    if (rc != CIN_OK) {
        if (rc == CIN_ENOTFOUND)
            fprintf(stderr,
                    "certinext: no account named %s (create it with: certinext account "
                    "create %s)\n",
                    o.account, o.account);
        else
            fprintf(stderr, "certinext: %s\n", cin_strstatus(rc));
        goto out;
    }
    f.name = o.name;
    f.role = o.role;
    f.signatory = o.signatory;
    f.password = password;
    rc = cin_account_user_create(st, &cli_actor, a.id, &f, &u, &p);
    if (rc != CIN_OK) {
        cli_problem(&p);
    } else {
        printf("created %s user %s in account %s%s\n", o.role, o.name, o.account,
               o.signatory ? " (authorized signatory)" : "");
        cin_user_clear(&u);
    }
    cin_account_clear(&a);
out:
    if (password)
        cin_free_secret(password, strlen(password));
    cin_store_close(st);
    return rc == CIN_OK ? 0 : 1;
}

/* ---- tokens ---------------------------------------------------------------- */

static int cmd_token(int argc, char **argv)
{
    static const char usage[] = "certinext token create --user U [--expires-in-days N]";
    static const struct option opts[] = {{"user", required_argument, NULL, 'u'},
                                         {"expires-in-days", required_argument, NULL, 'e'},
                                         {NULL, 0, NULL, 0}};
    struct user_opts o = {0};
    long long days = 0;
    char *secret = NULL;
    cin_problem p = {0};
    cin_token_info t;
    cin_store *st;
    cin_user u;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n", usage);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "create") != 0) {
        cli_usage_error(usage, "expected 'token create'");
        return 2;
    }
    rc = cli_getopt(argc - 1, argv + 1, usage, opts, user_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!o.user) {
        cli_usage_error(usage, "--user is required");
        return 2;
    }
    if (o.expires && !cli_parse_int(o.expires, 1, 3650, &days)) {
        cli_usage_error(usage, "--expires-in-days must be a whole number from 1 to 3650");
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    rc = cin_store_user_get(st, o.user, &u);
    if (rc != CIN_OK) {
        if (rc == CIN_ENOTFOUND)
            fprintf(stderr, "certinext: no user named %s\n", o.user);
        else
            fprintf(stderr, "certinext: %s\n", cin_strstatus(rc));
        cin_store_close(st);
        return 1;
    }
    rc = cin_account_token_create(st, &cli_actor, u.id, "cli", (int)days, &secret, &t, &p);
    cin_user_clear(&u);
    cin_store_close(st);
    if (rc != CIN_OK)
        return cli_problem(&p);
    cin_token_info_clear(&t);
    printf("%s\n", secret);
    cin_free_secret(secret, strlen(secret));
    return 0;
}

/* ---- domains --------------------------------------------------------------- */

static int cmd_domain(int argc, char **argv)
{
    static const char usage[] = "certinext domain add --account A NAME... | domain remove NAME";
    static const struct option opts[] = {{"account", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    struct acct_opts o = {0};
    cin_problem p = {0};
    char *name = NULL;
    cin_store *st;
    int add, rc = CIN_OK, i;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n", usage);
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove"))) {
        cli_usage_error(usage, "expected 'domain add' or 'domain remove'");
        return 2;
    }
    add = !strcmp(argv[1], "add");
    rc = cli_getopt(argc - 1, argv + 1, usage, opts, acct_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    /* add takes a batch (each name its own change, in order: the first
     * refusal stops it); remove takes one */
    if (optind + 1 > argc - 1 || (!add && optind + 1 != argc - 1)) {
        cli_usage_error(usage,
                        add ? "give at least one domain NAME" : "give exactly one domain NAME");
        return 2;
    }
    if (add && !o.account) {
        cli_usage_error(usage, "--account is required");
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    for (i = optind + 1; i < argc; i++) {
        if (add)
            rc = cin_account_domain_add(st, &cli_actor, o.account, argv[i], &p);
        else
            rc = cin_account_domain_remove(st, &cli_actor, argv[i], &p);
        if (rc != CIN_OK)
            break;
        if (cin_name_normalize(argv[i], CIN_NAME_PRIVATE, &name, NULL) != CIN_OK)
            name = strdup(argv[i]);
        if (add)
            printf("account %s may now order for %s and its subdomains\n", o.account, name);
        else
            printf("removed domain %s; certificates are no longer served for it\n", name);
        free(name);
        name = NULL;
    }
    cin_store_close(st);
    if (rc != CIN_OK)
        return p.status == 400 ? (cli_problem(&p), 2) : cli_problem(&p);
    return 0;
}

/* ---- store ----------------------------------------------------------------- */

struct copy_opts {
    const char *from, *to;
};

static int copy_opt(int c, const char *arg, void *ud)
{
    struct copy_opts *o = ud;

    if (c == 'f')
        o->from = arg;
    else if (c == 't')
        o->to = arg;
    return 0;
}

/* certinext store copy --from SRC --to DST: a whole store between engines. */
static int cmd_store_copy(int argc, char **argv, const char *usage)
{
    static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    struct copy_opts o = {NULL, NULL};
    cin_store_opts so = {NULL, NULL, 1, 0, -1};
    cin_store *src = NULL, *dst = NULL;
    struct stat sb;
    int64_t rows = 0;
    char *err = NULL;
    int rc;

    rc = cli_getopt(argc, argv, usage, opts, copy_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!o.from || !o.to || optind != argc) {
        cli_usage_error(usage, "give --from SRC and --to DST (files or postgresql:// URIs)");
        return 2;
    }
    so.key_file = key_file;
    rc = cin_store_open_opts(o.from, NULL, &so, &src, &err);
    if (rc == CIN_OK) {
        /* the copy keeps the secrets sealed: it is opened with the same key */
        cin_store_opts d = {NULL, cin_store_kek(src), 0, 0, -1};
        /* a new file is made; a database is opened (an empty one gets the schema) and
         * must hold nothing yet */
        d.create = !cin_store_target_is_central(o.to) && stat(o.to, &sb) != 0;
        rc = cin_store_open_opts(o.to, NULL, &d, &dst, &err);
    }
    if (rc == CIN_OK)
        rc = cin_store_copy(src, dst, &rows, &err);
    if (rc == CIN_OK)
        printf("copied %lld rows from %s to %s; open it with the same key file\n", (long long)rows,
               cin_store_name(src), cin_store_name(dst));
    else
        fprintf(stderr, "certinext: %s\n", err ? err : cin_strstatus(rc));
    free(err);
    cin_store_close(src);
    cin_store_close(dst);
    return rc == CIN_OK ? 0 : 1;
}

static int cmd_store(int argc, char **argv)
{
    static const char usage[] =
        "certinext store backup DEST | store check | store copy --from SRC --to DST";
    char *err = NULL;
    cin_store *st;
    int rc, backup;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n", usage);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "copy"))
        return cmd_store_copy(argc - 1, argv + 1, usage);
    if (argc < 2 || (strcmp(argv[1], "backup") && strcmp(argv[1], "check"))) {
        cli_usage_error(usage, "expected 'store backup', 'store check' or 'store copy'");
        return 2;
    }
    backup = !strcmp(argv[1], "backup");
    rc = cli_getopt(argc - 1, argv + 1, usage, NULL, no_opt, NULL);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (optind + 1 != argc - (backup ? 1 : 0)) {
        cli_usage_error(usage, backup ? "give one DEST file" : "no arguments expected");
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    rc = backup ? cin_store_backup(st, argv[optind + 1], &err) : cin_store_check(st, &err);
    if (rc != CIN_OK) {
        fprintf(stderr, "certinext: %s\n", err ? err : cin_strstatus(rc));
        free(err);
        cin_store_close(st);
        return 1;
    }
    if (backup)
        printf("backed up %s to %s (the key file is not copied: keep it apart)\n",
               cin_store_name(st), argv[optind + 1]);
    else
        printf("store %s is sound\n", cin_store_name(st));
    cin_store_close(st);
    return 0;
}

/* ---- orders ---------------------------------------------------------------- */

struct orders_opts {
    const char *account, *status;
    int json;
};

static int orders_opt(int c, const char *arg, void *ud)
{
    struct orders_opts *o = ud;

    if (c == 'a')
        o->account = arg;
    else if (c == 's')
        o->status = arg;
    else if (c == 'j')
        o->json = 1;
    return 0;
}

static int cmd_orders(int argc, char **argv)
{
    static const char usage[] = "certinext orders list [--account A] [--status S] [--json]";
    static const struct option opts[] = {{"account", required_argument, NULL, 'a'},
                                         {"status", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    struct orders_opts o = {0};
    cin_order_filter f = {0};
    cin_order *list = NULL;
    cin_account a = {0};
    cin_store *st;
    size_t n = 0, i;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n", usage);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "list") != 0) {
        cli_usage_error(usage, "expected 'orders list'");
        return 2;
    }
    rc = cli_getopt(argc - 1, argv + 1, usage, opts, orders_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (o.status && !cli_valid_status(o.status)) {
        cli_usage_error(usage, "unknown status '%s'", o.status);
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    if (o.account && cin_store_account_get(st, o.account, &a) != CIN_OK) {
        fprintf(stderr, "certinext: no account named %s\n", o.account);
        cin_store_close(st);
        return 1;
    }
    f.account_id = a.id;
    f.status = o.status;
    f.limit = 100000;
    rc = cin_store_order_list(st, &f, &list, &n);
    if (rc == CIN_OK && o.json) {
        json_t *arr = json_array();
        char *s;
        for (i = 0; i < n; i++)
            json_array_append_new(arr, cli_order_json(st, &list[i]));
        s = json_dumps(arr, JSON_INDENT(2));
        printf("%s\n", s ? s : "[]");
        free(s);
        json_decref(arr);
    } else if (rc == CIN_OK) {
        printf("%-9s %-11s %-18s %-13s %-12s %s\n", "ID", "ORDER", "STATUS", "PRODUCT", "REQUESTER",
               "NAMES");
        for (i = 0; i < n; i++) {
            char num[24] = "-";
            size_t k;
            if (list[i].order_number)
                snprintf(num, sizeof(num), "CIN-%06lld", (long long)list[i].order_number);
            printf("R-%06lld  %-11s %-18s %-13s %-12s", (long long)list[i].id, num, list[i].status,
                   list[i].product, list[i].requester);
            for (k = 0; k < list[i].nsans; k++)
                printf("%s%s", k ? "," : " ", list[i].sans[k]);
            printf("\n");
        }
    }
    cin_order_list_free(list, n);
    cin_account_clear(&a);
    cin_store_close(st);
    if (rc != CIN_OK) {
        fprintf(stderr, "certinext: cannot list orders: %s\n", cin_strstatus(rc));
        return 1;
    }
    return 0;
}

/* ---- main ------------------------------------------------------------------ */

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"init", cmd_init, "init --store PATH                 new store, key file and catalog"},
    {"account", cmd_account,
     "account create NAME [--credits N] [--parent P] | account set NAME [--billing B] "
     "[--auto-certificate PRODUCT|none [--include-www]] ... | account move NAME --parent P"},
    {"user", cmd_user,
     "user create --account A --name U --role admin|standard|basic [--signatory] "
     "[--password-stdin] | user reset-2fa NAME"},
    {"token", cmd_token, "token create --user U [--expires-in-days N]"},
    {"credits", cmd_credits, "credits add --account A N"},
    {"domain", cmd_domain, "domain add --account A NAME... | domain remove NAME"},
    {"store", cmd_store, "store backup DEST | store check"},
    {"orders", cmd_orders, "orders list [--account A] [--status S] [--json]"},
    {"agent", cli_cmd_agent, "agent [--once] [--interval S] [--state-dir D]  issue paid orders"},
    {"ca", cli_cmd_ca, "ca add|list                      CA configurations"},
    {"product", cli_cmd_product, "product set-ca PRODUCT CA | product list"},
    {"settings", cli_cmd_settings, "settings set|get renew-fraction|lease-ttl [V]"},
    {"notifications", cli_cmd_notifications,
     "notifications --account A [--user U] [--email E] [--mute EVENTS] [--account-emails L]"},
    {"acme", cli_cmd_acme,
     "acme credential create --user U [--product P] [--auto-pay] | list | delete"},
    {"import", cli_cmd_import,
     "import --account A [--product P] [--auto-renew] [--p12-password-file F] PATH...  "
     "certificates servers already have"},
};

static void usage_all(FILE *f)
{
    size_t i;

    fprintf(f, "usage: certinext COMMAND [--store PATH] ...\n\ncommands:\n");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  certinext %s\n", commands[i].help);
    fprintf(f, "\nThe store is --store PATH|URI or $CERTINEXT_STORE (a SQLite file, or a "
               "postgresql:// URI);\nits key --key-file FILE or $CERTINEXT_KEY_FILE (default "
               "for a file: PATH.key).\nCOMMAND --help for details.\n");
}

int main(int argc, char **argv)
{
    size_t i;

    store_path = getenv("CERTINEXT_STORE");
    key_file = getenv("CERTINEXT_KEY_FILE");
    if (key_file && !*key_file)
        key_file = NULL;
    /* a global --store and --key-file (or --opt=VALUE) may come before the command */
    for (;;) {
        const char **dst = NULL;
        size_t len = 0;
        if (argc >= 2 && !strncmp(argv[1], "--store", 7))
            dst = &store_path, len = 7;
        else if (argc >= 2 && !strncmp(argv[1], "--key-file", 10))
            dst = &key_file, len = 10;
        if (!dst)
            break;
        if (argv[1][len] == '=') {
            *dst = argv[1] + len + 1;
            argv++;
            argc--;
        } else if (!argv[1][len] && argc >= 3) {
            *dst = argv[2];
            argv += 2;
            argc -= 2;
        } else {
            break;
        }
    }
    if (argc < 2) {
        usage_all(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage_all(stdout);
        return 0;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "certinext: unknown command '%s'\n", argv[1]);
    usage_all(stderr);
    return 2;
}
