/*
 * cin_store.h - the control store.
 *
 * One store holds everything certinext knows: accounts, domains, users, API
 * tokens, products, orders and their audit events, certificates, encrypted
 * private keys, the credit ledger, agent leases, CA configurations and the
 * generation counter.  The embedded backend is SQLite (WAL, busy timeout,
 * foreign keys, forward migrations keyed on PRAGMA user_version); SQL is kept
 * portable so that a PostgreSQL backend can follow behind the same calls.
 *
 * Concurrency: a cin_store is one connection and belongs to one process and
 * one thread at a time; never carry it across fork().  Writes run inside
 * cin_store_begin()/cin_store_commit(), which starts with BEGIN IMMEDIATE so
 * that contention is a short wait at the start, never a failed commit.
 *
 * Ownership: every struct a cin_store_*_get/list call fills is owned by the
 * caller and released with the matching *_free / *_clear function.
 */
#ifndef CIN_STORE_H
#define CIN_STORE_H

#include "cin_common.h"
#include "cin_crypto.h"

typedef struct cin_store cin_store;

/* 7: ACME server (13); 8: AutoSSL (17); 9: accounts, logins (16); 10-15: challenges,
 * failover, distrust, claims, profiles (14); 16: notifications, webhooks (15);
 * 17: ACME credentials' custom fields (16); 18: ACME authorizations, orders' origin (13);
 * 19: per-event opt-outs, account addresses (15); 20: ARI renewal windows (14) */
#define CIN_SCHEMA_VERSION 20

/*
 * Open the store at path.  The KEK is read from PATH.key and the generation
 * file PATH.gen is mapped (created when missing).  The schema is migrated
 * forward, one transaction per step.  CIN_ENOTFOUND when there is no store at
 * path (cin_store_create makes one).  svc may be NULL.
 */
int cin_store_open(const char *path, const cin_services *svc, cin_store **out, char **err);
/* Same, but stop migrating at schema version max_version (tests use it to
 * build a store "from the previous release"). */
int cin_store_open_version(const char *path, const cin_services *svc, int max_version,
                           cin_store **out, char **err);
/* Open with an already loaded KEK (a server parent reads the KEK before it
 * drops privileges and hands it to its children).  kek may be NULL: secrets
 * then cannot be sealed or opened (CIN_EPERM). */
int cin_store_open_kek(const char *path, const cin_services *svc, const cin_kek *kek,
                       cin_store **out, char **err);
/*
 * The general form.  target is a SQLite file path or a PostgreSQL URI
 * (postgresql://USER@HOST:PORT/DB?..., libpq's multi-host form included).
 * key_file names the key-encryption key (NULL: PATH.key beside a SQLite
 * store; required for PostgreSQL); kek, when given, is an already loaded key
 * (load_kek is then ignored).  create makes a new store (refusing an existing
 * file, key or database store).  The key's fingerprint is recorded in the
 * store and a different key is refused (CIN_EPERM, *err says so).
 */
typedef struct cin_store_opts {
    const char *key_file;
    const cin_kek *kek;
    int load_kek;
    int create;
    int max_version; /* -1: the latest */
} cin_store_opts;
int cin_store_open_opts(const char *target, const cin_services *svc, const cin_store_opts *o,
                        cin_store **out, char **err);
/* Create a new store: refuses to touch an existing PATH or PATH.key. Creates
 * the KEK, the schema and the default product catalog. */
int cin_store_create(const char *path, const cin_services *svc, cin_store **out, char **err);
void cin_store_close(cin_store *st);

int cin_store_schema_version(cin_store *st);
const char *cin_store_path(const cin_store *st);
/* target as a message may show it (a URI's password replaced by ***), malloc'd. */
char *cin_store_display_name(const char *target);
/* The store's name for messages (a URI's password replaced by ***). */
const char *cin_store_name(const cin_store *st);
/* The key the store was opened with (NULL: none). */
const cin_kek *cin_store_kek(const cin_store *st);
/* 1 when target names a central (PostgreSQL) store rather than a file. */
int cin_store_target_is_central(const char *target);
/* 1 for a central (PostgreSQL) store: handshakes then read a host's mirror. */
int cin_store_is_central(const cin_store *st);
const cin_services *cin_store_services(const cin_store *st);

/* Transactions.  begin = BEGIN IMMEDIATE, retried until the busy timeout
 * (CIN_EBUSY after it).  commit publishes a generation bumped inside the
 * transaction.  rollback is safe to call when no transaction is open. */
