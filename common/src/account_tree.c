/*
 * account_tree.c - resellers and their customers: sub-accounts, the rules a
 * parent sets for them (parent approval, billing, automatic ordering) and
 * credits a parent moves down (cin_account.h).
 *
 * An account's place is its path of ids from the root ("/1/5/9/"): the
 * accounts above it are its path's prefixes, so "may this administrator act
 * here" is a string test that needs no query, and every rule is read again
 * in the transaction that acts on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_account.h"
#include "cin_store_order.h"
#include "cin_util.h"

#define MAX_DEPTH 16

static int is_admin_user(const cin_actor *a)
{
    return a && a->user && !strcmp(a->user->role, "admin");
}

/* Begin, or the store's problem. */
static int tx_begin(cin_store *st, cin_problem *p)
{
    int rc = cin_store_begin(st);

    return rc == CIN_OK ? CIN_OK : cin_problem_from_status(p, rc);
}

/* End as rc says; a failed commit, or a failure without a problem, is the store's. */
static int tx_end(cin_store *st, int rc, cin_problem *p)
{
    rc = cin_store_end(st, rc);
    if (rc != CIN_OK && p && !p->status)
        cin_problem_from_status(p, rc);
    return rc;
}

static int audit(cin_store *st, const cin_actor *a, int64_t account_id, const char *action,
                 const char *detail)
{
    return cin_store_event_add(st, account_id, 0, cin_actor_name(a), action, a ? a->peer : NULL,
                               detail);
}

int cin_account_visible(cin_store *st, const cin_actor *a, const char *name, cin_account *out,
                        cin_problem *p)
{
    int rc = cin_store_account_get(st, name ? name : "", out);

    if (rc == CIN_OK && a && a->user && out->id != a->user->account_id &&
        !(is_admin_user(a) && cin_account_path_below(a->user->account_path, out->path))) {
        cin_account_clear(out);
        rc = CIN_ENOTFOUND;
    }
    if (rc == CIN_ENOTFOUND)
        cin_problem_field(p, 404, "not_found", "account", "no account named %s", name ? name : "");
    else if (rc != CIN_OK)
        cin_problem_from_status(p, rc);
    return rc;
}

/* The account named name, which the actor administers from above (the
 * provider: any sub-account).  404 when the actor may not see it, 403 when
 * it is the actor's own (a sub-account does not set its own rules). */
static int below_actor(cin_store *st, const cin_actor *a, const char *name, cin_account *acct,
                       cin_problem *p)
{
    int rc = cin_account_visible(st, a, name, acct, p);

    if (rc != CIN_OK)
        return rc;
    if (a && a->user && acct->id == a->user->account_id) {
        cin_problem_set(p, 403, "forbidden",
                        "only an administrator of the parent account may do this for %s",
                        acct->name);
        cin_account_clear(acct);
        return CIN_EPERM;
    }
    if (!acct->parent_id) {
        cin_problem_field(p, 409, "conflict", "account", "%s is not a sub-account", acct->name);
        cin_account_clear(acct);
        return CIN_ECONFLICT;
    }
    return CIN_OK;
}

