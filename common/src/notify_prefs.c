/*
 * notify_prefs.c - who gets which notification e-mail (issue 15, round 2).
 *
 * A user opts out per event (users.notify_off: the event names, space-separated)
 * rather than all or nothing (users.notify still mutes everything). An account's
 * administrator sets the address of any user of the account, and the account's own
 * addresses (accounts.notify_emails), which receive the administrators' e-mails: an
 * order waiting for approval, expiry warnings, failed renewals. The provider (the
 * CLI) does the same for any account. Checked in the transaction that writes.
 */
#include <stdlib.h>
#include <string.h>

#include "cin_notify.h"
#include "cin_util.h"
#include "db.h"

const char *const cin_mail_events[] = {"order.created",
                                       "order.approved",
                                       "order.rejected",
                                       "order.issued",
                                       "order.expiring",
                                       "order.renewal_failed",
                                       NULL};

int cin_mail_event_known(const char *e)
{
    size_t i;

    for (i = 0; e && cin_mail_events[i]; i++)
        if (!strcmp(cin_mail_events[i], e))
            return 1;
    return 0;
}

void cin_notify_prefs_clear(cin_notify_prefs *p)
{
    if (!p)
        return;
    free(p->user);
    free(p->email);
    free(p->muted);
    free(p->account_emails);
    memset(p, 0, sizeof(*p));
}

/* The account (and user) the caller may work on: themselves; an administrator any
 * user of their account; the provider (no user) any account, named. */
static int target(cin_store *st, const cin_actor *a, const char *account, const char *user,
                  int64_t *account_id, int64_t *user_id, cin_problem *p)
{
    db_stmt *s;
    int rc;

    *account_id = *user_id = 0;
    if (a && a->user) {
        int admin = a->user->role && !strcmp(a->user->role, "admin");
        *account_id = a->user->account_id;
        if (account && *account && strcmp(account, a->user->account ? a->user->account : "")) {
            cin_problem_field(p, 403, "forbidden", "account", "only your own account");
            return CIN_EPERM;
        }
        if (!user || !*user || !strcmp(user, a->user->name)) {
            *user_id = a->user->id;
            return CIN_OK;
        }
        if (!admin) {
            cin_problem_field(p, 403, "forbidden", "user",
                              "only an administrator sets another user's notifications");
            return CIN_EPERM;
        }
    } else {
        if (!account || !*account) {
            cin_problem_field(p, 400, "bad_request", "account", "name the account");
            return CIN_EINVAL;
        }
        s = db_prepare(st, "SELECT id FROM accounts WHERE name = ?1");
        db_bind_text(s, 1, account);
        rc = db_one(s);
        *account_id = rc == CIN_OK ? db_col_int(s, 0) : 0;
        db_finalize(s);
        if (rc != CIN_OK) {
            cin_problem_field(p, rc == CIN_ENOTFOUND ? 404 : 500,
                              rc == CIN_ENOTFOUND ? "not_found" : "internal", "account",
                              rc == CIN_ENOTFOUND ? "no account named %s" : "the store failed",
                              account);
            return rc;
        }
        if (!user || !*user)
            return CIN_OK;
    }
    s = db_prepare(st, "SELECT id FROM users WHERE account_id = ?1 AND name = ?2");
    db_bind_int(s, 1, *account_id);
    db_bind_text(s, 2, user);
    rc = db_one(s);
    *user_id = rc == CIN_OK ? db_col_int(s, 0) : 0;
    db_finalize(s);
    if (rc == CIN_ENOTFOUND)
        cin_problem_field(p, 404, "not_found", "user", "no user named %s in this account", user);
    else if (rc != CIN_OK)
        cin_problem_from_status(p, rc);
    return rc;
}

static int is_admin_or_provider(const cin_actor *a)
{
    return !a || !a->user || (a->user->role && !strcmp(a->user->role, "admin"));
}

int cin_notify_get(cin_store *st, const cin_actor *a, const char *account, const char *user,
                   cin_notify_prefs *out, cin_problem *p)
{
    int64_t aid, uid;
    db_stmt *s;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = target(st, a, account, user, &aid, &uid, p)) != CIN_OK)
        return rc;
    if (uid) {
        s = db_prepare(st, "SELECT name, email, notify, notify_off FROM users WHERE id = ?1");
        db_bind_int(s, 1, uid);
        rc = db_one(s);
        if (rc == CIN_OK) {
            out->user = db_col_strdup(s, 0);
            out->email = db_col_strdup(s, 1);
            out->notify = (int)db_col_int(s, 2);
            out->muted = db_col_strdup(s, 3);
        }
        db_finalize(s);
    }
    if (rc == CIN_OK && is_admin_or_provider(a)) {
        s = db_prepare(st, "SELECT coalesce(notify_emails, '') FROM accounts WHERE id = ?1");
        db_bind_int(s, 1, aid);
        rc = db_one(s);
        if (rc == CIN_OK)
            out->account_emails = db_col_strdup(s, 0);
        db_finalize(s);
        out->has_account = 1;
    }
    if (rc != CIN_OK) {
        cin_notify_prefs_clear(out);
        cin_problem_from_status(p, rc);
    }
    return rc;
}

