/*
 * hostcache.c - the host's shared cache of what a cache miss reads (see
 * cin_hostcache.h).
 *
 * The region: a header (the mutex, the bump offset, counters), a table of
 * bucket heads, then the entries, appended one after another.  An entry is
 * written whole before its bucket's head points to it, all under the mutex,
 * and readers copy it out under the mutex, so no reader sees a part.  Full:
 * every bucket emptied and the offset back to the start.  The region never
 * holds a pointer, only offsets from its start (each process may map it at
 * another address only if it were mapped again; fork keeps the address, but
 * offsets cost nothing).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cin_common.h"
#include "cin_hostcache.h"

#define HC_MAGIC 0x43494e48u /* "CINH" */
#define HC_ALIGN 8

struct hc_header {
    uint32_t magic;
    uint32_t nbuckets; /* a power of two */
    pthread_mutex_t lock;
    size_t size;  /* the whole region */
    size_t start; /* offset of the first entry */
    size_t used;  /* offset past the last entry */
    uint64_t hits, misses, entries, resets;
};

struct hc_entry {
    uint64_t next; /* the bucket's next entry, an offset; 0 ends it */
    int64_t cert_id;
    int64_t key_id;
    uint32_t flags;
    uint32_t nders;
    uint32_t sealed_len;
    uint32_t data_len; /* the bytes after this header: lengths, DERs, sealed key */
};

struct cin_hostcache {
    struct hc_header *h;
    size_t size;
};

static uint64_t *buckets(struct hc_header *h)
{
    return (uint64_t *)(void *)(h + 1);
}

static struct hc_entry *entry_at(struct hc_header *h, uint64_t off)
{
    return (struct hc_entry *)(void *)((unsigned char *)h + off);
}

static uint32_t bucket_of(const struct hc_header *h, int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ULL;

    return (uint32_t)(x >> 32) & (h->nbuckets - 1);
}

static void reset_locked(struct hc_header *h)
{
    memset(buckets(h), 0, (size_t)h->nbuckets * sizeof(uint64_t));
    h->used = h->start;
    h->entries = 0;
    h->resets++;
}

/* 0 with the lock held, -1 when it cannot be had.  A holder that died
 * leaves the region emptied: whatever it was writing is dropped. */