int cin_account_create_sub(cin_store *st, const cin_actor *a, const char *name, const char *parent,
                           const char *first_admin, const char *password, int64_t *id,
                           cin_problem *p)
{
    cin_account par;
    char *hash = NULL, *err = NULL, detail[200];
    int64_t nid = 0, uid = 0;
    int rc;

    memset(&par, 0, sizeof(par));
    if (a && a->user && !is_admin_user(a)) {
        cin_problem_set(p, 403, "forbidden", "only an administrator creates sub-accounts");
        return CIN_EPERM;
    }
    if (!name || !cin_valid_username(name)) {
        cin_problem_field(p, 400, "bad_request", "name",
                          "an account name is 1 to 64 characters of a-z 0-9 . _ -");
        return CIN_EINVAL;
    }
    if (!parent && !(a && a->user)) {
        cin_problem_field(p, 400, "bad_request", "parent", "name the parent account");
        return CIN_EINVAL;
    }
    if (a && a->user && !first_admin) {
        cin_problem_field(p, 400, "bad_request", "admin",
                          "a sub-account needs its first administrator: name and password");
        return CIN_EINVAL;
    }
    if (first_admin && !cin_valid_username(first_admin)) {
        cin_problem_field(p, 400, "bad_request", "admin",
                          "a user name is 1 to 64 characters of a-z 0-9 . _ -");
        return CIN_EINVAL;
    }
    if (first_admin) {
        size_t n = password ? strlen(password) : 0;
        if (n < CIN_PASSWORD_MIN || n > CIN_PASSWORD_MAX) {
            cin_problem_field(p, 400, "bad_request", "password",
                              "a password has %d to %d characters", CIN_PASSWORD_MIN,
                              CIN_PASSWORD_MAX);
            return CIN_EINVAL;
        }
        /* scrypt outside the transaction */
        hash = cin_password_hash(password);
        if (!hash)
            return cin_problem_from_status(p, CIN_ENOMEM);
    }
    if ((rc = tx_begin(st, p)) != CIN_OK)
        goto done;
    rc = cin_account_visible(st, a, parent ? parent : a->user->account, &par, p);
    if (rc == CIN_OK && par.path && strlen(par.path) > MAX_DEPTH * 8) {
        cin_problem_field(p, 409, "conflict", "parent", "the hierarchy is too deep below %s",
                          par.name);
        rc = CIN_ECONFLICT;
    }
    if (rc == CIN_OK) {
        rc = cin_store_account_create(st, name, 0, &nid, &err);
        if (rc == CIN_EEXIST)
            cin_problem_field(p, 409, "conflict", "name", "an account named %s already exists",
                              name);
    }
    if (rc == CIN_OK)
        rc = cin_store_account_set_parent(st, nid, par.id);
    if (rc == CIN_OK && first_admin) {
        free(err);
        err = NULL;
        rc = cin_store_user_create(st, nid, first_admin, "admin", 0, hash, &uid, &err);
        if (rc == CIN_EEXIST)
            cin_problem_field(p, 409, "conflict", "admin", "a user named %s already exists",
                              first_admin);
    }
    snprintf(detail, sizeof(detail), "%s, sub-account of %s", name, par.name ? par.name : "");
    if (rc == CIN_OK)
        rc = audit(st, a, nid, "account.create", detail);
    if (rc == CIN_OK)
        rc = audit(st, a, par.id, "account.create_sub", name);
    if (rc == CIN_OK && first_admin)
        rc = audit(st, a, nid, "user.create", first_admin);
    rc = tx_end(st, rc, p);
    if (rc == CIN_OK && id)
        *id = nid;
done:
    cin_account_clear(&par);
    if (hash)
        cin_free_secret(hash, strlen(hash));
    free(err);
    return rc;
}

/* A change that lets an account spend more freely: billing its parent, no
 * parent approval, automatic ordering allowed. */
static int loosens(int requires_parent_approval, const char *billing, int auto_policy)
{
    return requires_parent_approval == 0 || auto_policy == 1 ||
           (billing && !strcmp(billing, "parent"));
}

/*
 * Whoever loosens an account's rules spends the money of the account that
 * pays for it: when that payer is above the actor's own account (a
 * sub-account that itself bills its parent, setting up a grandchild), only
 * an administrator of the payer, or above it, may.  Read after the change,
 * in its transaction, so the payer is the one the change makes.
 */
static int payer_consents(cin_store *st, const cin_actor *a, int64_t account_id, cin_problem *p)
{
    cin_account payer;
    int rc, ok;

    if (!a || !a->user)
        return CIN_OK; /* the provider (CLI): every account is its own */
    rc = cin_account_payer(st, account_id, &payer);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    ok = payer.id == account_id || payer.id == a->user->account_id ||
         cin_account_path_below(a->user->account_path, payer.path);
    if (!ok)
        cin_problem_field(p, 403, "forbidden", "billing",
                          "%s pays for this account's orders; only an administrator of %s may "
                          "let it bill its parent, skip parent approval or order automatically",
                          payer.name, payer.name);
    cin_account_clear(&payer);
    return ok ? CIN_OK : CIN_EPERM;
}

/* ---- re-parenting ---------------------------------------------------------- */

