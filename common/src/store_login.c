/*
 * store_login.c - login throttling by reserved slots.
 *
 * A password check costs 16 MB and tens of milliseconds (scrypt), so a
 * guesser must be stopped before the check, whatever the concurrency: each
 * login first reserves a slot in one transaction, counting the failed and
 * in-flight checks of the last window for the (user, peer) pair, the peer
 * and the user.  Over a limit, the login is refused at once and the refusal
 * itself is not counted.  A success releases its slot and clears its pair's
 * failures; a failure keeps its slot, now marked failed, until it leaves the
 * window.  Because the count and the insert are one write transaction, forty
 * parallel guesses reserve at most as many slots as the limits allow.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static int count_since(cin_store *st, const char *sql, const char *a, const char *b, time_t since,
                       int *n, time_t *oldest)
{
    db_stmt *s = db_prepare(st, sql);
    int rc;

    db_bind_int(s, 1, (int64_t)since);
    db_bind_text(s, 2, a);
    if (b)
        db_bind_text(s, 3, b);
    rc = db_one(s);
    if (rc == CIN_OK) {
        *n = (int)db_col_int(s, 0);
        *oldest = (time_t)db_col_int(s, 1);
    }
    db_finalize(s);
    return rc;
}

int cin_store_login_reserve(cin_store *st, const char *user, const char *peer,
                            const cin_login_limits *lim, int64_t *slot, int *retry_after)
{
    time_t now = st_now(st), since = now - lim->window, oldest = 0;
    int n = 0, rc, limited = 0;
    db_stmt *s;

    *slot = 0;
    *retry_after = 0;
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return rc;
    rc = count_since(st,
                     "SELECT count(*), coalesce(min(at), 0) FROM login_attempts"
                     " WHERE at > ?1 AND user_key = ?2 AND peer = ?3",
                     user, peer, since, &n, &oldest);
    if (rc == CIN_OK && n >= lim->per_pair)
        limited = 1;
    if (rc == CIN_OK && !limited) {
        rc = count_since(st,
                         "SELECT count(*), coalesce(min(at), 0) FROM login_attempts"
                         " WHERE at > ?1 AND peer = ?2",
                         peer, NULL, since, &n, &oldest);
        if (rc == CIN_OK && n >= lim->per_peer)
            limited = 1;
    }
    if (rc == CIN_OK && !limited) {
        rc = count_since(st,
                         "SELECT count(*), coalesce(min(at), 0) FROM login_attempts"
                         " WHERE at > ?1 AND user_key = ?2",
                         user, NULL, since, &n, &oldest);
        if (rc == CIN_OK && n >= lim->per_user)
            limited = 1;
    }
    if (rc != CIN_OK || limited) {
        cin_store_rollback(st);
        if (rc != CIN_OK)
            return rc;
        /* every counter stays at or below its limit, so the oldest attempt
         * leaving the window is exactly when a slot frees up */
        *retry_after = (int)(oldest + lim->window - now);
        if (*retry_after < 1)
            *retry_after = 1;
        return CIN_ELIMIT;
    }
    s = db_prepare(st, "INSERT INTO login_attempts(user_key, peer, state, at)"
                       " VALUES (?1, ?2, 'inflight', ?3) RETURNING id");
    db_bind_text(s, 1, user);
    db_bind_text(s, 2, peer);
    db_bind_int(s, 3, (int64_t)now);
    rc = db_one(s);
    if (rc == CIN_OK)
        *slot = db_col_int(s, 0);
    db_finalize(s);
    if (rc == CIN_OK) {
        /* attempts that left the window are history */
        s = db_prepare(st, "DELETE FROM login_attempts WHERE at <= ?1");
        db_bind_int(s, 1, (int64_t)since);
        rc = db_run(s);
    }
    return cin_store_end(st, rc);
}

int cin_store_login_finish(cin_store *st, int64_t slot, int success)
{
    char *user = NULL, *peer = NULL;
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    if (!success) {
        s = db_prepare(st, "UPDATE login_attempts SET state = 'failed' WHERE id = ?1");
        db_bind_int(s, 1, slot);
        return db_run(s);
    }
    /* the slot, and every failure of the same (user, peer) pair */
    s = db_prepare(st, "SELECT user_key, peer FROM login_attempts WHERE id = ?1");
    db_bind_int(s, 1, slot);
    rc = db_one(s);
    if (rc == CIN_OK) {
        user = db_col_strdup(s, 0);
        peer = db_col_strdup(s, 1);
    }
    db_finalize(s);
    if (rc == CIN_ENOTFOUND)
        return CIN_OK; /* left the window meanwhile */
    if (rc == CIN_OK && (!user || !peer))
        rc = CIN_ENOMEM;
    if (rc == CIN_OK) {
        s = db_prepare(st, "DELETE FROM login_attempts WHERE id = ?1 OR"
                           " (state = 'failed' AND user_key = ?2 AND peer = ?3)");
        db_bind_int(s, 1, slot);
        db_bind_text(s, 2, user);
        db_bind_text(s, 3, peer);
        rc = db_run(s);
    }
    free(user);
    free(peer);
    return rc;
}

int cin_store_session_delete_user(cin_store *st, int64_t user_id)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "DELETE FROM sessions WHERE user_id = ?1");
    db_bind_int(s, 1, user_id);
    return db_run(s);
}
