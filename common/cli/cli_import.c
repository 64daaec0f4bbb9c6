/* cli_import.c - `certinext import` and `certinext account set` (AutoSSL policy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cin_autossl.h"
#include "cin_crypto.h"
#include "cin_import.h"
#include "cli.h"

/* ---- account set A --auto-certificate PRODUCT|none [--include-www] ------------ */

/* account set NAME --auto-certificate PRODUCT|none [--include-www] (certinext.c's
 * account set parses the options) */
int cli_account_autossl(cin_store *st, const char *account, const char *auto_product, int www,
                        cin_problem *p)
{
    const char *product = strcmp(auto_product, "none") ? auto_product : NULL;
    int rc = cin_autossl_policy_set(st, &cli_actor, account, product, www, p);

    if (rc != CIN_OK)
        return rc;
    if (product)
        printf("account %s: every domain gets a %s certificate automatically%s\n", account, product,
               www ? " (with www.)" : "");
    else
        printf("account %s: AutoSSL off\n", account);
    return CIN_OK;
}

/* ---- import --------------------------------------------------------------------- */

struct import_opts {
    const char *account, *product, *p12_file;
    int auto_renew, quiet;
};

static int import_opt(int c, const char *arg, void *ud)
{
    struct import_opts *o = ud;

    switch (c) {
    case 'a':
        o->account = arg;
        break;
    case 'p':
        o->product = arg;
        break;
    case 'P':
        o->p12_file = arg;
        break;
    case 'r':
        o->auto_renew = 1;
        break;
    case 'q':
        o->quiet = 1;
        break;
    }
    return 0;
}

typedef struct import_run {
    cin_store *st;
    const struct import_opts *o;
    long imported, present, failed;
} import_run;

static int import_one(void *ud, const char *source, const char *chain, const char *key)
{
    import_run *r = ud;
    cin_import_request req = {r->o->account, r->o->product, chain, key, source, r->o->auto_renew};
    cin_problem p = {0};
    cin_order o;
    size_t i;
    int rc;

    if (!chain || !key) {
        r->failed++;
        fprintf(stderr,
                "certinext: %s: cannot open this PKCS#12 file (a wrong --p12-password-file, or "
                "an old encryption: convert it with openssl pkcs12 -legacy)\n",
                source);
        return 0;
    }
    rc = cin_order_import(r->st, &cli_actor, &req, &o, &p);

    if (rc == CIN_OK) {
        r->imported++;
        if (!r->o->quiet) {
            printf("imported R-%06lld %s", (long long)o.id, o.product);
            for (i = 0; i < o.nsans; i++)
                printf("%s%s", i ? "," : " ", o.sans[i]);
            printf(" from %s\n", source);
        }
    } else if (rc == CIN_EEXIST) {
        r->present++;
        if (!r->o->quiet)
            printf("already there %s: %s\n", source, p.detail ? p.detail : "");
    } else {
        r->failed++;
        fprintf(stderr, "certinext: %s: %s\n", source, p.detail ? p.detail : cin_strstatus(rc));
    }
    cin_order_clear(&o);
    cin_problem_clear(&p);
    return 0;
}

/* The PKCS#12 password: the file's first line (a secret, wiped after use). */
static char *read_password(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (!f)
        return NULL;
    n = getline(&line, &cap, f);
    fclose(f);
    if (n < 0) {
        free(line);
        return strdup("");
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

int cli_cmd_import(int argc, char **argv)
{
    static const char usage[] =
        "certinext import --account A [--product P] [--auto-renew] [--p12-password-file F] "
        "[--quiet] PATH...";
    static const struct option opts[] = {{"account", required_argument, NULL, 'a'},
                                         {"product", required_argument, NULL, 'p'},
                                         {"p12-password-file", required_argument, NULL, 'P'},
                                         {"auto-renew", no_argument, NULL, 'r'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {NULL, 0, NULL, 0}};
    struct import_opts o = {0};
    import_run run = {0};
    struct timespec t0, t1;
    char *pass = NULL;
    int rc, i, missing = 0;

    rc = cli_getopt(argc, argv, usage, opts, import_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!o.account) {
        cli_usage_error(usage, "--account is required");
        return 2;
    }
    if (optind >= argc) {
        cli_usage_error(usage, "give at least one PATH");
        return 2;
    }
    if (o.p12_file && !(pass = read_password(o.p12_file))) {
        fprintf(stderr, "certinext: cannot read %s\n", o.p12_file);
        return 1;
    }
    if (cli_open(&run.st) != CIN_OK) {
        if (pass)
            cin_free_secret(pass, strlen(pass));
        return 1;
    }
    run.o = &o;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = optind; i < argc; i++) {
        char *err = NULL;
        rc = cin_import_scan(argv[i], pass, import_one, &run, &err);
        if (rc != CIN_OK) {
            fprintf(stderr, "certinext: %s\n", err ? err : cin_strstatus(rc));
            missing++;
        }
        free(err);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cin_store_close(run.st);
    if (pass)
        cin_free_secret(pass, strlen(pass));
    printf("imported %ld, already there %ld, failed %ld in %.2f s\n", run.imported, run.present,
           run.failed + missing,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return run.failed || missing ? 1 : 0;
}