/* The length of the parent's part of a path ("/1/5/9/": 5, "/1/5/"). */
static size_t parent_len(const char *path)
{
    size_t n = path ? strlen(path) : 0;

    if (n < 2)
        return 0;
    for (n -= 2; n > 0 && path[n] != '/'; n--)
        ;
    return n + 1;
}

/*
 * Would the subtree at acct, moved to below par, break the depth limit that
 * making sub-accounts keeps (a parent's path of at most MAX_DEPTH * 8
 * characters)?  Every node's parent path grows by the same amount.
 */
static int too_deep(const cin_account *acct, const cin_account *sub, size_t nsub,
                    const cin_account *par)
{
    size_t grow_to = strlen(par->path), from = parent_len(acct->path), worst = from, i;

    for (i = 0; i < nsub; i++)
        if (parent_len(sub[i].path) > worst)
            worst = parent_len(sub[i].path);
    return grow_to + (worst - from) > MAX_DEPTH * 8;
}

/* Is account id in path ("/1/5/9/")? */
static int in_path(const char *path, int64_t id)
{
    char seg[32];

    snprintf(seg, sizeof(seg), "/%lld/", (long long)id);
    return path && strstr(path, seg) != NULL;
}

/*
 * A name the moved subtree holds by delegation from an account that stays
 * behind (above the account now, not above its new parent): the move would
 * carry the old parent's domain into an unrelated tree.  CIN_ECONFLICT with p
 * set naming it; CIN_OK when none.
 */
static int delegations_stay(cin_store *st, const cin_account *acct, const cin_account *sub,
                            size_t nsub, const char *new_parent_path, cin_problem *p)
{
    size_t i, j, nn;
    int rc = CIN_OK;

    for (i = 0; rc == CIN_OK && i <= nsub; i++) {
        const cin_account *x = i < nsub ? &sub[i] : acct;
        char **names = NULL;
        rc = cin_store_domain_list(st, x->id, &names, &nn);
        for (j = 0; rc == CIN_OK && j < nn; j++) {
            const char *dot;
            for (dot = strchr(names[j], '.'); rc == CIN_OK && dot; dot = strchr(dot + 1, '.')) {
                int64_t from = 0;
                int r = cin_store_domain_account(st, dot + 1, &from);
                if (r == CIN_ENOTFOUND)
                    continue;
                if (r != CIN_OK) {
                    rc = cin_problem_from_status(p, r);
                } else if (from != acct->id && in_path(acct->path, from) &&
                           !in_path(new_parent_path, from)) {
                    cin_problem_field(p, 409, "conflict", "parent",
                                      "%s is delegated to %s from a domain of an account it "
                                      "leaves; remove the delegation first",
                                      names[j], x->name);
                    rc = CIN_ECONFLICT;
                }
            }
        }
        cin_strv_free(names, nn);
    }
    return rc;
}

/* Every order of acct waiting for its old parent now waits for the new one
 * (the old parent no longer sees it): each says so in its history. */
static int pending_follow(cin_store *st, const cin_actor *a, const cin_account *acct,
                          const char *detail, size_t *moved)
{
    int64_t *ids = NULL;
    size_t n = 0, i;
    int rc = cin_store_account_orders_in(st, acct->id, "pending_parent_approval", &ids, &n);

    for (i = 0; rc == CIN_OK && i < n; i++)
        rc = cin_store_event_add(st, acct->id, ids[i], cin_actor_name(a), "order.parent_changed",
                                 a ? a->peer : NULL, detail);
    *moved = rc == CIN_OK ? n : 0;
    free(ids);
    return rc;
}

