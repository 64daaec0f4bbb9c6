/*
 * mirror.c - a host's local mirror of a central store (see cin_mirror.h for
 * the contract and the reasoning).
 *
 * The copy follows the central store's generation.  Every change that
 * handshakes care about moves it, in the same transaction: a certificate
 * added, replaced or revoked (certificates.changed_gen), a domain assigned or
 * removed (domain_log.gen).  A sync reads the central generation G first, then
 * the rows changed in (mirrored, G]; every transaction up to G has committed
 * (writers run one at a time), so nothing below G is missed.  Large catch-ups
 * (a host's first start beside 100 000 certificates) go in batches of a few
 * thousand certificates, each one SQLite transaction that moves the mirror's
 * generation only as far as it copied.  Challenge answers are few and short
 * lived: the live ones are copied whole on every sync.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cin_mirror.h"
#include "core_int.h"
#include "store_copy.h"
#include "store_int.h"

#define BATCH       2000 /* certificates per mirror transaction */
#define CIN_STR2(x) #x
#define CIN_STR(x)  CIN_STR2(x)

struct mirror_state {
    pid_t pid;
    int lock_fd;          /* >= 0: this process is the host's syncer */
    db_listener *listen;  /* LISTEN certinext on the central store */
    int catching_up;      /* the last sync stopped at a batch's end */
    int64_t last_sync_ms; /* the poll's clock: once a second without a notification */
};

static struct mirror_state *state_of(cin_core *core)
{
    struct mirror_state **slot = (struct mirror_state **)cin_core_mirror_slot(core), *m = *slot;

    if (m && m->pid == getpid())
        return m;
    /* made by the parent: its lock and connection are not this process's */
    m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->pid = getpid();
    m->lock_fd = -1;
    *slot = m;
    return m;
}

/* ---- preparing the state directory -------------------------------------------------- */

static int make_dir(const cin_core *core, const char *path, mode_t mode, char **err)
{
    const cin_core_config *cfg = cin_core_config_of(core);

    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        cin_seterr(err, "cannot make %s: %s", path, strerror(errno));
        return CIN_EIO;
    }
    if (cfg->worker_ids && geteuid() == 0 &&
        chown(path, (uid_t)cfg->worker_uid, (gid_t)cfg->worker_gid) != 0) {
        cin_seterr(err, "cannot give %s to the worker user: %s", path, strerror(errno));
        return CIN_EIO;
    }
    return CIN_OK;
}

static void give_to_worker(const cin_core *core, const char *path)
{
    const cin_core_config *cfg = cin_core_config_of(core);

    if (cfg->worker_ids && geteuid() == 0)
        if (chown(path, (uid_t)cfg->worker_uid, (gid_t)cfg->worker_gid) != 0 && errno != ENOENT)
            cin_log(cin_core_services(core), CIN_LOG_WARN, "cannot chown %s: %s", path,
                    strerror(errno));
}

/* The host id: made once, kept (the tests' "hosts" share one hostname). */
static int host_id(cin_core *core, char **err)
{
    char *path = cin_asprintf("%s/host-id", cin_core_state_dir(core));
    char *id = cin_core_host_id_slot(core), buf[64] = "";
    unsigned char rnd[8];
    int fd;

    if (!path)
        return CIN_ENOMEM;
    if (cin_host_id_read(cin_core_state_dir(core), buf, sizeof(buf)) != CIN_OK)
        buf[0] = '\0';
    if (!*buf) {
        if (cin_random(rnd, sizeof(rnd)) != CIN_OK) {
            free(path);
            return CIN_ERR;
        }
        cin_hex(rnd, sizeof(rnd), buf);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
            cin_seterr(err, "cannot write the host id %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            free(path);
            return CIN_EIO;
        }
        (void)!write(fd, "\n", 1);
        close(fd);
    }
    snprintf(id, 33, "%.32s", buf);
    free(path);
    return CIN_OK;
}