int cin_store_begin(cin_store *st);
int cin_store_commit(cin_store *st);
void cin_store_rollback(cin_store *st);
/* End the transaction as rc says: commit when CIN_OK (returning the commit's
 * status), roll back otherwise (returning rc). */
int cin_store_end(cin_store *st, int rc);
/* A fleet: wait up to timeout_ms until every live host (its mirror's syncer
 * reported within the last CIN_HOST_LIVE_SECONDS) has mirrored generation
 * gen, so that whichever host a CA reaches answers what gen added.  CIN_OK at
 * once on a SQLite store; CIN_EBUSY after the timeout, *lagging (may be NULL;
 * malloc'd) naming a host still behind. */
#define CIN_HOST_LIVE_SECONDS 30
int cin_store_hosts_wait(cin_store *st, uint64_t gen, int timeout_ms, char **lagging);
/* 1 while a transaction is open on st. */
int cin_store_in_transaction(const cin_store *st);

/* The last error text of the connection (for logs; never contains secrets). */
const char *cin_store_errmsg(cin_store *st);

/* Generation: the stored value, the published (mapped) value, and a bump
 * inside an open transaction. */
int cin_store_generation(cin_store *st, uint64_t *out);
uint64_t cin_store_generation_published(cin_store *st);
int cin_store_generation_bump(cin_store *st, uint64_t *newval);
/* The highest generation this connection committed since the last call
 * (0: none), for a request that must see its own change served. */
uint64_t cin_store_take_committed_generation(cin_store *st);
/* Set the generation to value inside an open transaction, published at
 * commit (a host's mirror takes the central store's generation). */
int cin_store_generation_set(cin_store *st, uint64_t value);
/* The store went back (restored from a backup) if its generation, seen,
 * is below the published value read before it, published: writers commit
 * before they publish.  Then the published value is set back to seen (if it
 * still holds published) and the stored value read once more and published,
 * since a commit that landed meanwhile published nothing, the file being
 * ahead of it.  1 when it set the value back. */
int cin_store_generation_went_back(cin_store *st, uint64_t published, uint64_t seen);
/* The mapped file's path (PATH.gen), for other processes to map. */
const char *cin_store_gen_path(const cin_store *st);

/* Copy every row of src into dst, a new store (nothing in it but a new
 * store's catalog; CIN_EEXIST otherwise), in one consistent read of src and
 * one transaction on dst; ids as they are, so sealed secrets still open
 * (both stores need the same key).  *rows (may be NULL) the rows copied.
 * The hosts of a fleet (their mirror progress) are not copied. */
int cin_store_copy(cin_store *src, cin_store *dst, int64_t *rows, char **err);

/* For tests and diagnostics: run sql (statements separated by ';', no
 * parameters) and print every row as "a|b\n", as the sqlite3 shell does, into
 * *out (malloc'd).  Writes happen outside any transaction. */
int cin_store_query_text(cin_store *st, const char *sql, char **out);

/* Integrity check and online backup (of a PostgreSQL store: a SQLite copy). */
int cin_store_check(cin_store *st, char **err);
int cin_store_backup(cin_store *st, const char *dest, char **err);

/* Secrets: seal/open with the store's KEK, labelled by purpose. */
int cin_store_seal(cin_store *st, const char *label, const unsigned char *pt, size_t ptlen,
                   unsigned char **out, size_t *outlen);
int cin_store_unseal(cin_store *st, const char *label, const unsigned char *in, size_t inlen,
                     unsigned char **out, size_t *outlen);

/* ---- settings (store-wide, shared by every server and agent) ---------- */

/* CIN_ENOTFOUND when unset; *value malloc'd. */
int cin_store_setting_get(cin_store *st, const char *key, char **value);
int cin_store_setting_set(cin_store *st, const char *key, const char *value);

/* ---- accounts -------------------------------------------------------- */

typedef struct cin_account {
    int64_t id;
    char *name;
    int64_t credits;
    char *created_at;
    int64_t parent_id;            /* 0: a top-level account */
    char *parent;                 /* the parent's name, NULL when none */
    char *path;                   /* ids from the root, "/1/5/9/" */
    int requires_parent_approval; /* orders go to the parent's admins first */
    char *billing;                /* prepaid | parent */
    int auto_policy;              /* the parent allows automatic renewal, AutoSSL, auto_pay */
    int require_2fa;              /* every user logs in with a second factor */
    char *ip_allowlist;           /* "" or CIDRs separated by commas: where logins and API
                                     calls may come from */
} cin_account;