int cin_account_move(cin_store *st, const cin_actor *a, const char *account, const char *parent,
                     size_t *pending, cin_problem *p)
{
    cin_account acct, par, *sub = NULL;
    size_t nsub = 0, moved = 0;
    int64_t old_parent;
    char *new_path = NULL, detail[300];
    int rc;

    memset(&acct, 0, sizeof(acct));
    memset(&par, 0, sizeof(par));
    if (pending)
        *pending = 0;
    if (a && a->user && !is_admin_user(a)) {
        cin_problem_set(p, 403, "forbidden", "only an administrator moves sub-accounts");
        return CIN_EPERM;
    }
    if (!parent || !*parent) {
        cin_problem_field(p, 400, "bad_request", "parent", "name the new parent account");
        return CIN_EINVAL;
    }
    if ((rc = tx_begin(st, p)) != CIN_OK)
        return rc;
    /* the provider moves any account (a top-level one joins a tree); an
     * administrator moves what is below its account, to its own or below */
    if (a && a->user)
        rc = below_actor(st, a, account, &acct, p);
    else
        rc = cin_account_visible(st, a, account, &acct, p);
    if (rc == CIN_OK)
        rc = cin_account_visible(st, a, parent, &par, p);
    if (rc == CIN_OK && (par.id == acct.id || cin_account_path_below(acct.path, par.path))) {
        cin_problem_field(p, 409, "conflict", "parent",
                          "%s is %s: an account cannot move below itself", par.name,
                          par.id == acct.id ? "the account itself" : "below the account");
        rc = CIN_ECONFLICT;
    } else if (rc == CIN_OK && par.id == acct.parent_id) {
        cin_problem_field(p, 409, "conflict", "parent", "%s is already under %s", acct.name,
                          par.name);
        rc = CIN_ECONFLICT;
    }
    if (rc == CIN_OK)
        rc = cin_store_account_descendants(st, acct.path, &sub, &nsub);
    if (rc == CIN_OK && too_deep(&acct, sub, nsub, &par)) {
        cin_problem_field(p, 409, "conflict", "parent", "the hierarchy is too deep below %s",
                          par.name);
        rc = CIN_ECONFLICT;
    } else if (rc != CIN_OK && !p->status) {
        cin_problem_from_status(p, rc);
    }
    if (rc == CIN_OK)
        rc = delegations_stay(st, &acct, sub, nsub, par.path, p);
    if (rc == CIN_OK && !(new_path = cin_asprintf("%s%lld/", par.path, (long long)acct.id)))
        rc = cin_problem_from_status(p, CIN_ENOMEM);
    old_parent = acct.parent_id;
    if (rc == CIN_OK)
        rc = cin_store_account_move(st, acct.id, acct.path, par.id, new_path);
    snprintf(detail, sizeof(detail), "%s moved from %s to %s", acct.name ? acct.name : "",
             acct.parent ? acct.parent : "the top level", par.name ? par.name : "");
    if (rc == CIN_OK)
        rc = pending_follow(st, a, &acct, detail, &moved);
    /* the audit of the account and of both parents */
    if (rc == CIN_OK)
        rc = audit(st, a, acct.id, "account.move", detail);
    if (rc == CIN_OK && old_parent)
        rc = audit(st, a, old_parent, "account.move_out", detail);
    if (rc == CIN_OK)
        rc = audit(st, a, par.id, "account.move_in", detail);
    rc = tx_end(st, rc, p);
    if (rc == CIN_OK && pending)
        *pending = moved;
    free(new_path);
    cin_account_list_free(sub, nsub);
    cin_account_clear(&acct);
    cin_account_clear(&par);
    return rc;
}

int cin_account_set_rules(cin_store *st, const cin_actor *a, const char *account,
                          int requires_parent_approval, const char *billing, int auto_policy,
                          cin_problem *p)
{
    cin_account acct;
    char detail[200];
    int rc;

    memset(&acct, 0, sizeof(acct));
    if (a && a->user && !is_admin_user(a)) {
        cin_problem_set(p, 403, "forbidden", "only an administrator of the parent account may");
        return CIN_EPERM;
    }
    if (billing && strcmp(billing, "prepaid") && strcmp(billing, "parent")) {
        cin_problem_field(p, 400, "bad_request", "billing",
                          "billing is prepaid (its own credits) or parent (the parent pays)");
        return CIN_EINVAL;
    }
    if ((rc = tx_begin(st, p)) != CIN_OK)
        return rc;
    rc = below_actor(st, a, account, &acct, p);
    if (rc == CIN_OK)
        rc = cin_store_account_set_rules(st, acct.id, requires_parent_approval, billing,
                                         auto_policy);
    if (rc == CIN_OK && loosens(requires_parent_approval, billing, auto_policy))
        rc = payer_consents(st, a, acct.id, p);
    snprintf(detail, sizeof(detail),
             "requires_parent_approval %s, billing %s, automatic ordering %s",
             requires_parent_approval < 0 ? "kept"
             : requires_parent_approval   ? "yes"
                                          : "no",
             billing ? billing : "kept",
             auto_policy < 0 ? "kept"
             : auto_policy   ? "allowed"
                             : "not allowed");
    if (rc == CIN_OK)
        rc = audit(st, a, acct.id, "account.rules", detail);
    if (rc == CIN_OK && acct.parent_id)
        rc = audit(st, a, acct.parent_id, "account.rules", acct.name);
    rc = tx_end(st, rc, p);
    cin_account_clear(&acct);
    return rc;
}

