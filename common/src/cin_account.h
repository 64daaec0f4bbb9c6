/*
 * cin_account.h - the workflow of everything that is not an order: accounts
 * and credits, users, API tokens, domains, settings and logins.
 *
 * Each rule and each audit event lives here once; the REST API and the
 * `certinext` CLI both call these functions, exactly as both call the order
 * workflow (cin_order.h).  Every change is validated first, then written in
 * one transaction together with its audit event; a refusal fills the problem
 * and writes nothing.  Passwords are hashed before a transaction starts.
 *
 * Who may act: an actor with a user acts inside that user's account, as its
 * role allows; an actor without a user is the provider (the CLI, run by the
 * operator) or the system, who may act on any account.
 */
#ifndef CIN_ACCOUNT_H
#define CIN_ACCOUNT_H

#include "cin_problem.h"
#include "cin_store.h"

/* Who is acting, and from where. */
typedef struct cin_actor {
    const cin_user *user; /* NULL: the provider (CLI) or the system (agent) */
    const char *name;     /* when user is NULL: "cli", "agent"... (NULL: "system") */
    const char *peer;     /* the client's address, or the agent's holder name */
} cin_actor;

/* The name an audit event records for a. */
const char *cin_actor_name(const cin_actor *a);
/* 1 when a is an administrator of account_id, or the provider. */
int cin_actor_admin_of(const cin_actor *a, int64_t account_id);

/* Passwords: 8 to 1024 characters. */
#define CIN_PASSWORD_MIN 8
#define CIN_PASSWORD_MAX 1024

/* ---- accounts and credits (the provider) ------------------------------- */

int cin_account_create(cin_store *st, const cin_actor *a, const char *name, int64_t credits,
                       int64_t *id, cin_problem *p);
/* Add (or, negative, take away) credits; *balance (may be NULL) the result. */
int cin_account_credits_add(cin_store *st, const cin_actor *a, const char *account, int64_t delta,
                            int64_t *balance, cin_problem *p);

/* ---- the account hierarchy (resellers and their customers) ----------------- */

/*
 * A sub-account of parent (NULL: the actor's own account; the provider must
 * name one), made by an administrator of parent or of an account above it,
 * or by the provider; first_admin (may be NULL for the provider) becomes its
 * administrator with password (hashed outside the transaction).  A new
 * sub-account requires parent approval and is prepaid.
 */
int cin_account_create_sub(cin_store *st, const cin_actor *a, const char *name, const char *parent,
                           const char *first_admin, const char *password, int64_t *id,
                           cin_problem *p);
/* Set a sub-account's rules: requires_parent_approval and auto_policy (-1:
 * keep), billing "prepaid" | "parent" (NULL: keep).  Only an administrator
 * of an account above it (or the provider) may. */
int cin_account_set_rules(cin_store *st, const cin_actor *a, const char *account,
                          int requires_parent_approval, const char *billing, int auto_policy,
                          cin_problem *p);
/*
 * Move a sub-account, with everything below it, under parent (re-parenting).
 * The provider moves any account; an administrator moves an account below
 * its own to its own account or one below it (404 for what it cannot see).
 * 409 for a cycle (parent is the account or below it), for the same parent,
 * for a tree deeper than sub-accounts may be made (for any account moved),
 * and while a name the subtree holds is
 * delegated from an account it leaves.  The moved account's rules start over
 * as a new sub-account's (parent approval required, prepaid, no automatic
 * ordering): the new parent sets its own.  Its orders pending parent approval
 * wait for the new parent (*pending, may be NULL: how many); approvals the old
 * parent gave stand.  Audited in the account, the old and the new parent.
 */
int cin_account_move(cin_store *st, const cin_actor *a, const char *account, const char *parent,
                     size_t *pending, cin_problem *p);
/* Move amount (> 0) credits from the actor's account to a descendant of it,
 * both ledgers in one transaction. */
int cin_account_credits_transfer(cin_store *st, const cin_actor *a, const char *to, int64_t amount,
                                 cin_problem *p);
