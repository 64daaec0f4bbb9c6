/* test_store.c - the control store: open, migrate, CRUD, generation, secrets, concurrency. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cin_core.h"
#include "cin_generation.h"
#include "cin_store.h"
#include "cin_store_ca.h"
#include "cin_store_order.h"
#include "cin_util.h"
#include "../../common/src/db.h"
#include "../../common/src/store_copy.h"
#include "harness.h"

static char *dir;
static char *path;

static void setup(void)
{
    dir = tmpdir_new();
    path = cin_asprintf("%s/s.db", dir);
}

static void teardown(void)
{
    free(path);
    tmpdir_remove(dir);
}

/* The store's writers expect their caller's transaction, and users are
 * created with a password hash made beforehand (cin_account.h does both);
 * these wrappers do the same for the tests of the rows themselves. */
static int tx_user_create(cin_store *st, int64_t account_id, const char *name, const char *role,
                          int signatory, const char *password, int64_t *id, char **err)
{
    char *hash = password ? cin_password_hash(password) : NULL;
    int rc = cin_store_begin(st);

    if (rc == CIN_OK)
        rc = cin_store_end(
            st, cin_store_user_create(st, account_id, name, role, signatory, hash, id, err));
    free(hash);
    return rc;
}

static int tx_user_update(cin_store *st, int64_t id, const char *role, int signatory, int disabled,
                          const char *password)
{
    char *hash = password ? cin_password_hash(password) : NULL;
    int rc = cin_store_begin(st);

    if (rc == CIN_OK)
        rc = cin_store_end(st, cin_store_user_update(st, id, role, signatory, disabled, hash));
    free(hash);
    return rc;
}

static int tx_domain_add(cin_store *st, int64_t account_id, const char *name, char **err)
{
    int rc = cin_store_begin(st);

    return rc == CIN_OK ? cin_store_end(st, cin_store_domain_add(st, account_id, name, err)) : rc;
}

static int tx_domain_remove(cin_store *st, const char *name)
{
    int rc = cin_store_begin(st);

    return rc == CIN_OK ? cin_store_end(st, cin_store_domain_remove(st, name)) : rc;
}

static cin_store *new_store(void)
{
    cin_store *st = NULL;
    char *err = NULL;

    ck_assert_int_eq(cin_store_create(path, NULL, &st, &err), CIN_OK);
    return st;
}