int cin_account_credits_transfer(cin_store *st, const cin_actor *a, const char *to, int64_t amount,
                                 cin_problem *p)
{
    cin_account dst, src;
    char why[200];
    int64_t bal = 0;
    int rc;

    memset(&dst, 0, sizeof(dst));
    memset(&src, 0, sizeof(src));
    if (!is_admin_user(a)) {
        cin_problem_set(p, 403, "forbidden",
                        "only an administrator moves credits to a sub-account");
        return CIN_EPERM;
    }
    if (amount <= 0) {
        cin_problem_field(p, 400, "bad_request", "amount", "move a positive number of credits");
        return CIN_EINVAL;
    }
    if ((rc = tx_begin(st, p)) != CIN_OK)
        return rc;
    rc = cin_account_visible(st, a, to, &dst, p);
    if (rc == CIN_OK && dst.id == a->user->account_id) {
        cin_problem_field(p, 400, "bad_request", "account",
                          "credits move from your account to one of its sub-accounts");
        rc = CIN_EINVAL;
    }
    if (rc == CIN_OK) {
        rc = cin_store_account_get_id(st, a->user->account_id, &src);
        if (rc != CIN_OK)
            cin_problem_from_status(p, rc);
    }
    if (rc == CIN_OK) {
        snprintf(why, sizeof(why), "credits to sub-account %s", dst.name);
        rc = cin_store_credits_move(st, src.id, -amount, 0, why, cin_actor_name(a), &bal);
        if (rc == CIN_ECREDITS)
            cin_problem_field(p, 402, "insufficient_credits", "amount",
                              "%s has %lld credits; it cannot give %lld", src.name,
                              (long long)src.credits, (long long)amount);
    }
    if (rc == CIN_OK) {
        snprintf(why, sizeof(why), "credits from %s", src.name);
        rc = cin_store_credits_move(st, dst.id, amount, 0, why, cin_actor_name(a), NULL);
    }
    snprintf(why, sizeof(why), "%lld credits to %s", (long long)amount, dst.name);
    if (rc == CIN_OK)
        rc = audit(st, a, src.id, "credits.transfer", why);
    if (rc == CIN_OK)
        rc = audit(st, a, dst.id, "credits.transfer", why);
    rc = tx_end(st, rc, p);
    cin_account_clear(&dst);
    cin_account_clear(&src);
    return rc;
}

int cin_account_payer(cin_store *st, int64_t account_id, cin_account *payer)
{
    int depth, rc = cin_store_account_get_id(st, account_id, payer);

    for (depth = 0; rc == CIN_OK && depth < MAX_DEPTH && payer->parent_id && payer->billing &&
                    !strcmp(payer->billing, "parent");
         depth++) {
        int64_t up = payer->parent_id;
        cin_account_clear(payer);
        rc = cin_store_account_get_id(st, up, payer);
    }
    if (rc != CIN_OK)
        cin_account_clear(payer);
    return rc;
}

int cin_account_policy_allows(cin_store *st, int64_t account_id, const char *what)
{
    cin_account acct;
    int rc = cin_store_account_get_id(st, account_id, &acct), ok;

    (void)what; /* one policy covers renewal, AutoSSL and auto_pay alike */
    if (rc != CIN_OK)
        return rc;
    ok = !acct.parent_id ||
         (!acct.requires_parent_approval && acct.billing && !strcmp(acct.billing, "prepaid")) ||
         acct.auto_policy;
    cin_account_clear(&acct);
    return ok;
}