void cin_account_clear(cin_account *a);
int cin_store_account_create(cin_store *st, const char *name, int64_t credits, int64_t *id,
                             char **err);
int cin_store_account_get(cin_store *st, const char *name, cin_account *out);
int cin_store_account_get_id(cin_store *st, int64_t id, cin_account *out);
/* Make the new account id a sub-account of parent_id (in the caller's
 * transaction): path below the parent's, requires_parent_approval 1, prepaid. */
int cin_store_account_set_parent(cin_store *st, int64_t id, int64_t parent_id);
/* Move account id (at old_path) under parent_id, its path becoming new_path
 * (in the caller's transaction): every path below rewritten, and the rules a
 * parent sets back to a new sub-account's (parent approval, prepaid, no
 * automatic ordering) - the new parent has agreed to none of the old ones. */
int cin_store_account_move(cin_store *st, int64_t id, const char *old_path, int64_t parent_id,
                           const char *new_path);
/* The ids of account_id's own orders in status (*ids: free()). */
int cin_store_account_orders_in(cin_store *st, int64_t account_id, const char *status,
                                int64_t **ids, size_t *n);
/* Change a sub-account's rules (-1 / NULL: keep). */
int cin_store_account_set_rules(cin_store *st, int64_t id, int requires_parent_approval,
                                const char *billing, int auto_policy);
/* The accounts below path (descendants only, not path's own), by path. */
int cin_store_account_descendants(cin_store *st, const char *path, cin_account **out, size_t *n);
void cin_account_list_free(cin_account *a, size_t n);
/* 1 when anc is a strict ancestor of desc (both account paths). */
int cin_account_path_below(const char *anc, const char *desc);
/* The account and amount an order's payment debited last (CIN_ENOTFOUND: none). */
int cin_store_ledger_debit_of(cin_store *st, int64_t order_id, int64_t *account_id,
                              int64_t *amount);
/* Add delta (may be negative) to the balance and write a ledger row, in the
 * caller's transaction.  CIN_ECREDITS when the balance would go below 0. */
int cin_store_credits_move(cin_store *st, int64_t account_id, int64_t delta, int64_t order_id,
                           const char *reason, const char *actor, int64_t *balance);

typedef struct cin_ledger_entry {
    int64_t id;
    int64_t delta;
    int64_t balance;
    int64_t order_id; /* 0 when none */
    char *reason;
    char *actor;
    char *at;
} cin_ledger_entry;
int cin_store_ledger_list(cin_store *st, int64_t account_id, int64_t before_id, int limit,
                          cin_ledger_entry **out, size_t *n);
void cin_ledger_free(cin_ledger_entry *e, size_t n);

/* ---- domains ---------------------------------------------------------- */

int cin_store_domain_add(cin_store *st, int64_t account_id, const char *name, char **err);
int cin_store_domain_remove(cin_store *st, const char *name);
/* The account owning name or one of its parent domains (0 when nobody).
 * A leading "*." is ignored. */
int cin_store_domain_owner(cin_store *st, const char *name, int64_t *account_id);
/* The account a domain row itself is assigned to (no walk up); CIN_ENOTFOUND. */
int cin_store_domain_account(cin_store *st, const char *name, int64_t *account_id);
int cin_store_domain_list(cin_store *st, int64_t account_id, char ***names, size_t *n);
void cin_strv_free(char **v, size_t n);

/* ---- users ------------------------------------------------------------ */

typedef struct cin_user {
    int64_t id;
    int64_t account_id;
    char *account;
    char *name;
    char *role; /* admin | standard | basic */
    int signatory;
    int disabled;
    char *password_hash; /* NULL when the user has no password */
    char *created_at;
    char *account_path;       /* the account's place in the hierarchy, "/1/5/" */
    int account_requires_2fa; /* the account enforces a second factor */
    char *account_allowlist;  /* the account's allowed peers ("" or CIDRs, comma separated) */
    int totp_enrolled;        /* the user has a confirmed TOTP authenticator */
    char *groups;             /* ",3,7,": the ids of the user's groups (cin_store_user_get*) */
} cin_user;

void cin_user_clear(cin_user *u);
int cin_valid_role(const char *role);
/* Insert a user; password_hash (cin_password_hash, made before the
 * transaction) may be NULL.  The workflow (cin_account.h) validates first. */
