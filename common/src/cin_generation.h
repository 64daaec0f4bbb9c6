/*
 * cin_generation.h - the store's generation, published in a mapped file.
 *
 * Every change to the set of certificates that servers should present (one
 * added, replaced or revoked) increments a generation counter inside the
 * store, in the same transaction as the change.  After the commit the writer
 * also publishes the new value in PATH.gen: a file of exactly 8 bytes holding
 * a native-endian uint64_t, mapped MAP_SHARED by every process on the host.
 *
 * A TLS handshake notices a change with one atomic 8-byte load from that
 * mapping - no system call, no lock, no store access.  The file is only a
 * hint: the store remains the truth.  A writer that crashes between commit
 * and publish leaves the file behind; the next cin_gen_publish() (or opening
 * the store) brings it forward again.  The value only grows, except when the
 * store itself went back (cin_gen_lower).
 */
#ifndef CIN_GENERATION_H
#define CIN_GENERATION_H

#include "cin_common.h"

typedef struct cin_gen cin_gen;

/* Map path, creating it (mode 0644, value 0) when missing.  *out owned by the
 * caller, freed with cin_gen_close(). */
int cin_gen_open(const char *path, cin_gen **out, char **err);
void cin_gen_close(cin_gen *g);

/* One atomic load. */
uint64_t cin_gen_read(const cin_gen *g);
/* Raise the published value to v if it is lower (compare-and-swap loop). */
void cin_gen_publish(cin_gen *g, uint64_t v);
/* Set the published value back from `from` to v < from, if it still holds
 * `from` (one compare-and-swap); 1 when it did.  For a store that went back
 * (restored from a backup): a reader that read the file (from) before the
 * store (v) and found v lower knows the store went back, since every writer
 * commits before it publishes.  Left high, the file would differ from every
 * process's generation until the store passed it, and every handshake would
 * read the store again. */
int cin_gen_lower(cin_gen *g, uint64_t from, uint64_t v);

#endif