/* Load the account named name if the actor may see it: its own, or (an
 * administrator, or the provider) one below it; 404 otherwise. */
int cin_account_visible(cin_store *st, const cin_actor *a, const char *name, cin_account *out,
                        cin_problem *p);

/* What a parent's policy governs in its sub-accounts. */
#define CIN_POLICY_AUTO_RENEW "auto_renew"
#define CIN_POLICY_AUTOSSL    "autossl"
#define CIN_POLICY_AUTO_PAY   "acme_auto_pay"
/*
 * May an automatic process (renewal, AutoSSL, ACME auto_pay: `what`) order
 * and pay without a person in account_id?  1 for a top-level account, for a
 * sub-account that neither needs parent approval nor bills its parent, and
 * for one whose parent allowed it (auto_policy); 0 otherwise; <0 a store
 * error.  Read in the caller's transaction when one is open.
 */
int cin_account_policy_allows(cin_store *st, int64_t account_id, const char *what);
/* The account a payment by account_id is debited from: itself, or while an
 * account bills its parent, that parent.  *payer is filled (clear it). */
int cin_account_payer(cin_store *st, int64_t account_id, cin_account *payer);

/* ---- users -------------------------------------------------------------- */

typedef struct cin_user_fields {
    const char *name;
    const char *role;     /* admin | standard | basic; NULL: keep (update) */
    int signatory;        /* -1: keep (update); create: 0 or 1 */
    int disabled;         /* -1: keep */
    const char *password; /* NULL: none (create) / keep (update) */
} cin_user_fields;

/* Create a user in account_id (an admin of it, or the provider); *out the user. */
int cin_account_user_create(cin_store *st, const cin_actor *a, int64_t account_id,
                            const cin_user_fields *f, cin_user *out, cin_problem *p);
/* Change a user of the actor's account (admins; the provider: any).  A
 * changed password or a disabled user ends every session of that user. */
int cin_account_user_update(cin_store *st, const cin_actor *a, const char *name,
                            const cin_user_fields *f, cin_user *out, cin_problem *p);

/* ---- API tokens ---------------------------------------------------------- */

/* A token for user_id (the actor's own; an admin: any user of the account;
 * the provider: anyone).  *secret is shown once (free with cin_free_secret). */
int cin_account_token_create(cin_store *st, const cin_actor *a, int64_t user_id, const char *name,
                             int expires_in_days, char **secret, cin_token_info *out,
                             cin_problem *p);
/* Delete a token: the actor's own, or (admins) one of the account's. */
int cin_account_token_delete(cin_store *st, const cin_actor *a, int64_t id, cin_problem *p);

/* ---- domains (the provider) ------------------------------------------------- */

int cin_account_domain_add(cin_store *st, const cin_actor *a, const char *account,
                           const char *domain, cin_problem *p);
int cin_account_domain_remove(cin_store *st, const cin_actor *a, const char *domain,
                              cin_problem *p);

/* ---- settings (the provider) ------------------------------------------------ */

/* Known keys only, each with its own validation. */
int cin_account_setting_set(cin_store *st, const cin_actor *a, const char *key, const char *value,
                            cin_problem *p);

/* ---- logins -------------------------------------------------------------------- */

typedef struct cin_login {
    cin_user user;
    char *session_id; /* the cookie's value: a secret */
    char *csrf;       /* a secret */
} cin_login;

/*
 * A web page login: throttled (a slot is reserved before the password is
 * checked: 429 rate_limited with retry_after when the (user, peer) pair has 5,
 * the peer 20 or the user 50 failed-or-in-flight checks in 15 minutes), then
 * the password checked outside any transaction, then a session of ttl
 * seconds.  401 on wrong credentials.  Free out with cin_login_clear.
 */
int cin_account_login(cin_store *st, const char *name, const char *password, const char *peer,
                      int ttl, cin_login *out, cin_problem *p);
void cin_login_clear(cin_login *l);

#endif