int cin_store_user_create(cin_store *st, int64_t account_id, const char *name, const char *role,
                          int signatory, const char *password_hash, int64_t *id, char **err);
int cin_store_user_get(cin_store *st, const char *name, cin_user *out);
int cin_store_user_get_id(cin_store *st, int64_t id, cin_user *out);
int cin_store_user_list(cin_store *st, int64_t account_id, cin_user **out, size_t *n);
void cin_user_list_free(cin_user *u, size_t n);
/* Update role (NULL: keep), signatory/disabled (-1: keep), password hash (NULL: keep). */
int cin_store_user_update(cin_store *st, int64_t id, const char *role, int signatory, int disabled,
                          const char *password_hash);

/* ---- API tokens ------------------------------------------------------- */

typedef struct cin_token_info {
    int64_t id;
    int64_t user_id;
    char *user;
    char *name;
    char prefix[CIN_TOKEN_PREFIX_LEN + 1];
    time_t expires_at; /* 0: never */
    char *created_at;
} cin_token_info;

void cin_token_info_clear(cin_token_info *t);
/* Create a token; *secret is the whole token, to be shown once and freed
 * with cin_free_secret(*secret, strlen(*secret)). */
int cin_store_token_create(cin_store *st, int64_t user_id, const char *name, int expires_in_days,
                           char **secret, int64_t *id);
/* Find the active (not expired, user not disabled) token; the user it
 * belongs to in *user.  CIN_ENOTFOUND otherwise. */
int cin_store_token_authenticate(cin_store *st, const char *token, cin_user *user);
/* Tokens of one user (user_id > 0) or of a whole account (account_id > 0). */
int cin_store_token_list(cin_store *st, int64_t user_id, int64_t account_id, cin_token_info **out,
                         size_t *n);
void cin_token_list_free(cin_token_info *t, size_t n);
int cin_store_token_get(cin_store *st, int64_t id, cin_token_info *out);
int cin_store_token_delete(cin_store *st, int64_t id);

/* ---- web sessions and login throttling -------------------------------- */

/* A new session for user_id, valid ttl seconds: *session_id (the cookie's
 * value) and *csrf are secrets, malloc'd.  Only a hash of the id is stored. */
int cin_store_session_create(cin_store *st, int64_t user_id, int ttl, char **session_id,
                             char **csrf);
/* The user (not disabled) and CSRF token of a live session; CIN_ENOTFOUND otherwise. */
int cin_store_session_get(cin_store *st, const char *session_id, cin_user *user, char **csrf);
int cin_store_session_delete(cin_store *st, const char *session_id);
/* End every session of a user (a new password, a disabled user). */
int cin_store_session_delete_user(cin_store *st, int64_t user_id);
/* Login throttling (store_login.c): the limits on failed-or-in-flight
 * password checks within the last `window` seconds. */
typedef struct cin_login_limits {
    int window;
    int per_pair; /* one user from one peer address */
    int per_peer; /* one peer address, every user */
    int per_user; /* one user, every peer address */
} cin_login_limits;
/* Reserve a slot for one password check, in its own transaction: CIN_OK and
 * *slot, or CIN_ELIMIT (nothing written) with *retry_after seconds. */
int cin_store_login_reserve(cin_store *st, const char *user, const char *peer,
                            const cin_login_limits *lim, int64_t *slot, int *retry_after);
/* In the caller's transaction: a success releases the slot and clears the
 * pair's failures; a failure keeps the slot, marked failed. */
int cin_store_login_finish(cin_store *st, int64_t slot, int success);

/* ---- products ---------------------------------------------------------- */

typedef struct cin_product {
    char *code;
    char *type; /* dv | ov | ev | intranet */
    int max_names;
    int wildcard;
    int max_validity_days;
    int64_t price;          /* for the first name */
    int64_t price_per_name; /* for each further name */
    char *ca;               /* CA configuration name */
} cin_product;

void cin_product_clear(cin_product *p);
int cin_store_product_get(cin_store *st, const char *code, cin_product *out);
int cin_store_product_list(cin_store *st, cin_product **out, size_t *n);
void cin_product_list_free(cin_product *p, size_t n);
int cin_store_product_set_ca(cin_store *st, const char *code, const char *ca_name, char **err);
/* Price of an order for n names. */
int64_t cin_product_price(const cin_product *p, size_t n);

#endif