START_TEST(create_from_empty)
{
    cin_store *st = new_store();
    cin_product p;
    struct stat sb;
    char *kp = cin_asprintf("%s.key", path);

    ck_assert_int_eq(cin_store_schema_version(st), CIN_SCHEMA_VERSION);
    ck_assert_int_eq(stat(kp, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(sb.st_size, 32);
    ck_assert_int_eq(cin_store_product_get(st, "dv-multi", &p), CIN_OK);
    ck_assert_int_eq(p.max_names, 100);
    ck_assert_int_eq(cin_product_price(&p, 3), 20);
    ck_assert_int_eq(p.max_validity_days, 200);
    ck_assert_str_eq(p.ca, "builtin");
    cin_product_clear(&p);
    ck_assert_int_eq(cin_store_product_get(st, "intranet-ssl", &p), CIN_OK);
    ck_assert_int_eq(p.max_validity_days, 397);
    ck_assert_int_eq(p.price, 5);
    ck_assert_int_eq(p.wildcard, 1);
    cin_product_clear(&p);
    ck_assert_int_eq(cin_store_product_get(st, "ev-ssl", &p), CIN_OK);
    ck_assert_str_eq(p.type, "ev");
    ck_assert_int_eq(p.price, 100);
    cin_product_clear(&p);
    cin_store_close(st);
    free(kp);
}
END_TEST

START_TEST(create_refuses_existing)
{
    cin_store *st = new_store(), *st2 = NULL;
    char *err = NULL;

    cin_store_close(st);
    ck_assert_int_eq(cin_store_create(path, NULL, &st2, &err), CIN_EEXIST);
    ck_assert_ptr_nonnull(strstr(err, "refusing"));
    free(err);
    /* and the existing store still opens */
    ck_assert_int_eq(cin_store_open(path, NULL, &st2, NULL), CIN_OK);
    cin_store_close(st2);
}
END_TEST

START_TEST(open_missing)
{
    cin_store *st = NULL;
    char *err = NULL;

    ck_assert_int_eq(cin_store_open(path, NULL, &st, &err), CIN_ENOTFOUND);
    ck_assert_ptr_null(st);
    ck_assert_ptr_nonnull(strstr(err, "no store at"));
    free(err);
}
END_TEST

START_TEST(migrate_from_previous_version)
{
    cin_store *st = new_store();
    char *err = NULL, *kp;
    sqlite3 *db;
    int64_t id = 0;
    cin_account a;

    cin_store_close(st);
    /* build a store as the previous release left it: schema 1 with data */
    unlink(path);
    kp = cin_asprintf("%s.key", path);
    unlink(kp);
    ck_assert_int_eq(cin_kek_create(kp, NULL), CIN_OK);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(cin_store_open_version(path, NULL, 1, &st, &err), CIN_OK);
    ck_assert_int_eq(cin_store_schema_version(st), 1);
    ck_assert_int_eq(cin_store_account_create(st, "old", 7, &id, &err), CIN_OK);
    cin_store_close(st);
    /* the current release migrates it forward and keeps the data */
    ck_assert_int_eq(cin_store_open(path, NULL, &st, &err), CIN_OK);
    ck_assert_int_eq(cin_store_schema_version(st), CIN_SCHEMA_VERSION);
    ck_assert_int_eq(cin_store_account_get(st, "old", &a), CIN_OK);
    ck_assert_int_eq(a.credits, 7);
    cin_account_clear(&a);
    /* a version-2 table works */
    ck_assert_int_eq(cin_store_challenge_put(st, "acme", "tok", "tok.thumb", 0, time(NULL) + 60),
                     CIN_OK);
    cin_store_close(st);
    free(kp);
}
END_TEST

START_TEST(refuses_newer_schema)
{
    cin_store *st = new_store();
    char *err = NULL;
    sqlite3 *db;

    cin_store_close(st);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    ck_assert_int_ne(cin_store_open(path, NULL, &st, &err), CIN_OK);
    ck_assert_ptr_nonnull(strstr(err, "newer"));
    free(err);
}
END_TEST

START_TEST(wal_and_foreign_keys)
{
    cin_store *st = new_store();
    sqlite3 *db;
    sqlite3_stmt *s;

    cin_store_close(st);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    /* a user for an account that does not exist is refused (foreign key) */
    ck_assert_int_eq(cin_store_open(path, NULL, &st, NULL), CIN_OK);
    ck_assert_int_ne(tx_user_create(st, 4242, "ghost", "basic", 0, NULL, NULL, NULL), CIN_OK);
    cin_store_close(st);
}
END_TEST

START_TEST(accounts_users_tokens)
{
    cin_store *st = new_store();
    int64_t a = 0, u = 0, t = 0, bal = 0;
    char *err = NULL, *tok = NULL;
    cin_user usr;
    cin_account acc;
    cin_token_info *tl = NULL;
    cin_ledger_entry *le = NULL;
    size_t n = 0;

    ck_assert_int_eq(cin_store_account_create(st, "acme", 10, &a, &err), CIN_OK);
    ck_assert_int_eq(cin_store_account_create(st, "acme", 0, NULL, &err), CIN_EEXIST);
    free(err);
    err = NULL;
    ck_assert_int_eq(cin_store_account_create(st, "Bad Name", 0, NULL, &err), CIN_EINVAL);
    free(err);
    err = NULL;
    ck_assert_int_eq(tx_user_create(st, a, "alice", "admin", 1, "correct horse", &u, &err), CIN_OK);
    ck_assert_int_eq(tx_user_create(st, a, "alice", "basic", 0, NULL, NULL, &err), CIN_EEXIST);
    free(err);
    err = NULL;
    ck_assert_int_eq(tx_user_create(st, a, "bob", "root", 0, NULL, NULL, &err), CIN_EINVAL);
    free(err);
    err = NULL;
    ck_assert_int_eq(tx_user_create(st, a, "", "basic", 0, NULL, NULL, &err), CIN_EINVAL);
    free(err);
    err = NULL;
    ck_assert_int_eq(tx_user_create(st, a,
                                    "a234567890123456789012345678901234567890123456789"
                                    "012345678901234X",
                                    "basic", 0, NULL, NULL, &err),
                     CIN_EINVAL);
    free(err);
    err = NULL;
    ck_assert_int_eq(cin_store_user_get(st, "alice", &usr), CIN_OK);
    ck_assert_str_eq(usr.role, "admin");
    ck_assert_str_eq(usr.account, "acme");
    ck_assert_int_eq(usr.signatory, 1);
    ck_assert(cin_password_verify("correct horse", usr.password_hash));
    ck_assert(!cin_password_verify("wrong horse", usr.password_hash));
    cin_user_clear(&usr);
    ck_assert_int_eq(tx_user_update(st, u, "standard", 0, -1, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_user_get_id(st, u, &usr), CIN_OK);
    ck_assert_str_eq(usr.role, "standard");
    ck_assert_int_eq(usr.signatory, 0);
    cin_user_clear(&usr);

    ck_assert_int_eq(cin_store_token_create(st, u, "ci", 0, &tok, &t), CIN_OK);
    ck_assert_ptr_nonnull(strstr(tok, "cin_"));
    ck_assert_int_eq(cin_store_token_authenticate(st, tok, &usr), CIN_OK);
    ck_assert_str_eq(usr.name, "alice");
    cin_user_clear(&usr);
    /* only the hash is stored: the token text is nowhere in the table */
    {
        sqlite3 *db;
        sqlite3_stmt *s;
        int found = 0;
        sqlite3_open(path, &db);
        sqlite3_prepare_v2(db, "SELECT hash, prefix FROM tokens", -1, &s, NULL);
        while (sqlite3_step(s) == SQLITE_ROW) {
            found++;
            ck_assert_ptr_null(strstr(tok, (const char *)sqlite3_column_text(s, 0)));
            ck_assert_ptr_nonnull(strstr(tok, (const char *)sqlite3_column_text(s, 1)));
        }
        sqlite3_finalize(s);
        sqlite3_close(db);
        ck_assert_int_eq(found, 1);
    }
    tok[strlen(tok) - 1] ^= 1; /* a wrong secret with the right prefix */
    ck_assert_int_eq(cin_store_token_authenticate(st, tok, &usr), CIN_ENOTFOUND);
    tok[strlen(tok) - 1] ^= 1;
    ck_assert_int_eq(cin_store_token_list(st, u, 0, &tl, &n), CIN_OK);
    ck_assert_uint_eq(n, 1);
    cin_token_list_free(tl, n);
    /* a disabled user's token no longer works */
    ck_assert_int_eq(tx_user_update(st, u, NULL, -1, 1, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_token_authenticate(st, tok, &usr), CIN_ENOTFOUND);
    ck_assert_int_eq(tx_user_update(st, u, NULL, -1, 0, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_token_delete(st, t), CIN_OK);
    ck_assert_int_eq(cin_store_token_authenticate(st, tok, &usr), CIN_ENOTFOUND);
    ck_assert_int_eq(cin_store_token_delete(st, t), CIN_ENOTFOUND);
    cin_free_secret(tok, strlen(tok));

    /* credits and the ledger */
    ck_assert_int_eq(cin_store_begin(st), CIN_OK);
    ck_assert_int_eq(cin_store_credits_move(st, a, 5, 0, "top up", "test", &bal), CIN_OK);
    ck_assert_int_eq(bal, 15);
    ck_assert_int_eq(cin_store_credits_move(st, a, -16, 0, "too much", "test", &bal), CIN_ECREDITS);
    ck_assert_int_eq(cin_store_commit(st), CIN_OK);
    ck_assert_int_eq(cin_store_account_get_id(st, a, &acc), CIN_OK);
    ck_assert_int_eq(acc.credits, 15);
    cin_account_clear(&acc);
    ck_assert_int_eq(cin_store_ledger_list(st, a, 0, 10, &le, &n), CIN_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(le[0].delta, 5);
    ck_assert_int_eq(le[0].balance, 15);
    cin_ledger_free(le, n);
    cin_store_close(st);
}
END_TEST

START_TEST(token_expiry)
{
    cin_store *st = new_store();
    int64_t a, u;
    char *tok = NULL;
    cin_user usr;
    sqlite3 *db;

    ck_assert_int_eq(cin_store_account_create(st, "acme", 0, &a, NULL), CIN_OK);
    ck_assert_int_eq(tx_user_create(st, a, "al", "basic", 0, NULL, &u, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_token_create(st, u, "t", 1, &tok, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_token_authenticate(st, tok, &usr), CIN_OK);
    cin_user_clear(&usr);
    sqlite3_open(path, &db);
    sqlite3_exec(db, "UPDATE tokens SET expires_at = 1", NULL, NULL, NULL);
    sqlite3_close(db);
    ck_assert_int_eq(cin_store_token_authenticate(st, tok, &usr), CIN_ENOTFOUND);
    cin_free_secret(tok, strlen(tok));
    cin_store_close(st);
}
END_TEST

START_TEST(domains)
{
    cin_store *st = new_store();
    int64_t a, b, owner;
    char **names = NULL, *err = NULL;
    size_t n = 0;

    ck_assert_int_eq(cin_store_account_create(st, "a", 0, &a, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_account_create(st, "b", 0, &b, NULL), CIN_OK);
    ck_assert_int_eq(tx_domain_add(st, a, "example.com", &err), CIN_OK);
    ck_assert_int_eq(cin_store_domain_owner(st, "www.shop.example.com", &owner), CIN_OK);
    ck_assert_int_eq(owner, a);
    ck_assert_int_eq(cin_store_domain_owner(st, "*.example.com", &owner), CIN_OK);
    ck_assert_int_eq(owner, a);
    ck_assert_int_eq(cin_store_domain_owner(st, "notexample.com", &owner), CIN_OK);
    ck_assert_int_eq(owner, 0);
    /* a name belongs to at most one account, subdomains and parents included */
    ck_assert_int_eq(tx_domain_add(st, b, "example.com", &err), CIN_EEXIST);
    free(err);
    err = NULL;
    ck_assert_int_eq(tx_domain_add(st, b, "shop.example.com", &err), CIN_EEXIST);
    free(err);
    err = NULL;
    ck_assert_int_eq(tx_domain_add(st, b, "sub.other.net", &err), CIN_OK);
    ck_assert_int_eq(tx_domain_add(st, a, "other.net", &err), CIN_EEXIST);
    free(err);
    err = NULL;
    ck_assert_int_eq(cin_store_domain_list(st, a, &names, &n), CIN_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(names[0], "example.com");
    cin_strv_free(names, n);
    ck_assert_int_eq(tx_domain_remove(st, "example.com"), CIN_OK);
    ck_assert_int_eq(tx_domain_remove(st, "example.com"), CIN_ENOTFOUND);
    ck_assert_int_eq(cin_store_domain_owner(st, "www.example.com", &owner), CIN_OK);
    ck_assert_int_eq(owner, 0);
    cin_store_close(st);
}
END_TEST

static int64_t seed_order(cin_store *st, int64_t *acct, int64_t *user)
{
    cin_order o;
    char *sans[] = {"a.example.com"};

    if (!*acct) {
        ck_assert_int_eq(cin_store_account_create(st, "acme", 100, acct, NULL), CIN_OK);
        ck_assert_int_eq(tx_user_create(st, *acct, "u", "basic", 0, NULL, user, NULL), CIN_OK);
    }
    memset(&o, 0, sizeof(o));
    o.account_id = *acct;
    o.requester_id = *user;
    o.status = "pending_approval";
    o.product = "dv-ssl";
    o.common_name = "a.example.com";
    o.sans = sans;
    o.nsans = 1;
    o.validity_days = 90;
    o.price = 10;
    ck_assert_int_eq(cin_store_order_insert(st, &o), CIN_OK);
    free(o.created_at);
    free(o.updated_at);
    return o.id;
}

START_TEST(orders_events_certs_generation)
{
    cin_store *st = new_store();
    int64_t acct = 0, user = 0, id, kid = 0;
    cin_order o, *list = NULL;
    cin_order_filter f = {0};
    cin_event *ev = NULL;
    cin_cert c, got;
    cin_name_entry *ne = NULL;
    char *names[] = {"a.example.com", "www.a.example.com"};
    uint64_t g0 = 0, g1 = 0, g;
    size_t n = 0;
    char *pem = NULL;
    cin_gen *reader = NULL;

    id = seed_order(st, &acct, &user);
    ck_assert_int_eq(cin_store_order_get(st, id, &o), CIN_OK);
    ck_assert_str_eq(o.status, "pending_approval");
    ck_assert_str_eq(o.requester, "u");
    ck_assert_uint_eq(o.nsans, 1);
    free(o.status);
    o.status = strdup("approved-ish");
    ck_assert_int_eq(cin_store_order_update(st, &o), CIN_OK);
    cin_order_clear(&o);
    f.q = "a.example";
    ck_assert_int_eq(cin_store_order_list(st, &f, &list, &n), CIN_OK);
    ck_assert_uint_eq(n, 1);
    cin_order_list_free(list, n);
    f.q = "%";
    ck_assert_int_eq(cin_store_order_list(st, &f, &list, &n), CIN_OK);
    ck_assert_uint_eq(n, 0); /* LIKE wildcards in q match literally */
    cin_order_list_free(list, n);

    ck_assert_int_eq(cin_store_event_add(st, acct, id, "u", "order.create", "192.0.2.1", "x"),
                     CIN_OK);
    ck_assert_int_eq(cin_store_event_list(st, acct, id, 0, 10, &ev, &n), CIN_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ev[0].peer, "192.0.2.1");
    cin_event_list_free(ev, n);

    /* the generation moves on every certificate change and is published */
    ck_assert_int_eq(cin_store_generation(st, &g0), CIN_OK);
    ck_assert_int_eq(cin_gen_open(cin_store_gen_path(st), &reader, NULL), CIN_OK);
    ck_assert_uint_eq(cin_gen_read(reader), g0);
    ck_assert_int_eq(cin_store_begin(st), CIN_OK);
    ck_assert_int_eq(cin_store_key_put(st, "ec-p256", "-----BEGIN PRIVATE KEY-----\nx\n", &kid),
                     CIN_OK);
    memset(&c, 0, sizeof(c));
    c.order_id = id;
    c.account_id = acct;
    c.serial = "0abc";
    c.names = names;
    c.nnames = 2;
    c.not_before = "2026-01-01T00:00:00Z";
    c.not_after = "2026-06-01T00:00:00Z";
    c.sha256 = "00";
    c.issuer = "CN=test";
    c.chain_pem = "PEM";
    c.key_id = kid;
    ck_assert_int_eq(cin_store_cert_insert(st, &c), CIN_OK);
    ck_assert_uint_eq(cin_gen_read(reader), g0); /* not before the commit */
    ck_assert_int_eq(cin_store_commit(st), CIN_OK);
    free(c.status);
    ck_assert_int_eq(cin_store_generation(st, &g1), CIN_OK);
    ck_assert_uint_eq(g1, g0 + 1);
    ck_assert_uint_eq(cin_gen_read(reader), g1);
    ck_assert_int_eq(cin_store_names_since(st, g0, &ne, &n, &g), CIN_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ne[0].cert_id, c.id);
    ck_assert_uint_eq(g, g1);
    cin_name_entries_free(ne, n);
    ck_assert_int_eq(cin_store_names_since(st, g1, &ne, &n, &g), CIN_OK);
    ck_assert_uint_eq(n, 0);
    cin_name_entries_free(ne, n);
    ck_assert_int_eq(cin_store_begin(st), CIN_OK);
    ck_assert_int_eq(cin_store_cert_set_status(st, c.id, "revoked", "keyCompromise"), CIN_OK);
    ck_assert_int_eq(cin_store_commit(st), CIN_OK);
    ck_assert_uint_eq(cin_gen_read(reader), g1 + 1);
    ck_assert_int_eq(cin_store_names_since(st, g1, &ne, &n, &g), CIN_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ne[0].cert_id, 0); /* no active certificate for the name any more */
    cin_name_entries_free(ne, n);
    ck_assert_int_eq(cin_store_cert_get(st, c.id, &got), CIN_OK);
    ck_assert_str_eq(got.status, "revoked");
    ck_assert_str_eq(got.revocation_reason, "keyCompromise");
    cin_cert_clear(&got);
    /* the key round-trips through the KEK */
    ck_assert_int_eq(cin_store_key_get(st, kid, &pem), CIN_OK);
    ck_assert_str_eq(pem, "-----BEGIN PRIVATE KEY-----\nx\n");
    cin_free_secret(pem, strlen(pem));
    cin_gen_close(reader);
    cin_store_close(st);
}
END_TEST

START_TEST(generation_seen_by_other_process)
{
    cin_store *st = new_store();
    int fds[2];
    pid_t pid;
    uint64_t g0 = 0;
    char buf[64] = "";
    ssize_t n;

    ck_assert_int_eq(cin_store_generation(st, &g0), CIN_OK);
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        /* the child maps the file on its own and waits for the value to move */
        cin_gen *g = NULL;
        int i;
        close(fds[0]);
        if (cin_gen_open(cin_store_gen_path(st), &g, NULL) != CIN_OK)
            _exit(2);
        for (i = 0; i < 5000 && cin_gen_read(g) == g0; i++)
            usleep(1000);
        dprintf(fds[1], "%llu", (unsigned long long)cin_gen_read(g));
        _exit(0);
    }
    close(fds[1]);
    usleep(50000);
    ck_assert_int_eq(cin_store_begin(st), CIN_OK);
    ck_assert_int_eq(cin_store_generation_bump(st, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_commit(st), CIN_OK);
    n = read(fds[0], buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    waitpid(pid, NULL, 0);
    ck_assert_uint_eq(strtoull(buf, NULL, 10), g0 + 1);
    close(fds[0]);
    cin_store_close(st);
}
END_TEST

START_TEST(generation_file_repaired_at_open)
{
    cin_store *st = new_store();
    uint64_t g = 0;
    FILE *fp;
    char *gp;

    ck_assert_int_eq(cin_store_begin(st), CIN_OK);
    ck_assert_int_eq(cin_store_generation_bump(st, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_generation_bump(st, &g), CIN_OK);
    ck_assert_int_eq(cin_store_commit(st), CIN_OK);
    gp = strdup(cin_store_gen_path(st));
    cin_store_close(st);
    /* a writer that died before publishing: the file lags behind */
    fp = fopen(gp, "wb");
    fwrite("\0\0\0\0\0\0\0\0", 1, 8, fp);
    fclose(fp);
    ck_assert_int_eq(cin_store_open(path, NULL, &st, NULL), CIN_OK);
    ck_assert_uint_eq(cin_store_generation_published(st), g);
    cin_store_close(st);
    free(gp);
}
END_TEST

START_TEST(sealed_key_tamper_detected)
{
    cin_store *st = new_store();
    int64_t kid = 0;
    char *pem = NULL;
    sqlite3 *db;

    ck_assert_int_eq(cin_store_begin(st), CIN_OK);
    ck_assert_int_eq(cin_store_key_put(st, "ec-p256", "secret key material", &kid), CIN_OK);
    ck_assert_int_eq(cin_store_commit(st), CIN_OK);
    /* the plaintext is nowhere in the database file */
    {
        char *out = NULL, cmd[512];
        snprintf(cmd, sizeof(cmd), "grep -c 'secret key material' %s", path);
        run(cmd, &out);
        ck_assert_str_eq(out, "0\n");
        free(out);
    }
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    /* change one byte of the ciphertext (to 0xff, or to 0x00 where it was
     * 0xff: a fixed value left the key intact once in 256 runs) */
    ck_assert_int_eq(
        sqlite3_exec(db,
                     "UPDATE private_keys SET sealed = substr(sealed, 1, 20) || "
                     "CASE WHEN substr(sealed, 21, 1) = x'ff' THEN x'00' ELSE x'ff' END"
                     " || substr(sealed, 22)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(cin_store_key_get(st, kid, &pem), CIN_ECRYPTO);
    ck_assert_ptr_null(pem);
    cin_store_close(st);
}
END_TEST

START_TEST(ca_secrets)
{
    cin_store *st = new_store();
    char *v = NULL;
    cin_ca_config c;

    memset(&c, 0, sizeof(c));
    c.name = "pebble";
    c.kind = "acme";
    c.directory_url = "https://127.0.0.1:14000/dir";
    ck_assert_int_eq(cin_store_ca_add(st, &c, NULL, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_ca_set_secret(st, "pebble", "eab_hmac", "hmac-key"), CIN_OK);
    ck_assert_int_eq(cin_store_ca_get_secret(st, "pebble", "eab_hmac", &v), CIN_OK);
    ck_assert_str_eq(v, "hmac-key");
    cin_free_secret(v, strlen(v));
    ck_assert_int_eq(cin_store_ca_set(st, "pebble", "no_such_column", "x"), CIN_EINVAL);
    ck_assert_int_eq(cin_store_product_set_ca(st, "dv-ssl", "pebble", NULL), CIN_OK);
    ck_assert_int_eq(cin_store_product_set_ca(st, "dv-ssl", "nope", NULL), CIN_ENOTFOUND);
    cin_store_close(st);
}
END_TEST

START_TEST(leases)
{
    cin_store *st = new_store();
    sqlite3 *db;

    ck_assert_int_eq(cin_store_lease_acquire(st, "order:1", "a", 60), CIN_OK);
    ck_assert_int_eq(cin_store_lease_acquire(st, "order:1", "b", 60), CIN_ECONFLICT);
    ck_assert_int_eq(cin_store_lease_acquire(st, "order:1", "a", 60), CIN_OK); /* renew */
    /* an expired lease is taken over */
    sqlite3_open(path, &db);
    sqlite3_exec(db, "UPDATE leases SET expires_at = 1", NULL, NULL, NULL);
    sqlite3_close(db);
    ck_assert_int_eq(cin_store_lease_acquire(st, "order:1", "b", 60), CIN_OK);
    ck_assert_int_eq(cin_store_lease_acquire(st, "order:1", "a", 60), CIN_ECONFLICT);
    ck_assert_int_eq(cin_store_lease_release(st, "order:1", "b"), CIN_OK);
    ck_assert_int_eq(cin_store_lease_acquire(st, "order:1", "a", 60), CIN_OK);
    cin_store_close(st);
}
END_TEST

START_TEST(backup_and_check)
{
    cin_store *st = new_store(), *b = NULL;
    char *bp = cin_asprintf("%s/backup.db", dir), *err = NULL, *kp, *bkp;
    cin_account a;

    ck_assert_int_eq(cin_store_account_create(st, "acme", 3, NULL, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_check(st, &err), CIN_OK);
    ck_assert_int_eq(cin_store_backup(st, bp, &err), CIN_OK);
    ck_assert_int_eq(cin_store_backup(st, bp, &err), CIN_EEXIST);
    free(err);
    /* the backup opens with the same key file */
    kp = cin_asprintf("%s.key", path);
    bkp = cin_asprintf("%s.key", bp);
    ck_assert_int_eq(link(kp, bkp), 0);
    ck_assert_int_eq(cin_store_open(bp, NULL, &b, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_account_get(b, "acme", &a), CIN_OK);
    ck_assert_int_eq(a.credits, 3);
    cin_account_clear(&a);
    cin_store_close(b);
    cin_store_close(st);
    free(bp);
    free(kp);
    free(bkp);
}
END_TEST

/* Two processes write orders for a few seconds: nothing lost, never BUSY. */
START_TEST(concurrent_writers)
{
    cin_store *st = new_store();
    int64_t acct = 0, user = 0;
    pid_t kids[2];
    int i, status, total = 0;
    long long rows;
    char *out = NULL, cmd[512];

    seed_order(st, &acct, &user);
    cin_store_close(st);
    for (i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            cin_store *mine = NULL;
            time_t end = time(NULL) + 3;
            int n = 0;
            if (cin_store_open(path, NULL, &mine, NULL) != CIN_OK)
                _exit(200);
            while (time(NULL) < end) {
                int64_t a = acct, u = user;
                if (cin_store_begin(mine) != CIN_OK)
                    _exit(201); /* BUSY surfaced as an error */
                seed_order(mine, &a, &u);
                if (cin_store_event_add(mine, a, 0, "w", "write", NULL, NULL) != CIN_OK ||
                    cin_store_commit(mine) != CIN_OK)
                    _exit(202);
                n++;
            }
            cin_store_close(mine);
            _exit(n > 255 ? 255 : (n > 0 ? 100 : 203));
        }
    }
    for (i = 0; i < 2; i++) {
        waitpid(kids[i], &status, 0);
        ck_assert(WIFEXITED(status));
        ck_assert_msg(WEXITSTATUS(status) == 255 || WEXITSTATUS(status) == 100,
                      "writer %d exited %d", i, WEXITSTATUS(status));
    }
    snprintf(cmd, sizeof(cmd),
             "sqlite3 %s 'SELECT (SELECT count(*) FROM orders) - 1, (SELECT count(*) FROM "
             "order_events)'",
             path);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_int_eq(sscanf(out, "%lld|%d", &rows, &total), 2);
    /* every committed order has its event: nothing lost, nothing half-written */
    ck_assert_int_eq(rows, total);
    ck_assert_int_gt(rows, 10);
    free(out);
}
END_TEST

/* An order with an issued, auto-renewed certificate, written the way schema 3 stored it. */
static int64_t v3_issued_order(cin_store *st, sqlite3 *db, int64_t *acct, int64_t *user,
                               const char *not_before)
{
    char sql[1024];
    int64_t id;

    /* the rows as release 3 wrote them (today's order insert knows later columns) */
    if (!*acct) {
        ck_assert_int_eq(cin_store_account_create(st, "acme", 100, acct, NULL), CIN_OK);
        ck_assert_int_eq(tx_user_create(st, *acct, "u", "basic", 0, NULL, user, NULL), CIN_OK);
    }
    snprintf(sql, sizeof(sql),
             "INSERT INTO orders(account_id, requester_id, status, product, common_name, sans,"
             " key_source, key_type, validity_days, auto_renew, price, kind, created_at,"
             " updated_at) VALUES (%lld, %lld, 'pending_approval', 'dv-ssl', 'a.example.com',"
             " '[\"a.example.com\"]', 'server', 'ec-p256', 90, 0, 10, 'new',"
             " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');",
             (long long)*acct, (long long)*user);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    id = sqlite3_last_insert_rowid(db);
    snprintf(sql, sizeof(sql),
             "INSERT INTO certificates(order_id, account_id, serial, names, not_before, not_after,"
             " not_after_ts, sha256, issuer, chain_pem) VALUES (%lld, %lld, 'ab', '[]', '%s',"
             " '2026-04-01T00:00:00Z', 1775001600, '00', 'CN=t', 'PEM');"
             "UPDATE orders SET status = 'issued', auto_renew = 1,"
             " cert_id = (SELECT max(id) FROM certificates) WHERE id = %lld;",
             (long long)id, (long long)*acct, not_before, (long long)id);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    return id;
}

START_TEST(renewal_due_from_not_before)
{
    cin_store *st = new_store();
    char *err = NULL, *kp, *out = NULL, cmd[512];
    int64_t acct = 0, user = 0, good, bad, *ids = NULL;
    time_t early = 1769904000, late = 1773000000; /* 2026-02-01, 2026-03-08 */
    sqlite3 *db;
    size_t n = 0;
    cin_cert c;

    cin_store_close(st);
    /* a schema-3 store (not_before as text only) with two issued orders */
    unlink(path);
    kp = cin_asprintf("%s.key", path);
    unlink(kp);
    ck_assert_int_eq(cin_kek_create(kp, NULL), CIN_OK);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(cin_store_open_version(path, NULL, 3, &st, &err), CIN_OK);
    good = v3_issued_order(st, db, &acct, &user, "2026-01-01T00:00:00Z");
    bad = v3_issued_order(st, db, &acct, &user, "not a time");
    sqlite3_close(db);
    cin_store_close(st);
    /* migrated: the readable text is now epoch seconds, the other stays 0 */
    ck_assert_int_eq(cin_store_open(path, NULL, &st, &err), CIN_OK);
    snprintf(cmd, sizeof(cmd), "sqlite3 %s 'SELECT not_before_ts FROM certificates ORDER BY id'",
             path);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_str_eq(out, "1767225600\n0\n");
    free(out);
    /* 90 days of life: a third of it left on 2026-03-02, not yet on 2026-02-01; the
     * unreadable one measures the life its order asked for (90 days) */
    ck_assert_int_eq(cin_store_order_renewal_due(st, early, 0.333, &ids, &n), CIN_OK);
    ck_assert_uint_eq(n, 0);
    free(ids);
    ck_assert_int_eq(cin_store_order_renewal_due(st, late, 0.333, &ids, &n), CIN_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], good);
    ck_assert_int_eq(ids[1], bad);
    free(ids);
    ck_assert_int_eq(cin_store_order_renewal_due(st, late, 0.1, &ids, &n), CIN_OK);
    ck_assert_uint_eq(n, 0);
    free(ids);
    /* a new certificate carries its not_before_ts */
    memset(&c, 0, sizeof(c));
    c.order_id = good;
    c.account_id = acct;
    c.serial = "cd";
    c.not_before = "2026-03-01T12:00:00Z";
    c.not_after = "2026-05-30T12:00:00Z";
    c.sha256 = "00";
    c.issuer = "CN=t";
    c.chain_pem = "PEM";
    ck_assert_int_eq(cin_store_begin(st), CIN_OK);
    ck_assert_int_eq(cin_store_cert_insert(st, &c), CIN_OK);
    ck_assert_int_eq(cin_store_commit(st), CIN_OK);
    free(c.status);
    snprintf(cmd, sizeof(cmd),
             "sqlite3 %s 'SELECT not_before_ts FROM certificates WHERE id = %lld'", path,
             (long long)c.id);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_str_eq(out, "1772366400\n");
    free(out);
    cin_store_close(st);
    free(kp);
}
END_TEST

START_TEST(constraint_errors_named)
{
    cin_store *st = new_store();
    char *err = NULL;
    int64_t a = 0;

    /* a missing account is a foreign key, not a name already taken */
    ck_assert_int_eq(tx_user_create(st, 4242, "ghost", "basic", 0, NULL, NULL, &err),
                     CIN_ECONSTRAINT);
    ck_assert_ptr_null(strstr(err, "already exists"));
    ck_assert_ptr_nonnull(strstr(err, "no account"));
    free(err);
    err = NULL;
    ck_assert_int_eq(tx_domain_add(st, 4242, "ghost.example", &err), CIN_ECONSTRAINT);
    ck_assert_ptr_nonnull(strstr(err, "no account"));
    free(err);
    err = NULL;
    ck_assert_int_eq(cin_store_account_create(st, "acme", 0, &a, NULL), CIN_OK);
    ck_assert_int_eq(tx_user_create(st, a, "alice", "basic", 0, NULL, NULL, &err), CIN_OK);
    ck_assert_int_eq(tx_user_create(st, a, "alice", "basic", 0, NULL, NULL, &err), CIN_EEXIST);
    ck_assert_ptr_nonnull(strstr(err, "already exists"));
    free(err);
    cin_store_close(st);
}
END_TEST

/* The copy table (store_copy.c) names every column of every table with its type:
 * a migration that adds a column without it would copy stores incompletely. */
START_TEST(copy_table_matches_schema)
{
    cin_store *st = new_store();
    const st_table *t;
    sqlite3 *db;

    cin_store_close(st);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    for (t = st_tables; t->name; t++) {
        char sql[128], want[64] = "", have[1024] = "";
        sqlite3_stmt *s;
        snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", t->name);
        ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            const char *type = (const char *)sqlite3_column_text(s, 2);
            size_t n = strlen(want);
            strcat(have, *have ? "," : "");
            strcat(have, (const char *)sqlite3_column_text(s, 1));
            want[n] = !strcmp(type, "INTEGER") ? 'i' : !strcmp(type, "BLOB") ? 'b' : 't';
            want[n + 1] = '\0';
        }
        sqlite3_finalize(s);
        ck_assert_msg(!strcmp(have, t->cols), "%s: columns %s, the copy table says %s", t->name,
                      have, t->cols);
        ck_assert_msg(!strcmp(want, t->types), "%s: types %s, the copy table says %s", t->name,
                      want, t->types);
    }
    sqlite3_close(db);
}
END_TEST

/* A database password never reaches a log or a message. */
START_TEST(uri_passwords_are_never_shown)
{
    static const char *uris[] = {
        "postgresql://certinext:s3cret-pw@db1.internal:5432/certinext?sslmode=verify-full",
        "postgresql://certinext:s3cret-pw@db1,db2/certinext?target_session_attrs=read-write",
        "postgres://certinext@db1/certinext?password=s3cret-pw&sslmode=require",
        "postgresql://db1/certinext?sslmode=require&PASSWORD=s3cret&application_name=x",
        "postgresql://u:s3cret@db1",
    };
    size_t i;

    for (i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        char *shown = cin_store_display_name(uris[i]);
        ck_assert_ptr_nonnull(shown);
        ck_assert_msg(!strstr(shown, "s3cret"), "%s shown as %s", uris[i], shown);
        ck_assert_ptr_nonnull(strstr(shown, "db1"));
        free(shown);
    }
}
END_TEST

/* The SQLite driver keeps prepared statements: one given back is reset
 * (fresh bindings, no read transaction left open), the same SQL wanted twice
 * at once gets two statements, more SQL than the cache holds still runs, and
 * a store closed while a statement is out stays valid until it is finalized. */
START_TEST(kept_statements_are_reset_and_never_shared)
{
    cin_store *st, *other = NULL;
    char *err = NULL, sql[96];
    const char *q = "SELECT id, name FROM accounts WHERE id >= ?1 ORDER BY id";
    db_stmt *a, *b, *c, *d;
    int64_t first = 0;
    int i, rows;

    st = new_store();
    for (i = 0; i < 3; i++) {
        int64_t id = 0;
        char name[32];
        snprintf(name, sizeof(name), "kept%d", i);
        ck_assert_int_eq(cin_store_account_create(st, name, 0, &id, &err), CIN_OK);
        if (!first)
            first = id;
    }
    /* the same SQL twice at once: two independent cursors */
    a = db_prepare(st, q);
    db_bind_int(a, 1, first);
    ck_assert_int_eq(db_step(a), DB_ROW);
    b = db_prepare(st, q);
    db_bind_int(b, 1, first + 2);
    ck_assert_int_eq(db_step(b), DB_ROW);
    ck_assert_int_eq(db_col_int(b, 0), first + 2);
    ck_assert_int_eq(db_step(a), DB_ROW);
    ck_assert_int_eq(db_col_int(a, 0), first + 1);
    db_finalize(b);
    db_finalize(a);
    /* taken again: reset, and without the old bindings (NULL matches nothing) */
    a = db_prepare(st, q);
    ck_assert_int_eq(db_step(a), CIN_OK);
    db_finalize(a);
    a = db_prepare(st, q);
    db_bind_int(a, 1, first + 1);
    for (rows = 0; db_step(a) == DB_ROW; rows++)
        ;
    ck_assert_int_eq(rows, 2);
    db_finalize(a);
    /* a statement given back holds no snapshot: another connection's write is seen */
    ck_assert_int_eq(cin_store_open(path, NULL, &other, &err), CIN_OK);
    a = db_prepare(st, "SELECT count(*) FROM accounts");
    ck_assert_int_eq(db_step(a), DB_ROW);
    rows = (int)db_col_int(a, 0);
    db_finalize(a);
    {
        int64_t id = 0;
        ck_assert_int_eq(cin_store_account_create(other, "kept-other", 0, &id, &err), CIN_OK);
    }
    a = db_prepare(st, "SELECT count(*) FROM accounts");
    ck_assert_int_eq(db_step(a), DB_ROW);
    ck_assert_int_eq(db_col_int(a, 0), rows + 1);
    db_finalize(a);
    cin_store_close(other);
    /* more distinct SQL than the cache keeps */
    for (i = 0; i < 100; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d + count(*) FROM accounts", i);
        a = db_prepare(st, sql);
        ck_assert_int_eq(db_step(a), DB_ROW);
        ck_assert_int_eq(db_col_int(a, 0), i + rows + 1);
        db_finalize(a);
    }
    /* closed with statements out - a kept one, a second of the same SQL (not
     * kept), one that fails only after the close: each still runs and
     * reports, and the connection ends with the last of them (under ASan,
     * nothing of the freed store is read) */
    a = db_prepare(st, q);
    db_bind_int(a, 1, first);
    ck_assert_int_eq(db_step(a), DB_ROW);
    b = db_prepare(st, q);
    db_bind_int(b, 1, first + 1);
    c = db_prepare(st, "INSERT INTO accounts (name, created_at) VALUES (NULL, 'now')");
    d = db_prepare(st, "UPDATE accounts SET credits = credits WHERE id <= ?1");
    db_bind_int(d, 1, first + 1);
    cin_store_close(st);
    ck_assert_int_eq(db_step(a), DB_ROW);
    ck_assert_int_eq(db_col_int(a, 0), first + 1);
    ck_assert_int_eq(db_step(c), CIN_ECONSTRAINT);
    db_finalize(c);
    ck_assert_int_eq(db_step(d), CIN_OK);
    ck_assert_int_eq(db_changes(d), 2);
    db_finalize(d);
    db_finalize(a);
    ck_assert_int_eq(db_step(b), DB_ROW);
    ck_assert_int_eq(db_col_int(b, 0), first + 1);
    db_finalize(b);
}
END_TEST

/* Threads that hold a connection of a core, until told to end. */
struct holders {
    cin_core *core;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int opened, go;
};

static void *hold_connection(void *arg)
{
    struct holders *h = arg;
    int ok = cin_core_store(h->core) != NULL;

    pthread_mutex_lock(&h->mu);
    h->opened += ok;
    pthread_cond_broadcast(&h->cv);
    while (!h->go)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* nginx lets its pool threads go without joining them, then exits: the core
 * counts the threads whose connections are open, and a thread is counted
 * until its connections are closed as it ends, so the process can wait. */
START_TEST(exiting_threads_are_waited_for)
{
    struct holders h = {NULL, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    cin_core_config cfg = {0};
    pthread_t t;
    char *err = NULL;
    int i, status;
    pid_t pid;

    cin_store_close(new_store());
    cfg.store_path = path;
    ck_assert_int_eq(cin_core_create(&cfg, NULL, &h.core, &err), CIN_OK);
    ck_assert_ptr_nonnull(cin_core_store(h.core));
    ck_assert_int_eq(cin_core_wait_threads(h.core, 0), 0); /* its own is not waited for */
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(pthread_create(&t, NULL, hold_connection, &h), 0);
        ck_assert_int_eq(pthread_detach(t), 0);
    }
    pthread_mutex_lock(&h.mu);
    while (h.opened < 3)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    ck_assert_int_eq(cin_core_wait_threads(h.core, 20), 3); /* bounded: they are still there */
    /* a child counts its own threads only, not its parent's */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(cin_core_wait_threads(h.core, 0) == 0 && cin_core_store(h.core) &&
                      cin_core_wait_threads(h.core, 0) == 0
                  ? 0
                  : 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pthread_mutex_lock(&h.mu);
    h.go = 1;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    ck_assert_int_eq(cin_core_wait_threads(h.core, 30000), 0);
    cin_core_free(h.core);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, create_from_empty);
    tcase_add_test(tc, create_refuses_existing);
    tcase_add_test(tc, open_missing);
    tcase_add_test(tc, migrate_from_previous_version);
    tcase_add_test(tc, refuses_newer_schema);
    tcase_add_test(tc, wal_and_foreign_keys);
    tcase_add_test(tc, accounts_users_tokens);
    tcase_add_test(tc, token_expiry);
    tcase_add_test(tc, domains);
    tcase_add_test(tc, orders_events_certs_generation);
    tcase_add_test(tc, generation_seen_by_other_process);
    tcase_add_test(tc, generation_file_repaired_at_open);
    tcase_add_test(tc, sealed_key_tamper_detected);
    tcase_add_test(tc, ca_secrets);
    tcase_add_test(tc, leases);
    tcase_add_test(tc, backup_and_check);
    tcase_add_test(tc, concurrent_writers);
    tcase_add_test(tc, renewal_due_from_not_before);
    tcase_add_test(tc, copy_table_matches_schema);
    tcase_add_test(tc, constraint_errors_named);
    tcase_add_test(tc, uri_passwords_are_never_shown);
    tcase_add_test(tc, kept_statements_are_reset_and_never_shared);
    tcase_add_test(tc, exiting_threads_are_waited_for);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