int cin_mirror_prepare(cin_core *core, char **err)
{
    const char *mp = cin_core_mirror_path(core);
    char *dir = NULL, *path = NULL;
    cin_store_opts o = {NULL, cin_core_kek(core), 0, 0, -1};
    cin_store *m = NULL;
    struct stat sb;
    int rc;

    if (!mp)
        return CIN_OK;
    rc = make_dir(core, cin_core_state_dir(core), 0755, err);
    if (rc == CIN_OK)
        rc = host_id(core, err);
    if (rc != CIN_OK)
        return rc;
    dir = cin_asprintf("%s/mirror", cin_core_state_dir(core));
    if (!dir)
        return CIN_ENOMEM;
    rc = make_dir(core, dir, 0700, err);
    if (rc != CIN_OK)
        goto done;
    /* made with the key the host has; opened, it checks that key */
    o.create = stat(mp, &sb) != 0;
    rc = cin_store_open_opts(mp, cin_core_services(core), &o, &m, err);
    cin_store_close(m);
    if (rc != CIN_OK)
        goto done;
    give_to_worker(core, mp);
    path = cin_asprintf("%s.gen", mp);
    if (path)
        give_to_worker(core, path);
    free(path);
    path = cin_asprintf("%s-wal", mp);
    if (path)
        give_to_worker(core, path);
    free(path);
    path = cin_asprintf("%s-shm", mp);
    if (path)
        give_to_worker(core, path);
    free(path);
    path = cin_asprintf("%s/syncer.lock", dir);
    if (path) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
        give_to_worker(core, path);
    }
done:
    free(path);
    free(dir);
    return rc;
}

int cin_host_id_read(const char *state_dir, char *buf, size_t len)
{
    char *path = cin_asprintf("%s/host-id", state_dir), tmp[64] = "";
    ssize_t n = -1;
    int fd;

    if (!path)
        return CIN_ENOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd >= 0) {
        n = read(fd, tmp, sizeof(tmp) - 1);
        close(fd);
    }
    tmp[n > 0 ? n : 0] = '\0';
    tmp[strcspn(tmp, "\r\n")] = '\0';
    if (!*tmp)
        return CIN_ENOTFOUND;
    snprintf(buf, len, "%.32s", tmp);
    return CIN_OK;
}

const char *cin_core_host_id(cin_core *core)
{
    return cin_core_host_id_slot(core);
}

/* ---- the syncer ---------------------------------------------------------------------- */

/* Take the host's syncer lock if it is free; 1 when this process holds it. */
static int elected(cin_core *core, struct mirror_state *m)
{
    char *path;
    int fd;

    if (m->lock_fd >= 0)
        return 1;
    path = cin_asprintf("%s/mirror/syncer.lock", cin_core_state_dir(core));
    if (!path)
        return 0;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return 0;
    }
    m->lock_fd = fd;
    cin_log(cin_core_services(core), CIN_LOG_INFO,
            "mirror: this process (%ld) keeps the host's mirror in step", (long)getpid());
    return 1;
}

static int copy(cin_store *central, cin_store *mirror, const char *table, const char *where,
                const int64_t *params, size_t n, int64_t *count)
{
    int64_t c = 0;
    int rc = st_copy_rows(central, mirror, st_table_named(table), where, params, n, &c);

    if (count)
        *count += c;
    return rc;
}

/* The generation up to which one batch reaches: at most BATCH certificates
 * (more when many share the last generation). */
static int batch_end(cin_store *central, uint64_t from, uint64_t to, uint64_t *end)
{
    db_stmt *s = db_prepare(central, "SELECT changed_gen FROM certificates WHERE changed_gen > ?1"
                                     " AND changed_gen <= ?2 ORDER BY changed_gen LIMIT 1"
                                     " OFFSET " CIN_STR(BATCH));
    int rc;

    db_bind_int(s, 1, (int64_t)from);
    db_bind_int(s, 2, (int64_t)to);
    rc = db_one(s);
    *end = to;
    if (rc == CIN_OK)
        *end = (uint64_t)db_col_int(s, 0);
    db_finalize(s);
    return rc == CIN_ENOTFOUND ? CIN_OK : rc;
}

