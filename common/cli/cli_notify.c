/* cli_notify.c - certinext notifications (issue 15): the provider reads and sets a
 * user's notification address and the events they opted out of, and an account's
 * own addresses (which get the administrators' e-mails). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_notify.h"
#include "cli.h"

#define MAX_LIST 20

typedef struct {
    const char *account, *user, *email, *notify, *mute, *emails;
} nopts;

static int on_opt(int c, const char *arg, void *ud)
{
    nopts *o = ud;

    switch (c) {
    case 'a':
        o->account = arg;
        return 0;
    case 'u':
        o->user = arg;
        return 0;
    case 'e':
        o->email = arg;
        return 0;
    case 'n':
        o->notify = arg;
        return 0;
    case 'm':
        o->mute = arg;
        return 0;
    case 'E':
        o->emails = arg;
        return 0;
    default:
        return 1;
    }
}

/* "a,b" into v (pointing into buf); "none" or "" is the empty list; -1: too many */
static int split(char *buf, const char **v)
{
    char *tok, *save = NULL;
    int n = 0;

    if (!strcmp(buf, "none"))
        return 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == MAX_LIST)
            return -1;
        v[n++] = tok;
    }
    return n;
}

int cli_cmd_notifications(int argc, char **argv)
{
    static const char usage[] =
        "certinext notifications --account A [--user U] [--email ADDRESS|none]"
        " [--notify yes|no] [--mute EVENT,...|none] [--account-emails ADDRESS,...|none]";
    static const struct option extra[] = {{"account", required_argument, NULL, 'a'},
                                          {"user", required_argument, NULL, 'u'},
                                          {"email", required_argument, NULL, 'e'},
                                          {"notify", required_argument, NULL, 'n'},
                                          {"mute", required_argument, NULL, 'm'},
                                          {"account-emails", required_argument, NULL, 'E'},
                                          {NULL, 0, NULL, 0}};
    nopts o = {0};
    cin_notify_change ch = {0};
    cin_notify_prefs pr = {0};
    cin_problem p = {0};
    const char *muted[MAX_LIST], *emails[MAX_LIST];
    char *mbuf = NULL, *ebuf = NULL;
    cin_store *st;
    int rc, n;

    rc = cli_getopt(argc, argv, usage, extra, on_opt, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (optind != argc || !o.account) {
        cli_usage_error(usage, "%s", o.account ? "unexpected argument" : "--account is required");
        return 2;
    }
    if (o.notify && strcmp(o.notify, "yes") && strcmp(o.notify, "no")) {
        cli_usage_error(usage, "--notify is yes or no");
        return 2;
    }
    if ((o.email || o.notify || o.mute) && !o.user) {
        cli_usage_error(usage, "--email, --notify and --mute need --user");
        return 2;
    }
    ch.user = o.user;
    ch.notify = o.notify ? !strcmp(o.notify, "yes") : -1;
    if (o.email) {
        ch.set_email = 1;
        ch.email = strcmp(o.email, "none") ? o.email : NULL;
    }
    if (o.mute) {
        mbuf = strdup(o.mute);
        n = mbuf ? split(mbuf, muted) : -1;
        ch.muted = muted;
        ch.nmuted = n > 0 ? (size_t)n : 0;
    }
    if (o.emails && (n = (ebuf = strdup(o.emails)) ? split(ebuf, emails) : -1) >= 0) {
        ch.account_emails = emails;
        ch.naccount_emails = (size_t)n;
    }
    if ((o.mute && ch.nmuted == 0 && strcmp(o.mute, "none") && *o.mute) ||
        (o.emails && !ch.account_emails)) {
        cli_usage_error(usage, "at most %d entries", MAX_LIST);
        free(mbuf);
        free(ebuf);
        return 2;
    }
    if (cli_open(&st) != CIN_OK) {
        free(mbuf);
        free(ebuf);
        return 1;
    }
    rc = CIN_OK;
    if (o.email || o.notify || o.mute || o.emails)
        rc = cin_notify_set(st, &cli_actor, o.account, &ch, &p);
    if (rc == CIN_OK)
        rc = cin_notify_get(st, &cli_actor, o.account, o.user, &pr, &p);
    cin_store_close(st);
    free(mbuf);
    free(ebuf);
    if (rc != CIN_OK)
        return cli_problem(&p);
    if (pr.user)
        printf("user %s: e-mail %s, %s, muted: %s\n", pr.user, pr.email ? pr.email : "(none)",
               pr.notify ? "notifications on" : "every notification off",
               pr.muted && *pr.muted ? pr.muted : "(none)");
    printf("account %s: addresses %s\n", o.account,
           pr.account_emails && *pr.account_emails ? pr.account_emails : "(none)");
    cin_notify_prefs_clear(&pr);
    return 0;
}