static int lock(struct hc_header *h)
{
    int rc = pthread_mutex_lock(&h->lock);

    if (rc == EOWNERDEAD) {
        if (pthread_mutex_consistent(&h->lock) != 0) {
            pthread_mutex_unlock(&h->lock);
            return -1;
        }
        reset_locked(h);
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

cin_hostcache *cin_hostcache_create(size_t bytes)
{
    cin_hostcache *hc;
    struct hc_header *h;
    pthread_mutexattr_t a;
    size_t nb = 1024;
    void *m;

    if (bytes < CIN_HOSTCACHE_MIN || bytes > CIN_HOSTCACHE_MAX)
        return NULL;
    /* a bucket for every ~1.5 KB entry the region may hold, at most */
    while (nb < (1u << 24) && nb * 1536 < bytes)
        nb <<= 1;
    m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1,
             0);
    if (m == MAP_FAILED)
        return NULL;
    hc = calloc(1, sizeof(*hc));
    if (!hc) {
        munmap(m, bytes);
        return NULL;
    }
    h = m;
    h->magic = HC_MAGIC;
    h->nbuckets = (uint32_t)nb;
    h->size = bytes;
    h->start = sizeof(*h) + nb * sizeof(uint64_t);
    h->start = (h->start + HC_ALIGN - 1) & ~(size_t)(HC_ALIGN - 1);
    h->used = h->start;
    if (h->start + 4096 > bytes || pthread_mutexattr_init(&a) != 0) {
        munmap(m, bytes);
        free(hc);
        return NULL;
    }
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (pthread_mutex_init(&h->lock, &a) != 0) {
        pthread_mutexattr_destroy(&a);
        munmap(m, bytes);
        free(hc);
        return NULL;
    }
    pthread_mutexattr_destroy(&a);
    hc->h = h;
    hc->size = bytes;
    return hc;
}

void cin_hostcache_free(cin_hostcache *hc)
{
    if (!hc)
        return;
    munmap(hc->h, hc->size); /* the mutex is the others' too: not destroyed */
    free(hc);
}

/* An entry's offset that lies whole within the written part (the region is
 * writable by every process of the server: a stray write must not make the
 * others read outside it or loop). */
static int entry_ok(const struct hc_header *h, uint64_t off)
{
    const struct hc_entry *e;

    if (off < h->start || off % HC_ALIGN || off > h->used || h->used - off < sizeof(*e))
        return 0;
    e = (const struct hc_entry *)(const void *)((const unsigned char *)h + off);
    return e->data_len <= h->used - off - sizeof(*e);
}

/* id's entry, or NULL; *link the pointer to it.  A chain that leaves the
 * written part, or runs longer than there are entries, empties the region. */
static struct hc_entry *find_locked(struct hc_header *h, int64_t id, uint64_t **link)
{
    uint64_t *at = &buckets(h)[bucket_of(h, id)], steps = 0;

    while (*at) {
        struct hc_entry *e;
        if (!entry_ok(h, *at) || ++steps > h->entries) {
            reset_locked(h);
            return NULL;
        }
        e = entry_at(h, *at);
        if (e->cert_id == id) {
            if (link)
                *link = at;
            return e;
        }
        at = &e->next;
    }
    return NULL;
}

void cin_hc_material_clear(cin_hc_material *m)
{
    if (!m)
        return;
    if (m->buf)
        free(m->buf); /* the key in it is sealed: nothing to wipe */
    memset(m, 0, sizeof(*m));
}

/* Point m into buf (a copy of an entry's data), checking every length. */
static int unpack(const struct hc_entry *e, unsigned char *buf, cin_hc_material *m)
{
    size_t off = (size_t)e->nders * 4, i;

    if (e->nders == 0 || e->nders > 16 || off > e->data_len)
        return CIN_ERR;
    for (i = 0; i < e->nders; i++) {
        uint32_t len;
        memcpy(&len, buf + i * 4, 4);
        if (len == 0 || len > e->data_len - off)
            return CIN_ERR;
        m->ders[i] = buf + off;
        m->der_len[i] = len;
        off += len;
    }
    if (e->sealed_len != e->data_len - off)
        return CIN_ERR;
    m->nders = e->nders;
    m->sealed = buf + off;
    m->sealed_len = e->sealed_len;
    m->cert_id = e->cert_id;
    m->key_id = e->key_id;
    m->flags = e->flags;
    m->buf = buf;
    return CIN_OK;
}

int cin_hostcache_get(cin_hostcache *hc, int64_t cert_id, cin_hc_material *out)
{
    struct hc_header *h = hc->h;
    struct hc_entry *e, copy;
    unsigned char *buf = NULL;
    int rc = CIN_ENOTFOUND;

    memset(out, 0, sizeof(*out));
    if (lock(h) != 0)
        return CIN_ERR;
    e = find_locked(h, cert_id, NULL);
    if (e) {
        copy = *e;
        buf = malloc(copy.data_len ? copy.data_len : 1);
        if (buf)
            memcpy(buf, e + 1, copy.data_len);
        rc = buf ? CIN_OK : CIN_ENOMEM;
        h->hits++;
    } else {
        h->misses++;
    }
    pthread_mutex_unlock(&h->lock);
    if (rc != CIN_OK)
        return rc;
    if (unpack(&copy, buf, out) != CIN_OK) {
        free(buf);
        memset(out, 0, sizeof(*out));
        return CIN_ERR;
    }
    return CIN_OK;
}

int cin_hostcache_put(cin_hostcache *hc, const cin_hc_material *m)
{
    struct hc_header *h = hc->h;
    struct hc_entry *e;
    size_t data = (size_t)m->nders * 4 + m->sealed_len, need, i;
    uint32_t b, len;
    unsigned char *p;

    if (m->nders == 0 || m->nders > 16 || !m->sealed || m->sealed_len == 0)
        return CIN_EINVAL;
    for (i = 0; i < m->nders; i++) {
        if (!m->ders[i] || m->der_len[i] == 0 || m->der_len[i] > hc->size)
            return CIN_EINVAL;
        data += m->der_len[i];
    }
    need = (sizeof(*e) + data + HC_ALIGN - 1) & ~(size_t)(HC_ALIGN - 1);
    if (need > (hc->size - h->start) / 4 || data > UINT32_MAX)
        return CIN_EINVAL;
    if (lock(h) != 0)
        return CIN_ERR;
    if (find_locked(h, m->cert_id, NULL)) {
        pthread_mutex_unlock(&h->lock);
        return CIN_OK;
    }
    if (h->used + need > h->size)
        reset_locked(h);
    e = entry_at(h, h->used);
    e->cert_id = m->cert_id;
    e->key_id = m->key_id;
    e->flags = m->flags;
    e->nders = (uint32_t)m->nders;
    e->sealed_len = (uint32_t)m->sealed_len;
    e->data_len = (uint32_t)data;
    p = (unsigned char *)(e + 1);
    for (i = 0; i < m->nders; i++) {
        len = (uint32_t)m->der_len[i];
        memcpy(p + i * 4, &len, 4);
    }
    p += m->nders * 4;
    for (i = 0; i < m->nders; i++) {
        memcpy(p, m->ders[i], m->der_len[i]);
        p += m->der_len[i];
    }
    memcpy(p, m->sealed, m->sealed_len);
    /* published last: a holder dying before this line leaves it unreachable */
    b = bucket_of(h, m->cert_id);
    e->next = buckets(h)[b];
    buckets(h)[b] = h->used;
    h->used += need;
    h->entries++;
    pthread_mutex_unlock(&h->lock);
    return CIN_OK;
}

void cin_hostcache_drop(cin_hostcache *hc, int64_t cert_id)
{
    struct hc_header *h = hc->h;
    struct hc_entry *e;
    uint64_t *link = NULL;

    if (lock(h) != 0)
        return;
    e = find_locked(h, cert_id, &link);
    if (e) {
        *link = e->next; /* its bytes stay until the region is emptied */
        h->entries--;
    }
    pthread_mutex_unlock(&h->lock);
}

void cin_hostcache_clear(cin_hostcache *hc)
{
    if (lock(hc->h) != 0)
        return;
    reset_locked(hc->h);
    pthread_mutex_unlock(&hc->h->lock);
}

void cin_hostcache_get_stats(cin_hostcache *hc, cin_hostcache_stats *s)
{
    struct hc_header *h = hc->h;

    memset(s, 0, sizeof(*s));
    s->size = hc->size;
    if (lock(h) != 0)
        return;
    s->hits = h->hits;
    s->misses = h->misses;
    s->entries = h->entries;
    s->resets = h->resets;
    s->used = h->used;
    pthread_mutex_unlock(&h->lock);
}

int cin_hostcache_hold_lock(cin_hostcache *hc)
{
    return lock(hc->h);
}