/* Domains whose assignment changed in (from, to]: the mirror's rows replaced. */
static int copy_domains(cin_store *central, cin_store *mirror, uint64_t from, uint64_t to,
                        int64_t *count)
{
    const int64_t p[2] = {(int64_t)from, (int64_t)to};
    db_stmt *s, *d;
    int rc;

    if (from == 0) {
        /* everything (domains assigned before the log existed have no rows in it) */
        rc = db_exec(mirror, "DELETE FROM domains");
        return rc == CIN_OK ? copy(central, mirror, "domains", NULL, NULL, 0, count) : rc;
    }
    s = db_prepare(central, "SELECT DISTINCT name FROM domain_log WHERE gen > ?1 AND gen <= ?2");
    db_bind_int(s, 1, p[0]);
    db_bind_int(s, 2, p[1]);
    while ((rc = db_step(s)) == DB_ROW) {
        d = db_prepare(mirror, "DELETE FROM domains WHERE name = ?1");
        db_bind_text(d, 1, db_col_text(s, 0));
        rc = db_run(d);
        if (rc != CIN_OK)
            break;
    }
    db_finalize(s);
    if (rc == CIN_OK)
        rc = copy(central, mirror, "domains",
                  "WHERE name IN (SELECT name FROM domain_log WHERE gen > ?1 AND gen <= ?2)", p, 2,
                  count);
    return rc;
}

/* One mirror transaction: the changes in (mirrored, end], and the challenges. */
static int sync_once(cin_core *core, cin_store *central, cin_store *mirror, struct mirror_state *m,
                     int64_t *count)
{
    uint64_t cgen = 0, mgen = 0, end;
    int64_t p[2], now = (int64_t)cin_now(cin_core_services(core));
    int rc;

    rc = cin_store_generation(central, &cgen);
    if (rc == CIN_OK)
        rc = cin_store_generation(mirror, &mgen);
    if (rc != CIN_OK)
        return rc;
    if (cgen < mgen) {
        /* the central store was replaced (restored, copied anew): start over */
        cin_log(cin_core_services(core), CIN_LOG_WARN,
                "mirror: the central store's generation went back (%llu < %llu); copying it "
                "anew",
                (unsigned long long)cgen, (unsigned long long)mgen);
        mgen = 0;
    }
    rc = batch_end(central, mgen, cgen, &end);
    if (rc != CIN_OK)
        return rc;
    /* a mirror holds certificates without their orders and accounts: its
     * rows are the central store's, checked there (the mirror is SQLite) */
    rc = db_exec(mirror, "PRAGMA foreign_keys = OFF");
    if (rc == CIN_OK)
        rc = cin_store_begin(mirror);
    if (rc != CIN_OK)
        return rc;
    if (mgen == 0 && cgen > 0)
        rc = db_exec(mirror, "DELETE FROM cert_names; DELETE FROM certificates;"
                             " DELETE FROM private_keys; DELETE FROM domain_log");
    p[0] = (int64_t)mgen;
    p[1] = (int64_t)end;
    if (rc == CIN_OK && end > mgen) {
        rc = copy(central, mirror, "private_keys",
                  "WHERE id IN (SELECT key_id FROM certificates WHERE changed_gen > ?1 AND"
                  " changed_gen <= ?2)",
                  p, 2, NULL);
        if (rc == CIN_OK)
            rc = copy(central, mirror, "certificates",
                      "WHERE changed_gen > ?1 AND changed_gen <= ?2", p, 2, count);
        if (rc == CIN_OK)
            rc = copy(central, mirror, "cert_names",
                      "WHERE cert_id IN (SELECT id FROM certificates WHERE changed_gen > ?1 AND"
                      " changed_gen <= ?2)",
                      p, 2, NULL);
        if (rc == CIN_OK)
            rc = copy_domains(central, mirror, mgen, end, count);
        if (rc == CIN_OK)
            rc = copy(central, mirror, "domain_log", "WHERE gen > ?1 AND gen <= ?2", p, 2, NULL);
        if (rc == CIN_OK)
            rc = cin_store_generation_set(mirror, end);
    }
    /* the live challenge answers, whole */
    if (rc == CIN_OK)
        rc = db_exec(mirror, "DELETE FROM challenges");
    if (rc == CIN_OK)
        rc = copy(central, mirror, "challenges", "WHERE expires_at > ?1", &now, 1, NULL);
    rc = cin_store_end(mirror, rc);
    if (rc != CIN_OK)
        return rc;
    m->catching_up = end < cgen;
    /* how far this host has got, for the agents that wait for every host */
    return cin_mirror_report(core, central, end);
}

