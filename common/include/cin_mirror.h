/*
 * cin_mirror.h - a host's local mirror of a central (PostgreSQL) store.
 *
 * Handshakes never wait on the network.  Each host keeps, in its state
 * directory (STATE_DIR/mirror/mirror.db, a SQLite store opened with the same
 * key), what handshakes and challenge answers read: certificates, their names
 * and sealed keys, the domain assignments, the challenge answers, and the
 * central store's generation.  Workers read the mirror exactly as they read a
 * SQLite store (cin_core_serving), and notice changes through the mirror's
 * own mapped generation file.
 *
 * One syncer per host keeps it current: every server process of the host
 * (nginx workers, httpd children, the agent command) calls cin_mirror_step()
 * from a thread of its own; the first to take the lock STATE_DIR/mirror/
 * syncer.lock is the syncer until its process ends (the kernel releases the
 * lock with it), the others only wait.  The syncer follows the central store
 * with LISTEN/NOTIFY (every change of the generation notifies) and polls once
 * a second besides, copies the changed rows into the mirror in one SQLite
 * transaction, moves the mirror's generation and records in the central
 * store how far this host has got (cin_mirror_hosts).
 *
 * While PostgreSQL is down the mirror stays as it was: every certificate the
 * host had is still served; the API answers 503 store_unavailable.
 */
#ifndef CIN_MIRROR_H
#define CIN_MIRROR_H

#include "cin_core.h"

/*
 * In a server's parent, before workers start (cin_core_create calls it for a
 * central store): make STATE_DIR/mirror (for the configured worker user),
 * the host id STATE_DIR/host-id, and the mirror itself, or open it and check
 * that the key is the one it was made with.
 */
int cin_mirror_prepare(cin_core *core, char **err);

/*
 * One step of this process's syncer: take the host's syncer lock if it is
 * free, then (the holder only) wait up to wait_ms for a change and copy what
 * changed into the mirror.  Not the holder: waits wait_ms and returns.
 * *synced (may be NULL) counts the certificate and domain rows copied.
 * CIN_OK, or the error of the central store (CIN_EUNAVAIL while it is down).
 */
int cin_mirror_step(cin_core *core, int wait_ms, int64_t *synced);

/* Wait up to timeout_ms until this host's mirror has caught up with the
 * central store's generation `generation` (a request's own change: what it
 * revoked is no longer served when its answer arrives).  CIN_EBUSY after the
 * timeout; CIN_OK at once for a SQLite store. */
int cin_mirror_wait(cin_core *core, uint64_t generation, int timeout_ms);

/* Record in the central store how far this host's mirror has got (synced:
 * its generation).  The syncer does after each step; a server's parent does at
 * start, so that agents wait for a host from its first moment (an http-01
 * answer is asked for only once every live host can give it). */
int cin_mirror_report(cin_core *core, cin_store *central, uint64_t synced);

/* Give up the syncer role and its connection (process exit). */
void cin_mirror_stop(cin_core *core);

/* This host's id: random, kept in STATE_DIR/host-id (hostnames are shared by
 * containers).  "" when unknown. */
const char *cin_core_host_id(cin_core *core);

/* Read the host id kept in state_dir (the command line's agent, which has no
 * core): CIN_OK, or CIN_ENOTFOUND when this host has none yet. */
int cin_host_id_read(const char *state_dir, char *buf, size_t len);

#endif
