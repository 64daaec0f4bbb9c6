/* cli_acme.c - `certinext acme credential create|list|delete`: ACME credentials as the provider. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_acmesrv.h"
#include "cin_crypto.h"
#include "cli.h"

static const char usage[] =
    "certinext acme credential create --user U [--name N] [--product P] [--auto-pay] "
    "[--fields JSON] [--json]"
    " | acme credential list --account A [--json] | acme credential delete ID";

struct acme_opts {
    const char *user, *name, *product, *account, *fields;
    int auto_pay, json;
};

static int acme_opt(int c, const char *arg, void *ud)
{
    struct acme_opts *o = ud;

    if (c == 'u')
        o->user = arg;
    else if (c == 'n')
        o->name = arg;
    else if (c == 'p')
        o->product = arg;
    else if (c == 'a')
        o->account = arg;
    else if (c == 'y')
        o->auto_pay = 1;
    else if (c == 'j')
        o->json = 1;
    else if (c == 'f')
        o->fields = arg;
    else
        return 1;
    return 0;
}

static int create(cin_store *st, const struct acme_opts *o)
{
    acmesrv_cred_fields f = {.name = o->name ? o->name : "cli",
                             .product = o->product,
                             .auto_pay = o->auto_pay,
                             .user = o->user};
    cin_problem p = {0};
    acmesrv_cred c;
    char *hmac = NULL;
    json_t *j, *fields = NULL;
    int rc;

    if (o->fields) {
        /* the custom field values its ACME orders carry: {"cost_centre": "CC-9"} */
        fields = json_loads(o->fields, 0, NULL);
        if (!json_is_object(fields)) {
            json_decref(fields);
            cli_usage_error(usage, "--fields takes a JSON object of name: value");
            return 2;
        }
        f.fields = fields;
    }
    rc = acmesrv_cred_create(st, &cli_actor, 0, &f, &c, &hmac, &p);
    json_decref(fields);
    if (rc != CIN_OK)
        return cli_problem(&p);
    if (o->json) {
        char *s;
        j = acmesrv_cred_json(&c);
        json_object_set_new(j, "hmac_key", json_string(hmac));
        s = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", s);
        cin_free_secret(s, strlen(s));
        json_decref(j);
    } else {
        printf("id:       %lld\nkey_id:   %s\nhmac_key: %s\nuser:     %s\n", (long long)c.id,
               c.key_id, hmac, c.user);
    }
    cin_free_secret(hmac, strlen(hmac));
    acmesrv_cred_clear(&c);
    return 0;
}

static int list(cin_store *st, const struct acme_opts *o)
{
    cin_account acct;
    acmesrv_cred *v = NULL;
    size_t n = 0, i;
    json_t *arr;
    int rc = cin_store_account_get(st, o->account, &acct);

    if (rc != CIN_OK) {
        fprintf(stderr, "certinext: %s\n",
                rc == CIN_ENOTFOUND ? "no such account" : cin_strstatus(rc));
        return 1;
    }
    rc = acmesrv_cred_list(st, acct.id, 0, &v, &n);
    cin_account_clear(&acct);
    if (rc != CIN_OK) {
        fprintf(stderr, "certinext: %s\n", cin_strstatus(rc));
        return 1;
    }
    arr = json_array();
    for (i = 0; i < n; i++) {
        if (!o->json)
            printf("%lld\t%s\t%s\t%s\t%s%s\n", (long long)v[i].id, v[i].key_id, v[i].user,
                   v[i].name, v[i].product ? v[i].product : "-", v[i].auto_pay ? "\tauto-pay" : "");
        json_array_append_new(arr, acmesrv_cred_json(&v[i]));
    }
    if (o->json) {
        json_t *j = json_pack("{s:o}", "credentials", arr);
        char *s = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(j);
    } else {
        json_decref(arr);
    }
    acmesrv_cred_list_free(v, n);
    return 0;
}

int cli_cmd_acme(int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, 'u'},    {"name", required_argument, NULL, 'n'},
        {"product", required_argument, NULL, 'p'}, {"account", required_argument, NULL, 'a'},
        {"auto-pay", no_argument, NULL, 'y'},      {"json", no_argument, NULL, 'j'},
        {"fields", required_argument, NULL, 'f'},  {NULL, 0, NULL, 0}};
    struct acme_opts o = {0};
    cin_problem p = {0};
    const char *verb;
    long long id = 0;
    cin_store *st;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: %s\n", usage);
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "credential") ||
        (strcmp(argv[2], "create") && strcmp(argv[2], "list") && strcmp(argv[2], "delete"))) {
        cli_usage_error(usage, "expected 'acme credential create|list|delete'");
        return 2;
    }
    verb = argv[2];
    rc = cli_getopt(argc - 2, argv + 2, usage, opts, acme_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!strcmp(verb, "create") && !o.user) {
        cli_usage_error(usage, "--user is required");
        return 2;
    }
    if (!strcmp(verb, "list") && !o.account) {
        cli_usage_error(usage, "--account is required");
        return 2;
    }
    if (!strcmp(verb, "delete") &&
        (optind + 1 != argc - 2 || !cli_parse_int(argv[optind + 2], 1, INT64_MAX, &id))) {
        cli_usage_error(usage, "give the credential's id");
        return 2;
    }
    if (strcmp(verb, "delete") && optind < argc - 2) {
        cli_usage_error(usage, "unexpected argument '%s'", argv[optind + 2]);
        return 2;
    }
    if (cli_open(&st) != CIN_OK)
        return 1;
    if (!strcmp(verb, "create")) {
        rc = create(st, &o);
    } else if (!strcmp(verb, "list")) {
        rc = list(st, &o);
    } else {
        rc = acmesrv_cred_remove(st, &cli_actor, (int64_t)id, &p) == CIN_OK ? 0 : cli_problem(&p);
        if (!rc)
            printf("deleted ACME credential %lld\n", id);
    }
    cin_store_close(st);
    return rc;
}