int cin_mirror_report(cin_core *core, cin_store *central, uint64_t synced)
{
    char host[128] = "";
    db_stmt *s;

    gethostname(host, sizeof(host) - 1);
    s = db_prepare(central, "INSERT INTO hosts(host_id, name, synced_gen, seen_at) VALUES"
                            " (?1, ?2, ?3, ?4) ON CONFLICT(host_id) DO UPDATE SET"
                            " name = excluded.name, synced_gen = excluded.synced_gen,"
                            " seen_at = excluded.seen_at");
    db_bind_text(s, 1, cin_core_host_id(core));
    db_bind_text(s, 2, host);
    db_bind_int(s, 3, (int64_t)synced);
    db_bind_int(s, 4, (int64_t)cin_now(cin_core_services(core)));
    return db_run(s);
}

int cin_mirror_step(cin_core *core, int wait_ms, int64_t *synced)
{
    struct mirror_state *m = state_of(core);
    cin_store *central, *mirror;
    int rc, notified = 0;

    if (synced)
        *synced = 0;
    if (!m || !cin_core_is_central(core))
        return CIN_OK;
    if (!elected(core, m)) {
        cin_pause_ms(wait_ms);
        return CIN_OK;
    }
    central = cin_core_store(core);
    mirror = cin_core_serving(core);
    if (!central || !mirror) {
        cin_pause_ms(wait_ms > 0 ? wait_ms : 0); /* the store is down: the next step tries again */
        return CIN_EUNAVAIL;
    }
    if (!m->listen)
        m->listen = db_pg_listen(central);
    if (!m->catching_up) {
        /* a notification, or the poll's second */
        rc = m->listen ? db_pg_listen_wait(m->listen, wait_ms) : CIN_EUNAVAIL;
        if (rc < 0) {
            db_pg_unlisten(m->listen);
            m->listen = NULL;
            cin_pause_ms(wait_ms);
        }
        notified = rc > 0;
        if (!notified && cin_monotonic_ms() - m->last_sync_ms < 1000)
            return CIN_OK;
    }
    m->last_sync_ms = cin_monotonic_ms();
    rc = sync_once(core, central, mirror, m, synced);
    if (rc != CIN_OK)
        cin_log(cin_core_services(core), CIN_LOG_DEBUG, "mirror: sync failed: %s",
                cin_strstatus(rc));
    return rc;
}

void cin_mirror_stop(cin_core *core)
{
    struct mirror_state **slot = (struct mirror_state **)cin_core_mirror_slot(core), *m = *slot;

    if (!m || m->pid != getpid())
        return;
    db_pg_unlisten(m->listen);
    if (m->lock_fd >= 0)
        close(m->lock_fd); /* the lock goes with it: another process takes over */
    free(m);
    *slot = NULL;
}

int cin_mirror_wait(cin_core *core, uint64_t generation, int timeout_ms)
{
    cin_store *mirror = cin_core_serving(core);
    int64_t until = cin_monotonic_ms() + timeout_ms;

    if (!cin_core_is_central(core) || !mirror || !generation)
        return CIN_OK;
    while (cin_store_generation_published(mirror) < generation) {
        if (cin_monotonic_ms() >= until)
            return CIN_EBUSY;
        cin_pause_ms(2);
    }
    return CIN_OK;
}