/* "a b c" of the known events given (refused: an unknown one) */
static int join(const char *const *v, size_t n, const char *sep, int (*ok)(const char *),
                const char *field, const char *what, char **out, cin_problem *p)
{
    size_t i, len = 1;
    char *s;

    *out = NULL;
    for (i = 0; i < n; i++) {
        if (!ok(v[i])) {
            cin_problem_field(p, 400, "bad_request", field, "%.100s is not %s", v[i], what);
            return CIN_EINVAL;
        }
        len += strlen(v[i]) + strlen(sep);
    }
    if (!(s = calloc(1, len)))
        return cin_problem_from_status(p, CIN_ENOMEM), CIN_ENOMEM;
    for (i = 0; i < n; i++) {
        if (i)
            strcat(s, sep);
        strcat(s, v[i]);
    }
    *out = s;
    return CIN_OK;
}

static int an_address(const char *e)
{
    return cin_email_valid(e);
}

int cin_notify_set(cin_store *st, const cin_actor *a, const char *account,
                   const cin_notify_change *ch, cin_problem *p)
{
    char *muted = NULL, *emails = NULL;
    int64_t aid, uid;
    db_stmt *s;
    int rc;

    if (ch->set_email && ch->email && *ch->email && !cin_email_valid(ch->email)) {
        cin_problem_field(p, 400, "bad_request", "email", "this is not an e-mail address");
        return CIN_EINVAL;
    }
    if (ch->muted && (rc = join(ch->muted, ch->nmuted, " ", cin_mail_event_known, "muted",
                                "an e-mail event", &muted, p)) != CIN_OK)
        return rc;
    if (ch->account_emails &&
        (rc = join(ch->account_emails, ch->naccount_emails, ",", an_address, "account_emails",
                   "an e-mail address", &emails, p)) != CIN_OK) {
        free(muted);
        return rc;
    }
    if ((rc = cin_store_begin(st)) != CIN_OK) {
        free(muted);
        free(emails);
        return cin_problem_from_status(p, rc), rc;
    }
    rc = target(st, a, account, ch->user, &aid, &uid, p);
    if (rc == CIN_OK && ch->account_emails && !is_admin_or_provider(a)) {
        cin_problem_field(p, 403, "forbidden", "account_emails",
                          "only an administrator sets the account's addresses");
        rc = CIN_EPERM;
    }
    if (rc == CIN_OK && !uid && (ch->set_email || ch->notify >= 0 || ch->muted)) {
        cin_problem_field(p, 400, "bad_request", "user", "name the user");
        rc = CIN_EINVAL;
    }
    if (rc == CIN_OK && ch->set_email) {
        s = db_prepare(st, "UPDATE users SET email = ?2 WHERE id = ?1");
        db_bind_int(s, 1, uid);
        db_bind_text(s, 2, ch->email && *ch->email ? ch->email : NULL);
        rc = db_run(s);
    }
    if (rc == CIN_OK && ch->notify >= 0) {
        s = db_prepare(st, "UPDATE users SET notify = ?2 WHERE id = ?1");
        db_bind_int(s, 1, uid);
        db_bind_int(s, 2, ch->notify ? 1 : 0);
        rc = db_run(s);
    }
    if (rc == CIN_OK && muted) {
        s = db_prepare(st, "UPDATE users SET notify_off = ?2 WHERE id = ?1");
        db_bind_int(s, 1, uid);
        db_bind_text(s, 2, muted);
        rc = db_run(s);
    }
    if (rc == CIN_OK && emails) {
        s = db_prepare(st, "UPDATE accounts SET notify_emails = ?2 WHERE id = ?1");
        db_bind_int(s, 1, aid);
        db_bind_text(s, 2, *emails ? emails : NULL);
        rc = db_run(s);
    }
    if (rc != CIN_OK && !p->status)
        cin_problem_from_status(p, rc);
    rc = cin_store_end(st, rc);
    if (rc != CIN_OK && !p->status)
        cin_problem_from_status(p, rc);
    free(muted);
    free(emails);
    return rc;
}
