/*
 * tls.c - the per-process name index and certificate cache behind the
 * handshake (see cin_tls.h for the contract and the reasoning).
 */
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cin_crypto.h"
#include "cin_generation.h"
#include "cin_hostcache.h"
#include "cin_metrics.h"
#include "cin_store_order.h"
#include "cin_tls.h"
#include "cin_util.h"
#include "cin_x509.h"
#include "core_int.h"

/* The cache's hash table starts this small and doubles as the cache fills
 * (a bound of a million certificates costs nothing until they are used). */
#define CACHE_BUCKETS_MIN 16

/* ---- name index and domain map: open hashing, string keys -------------------- */

/* A certificate that may be served for a name: the newest active one of each
 * account that has one (during a domain's move there can be two). */
struct cand {
    int64_t cert_id;
    int64_t account_id;
};

struct name_node {
    struct name_node *next;
    int64_t value;      /* domain map: the owning account */
    struct cand *cands; /* name index: the candidates */
    size_t ncands;
    char name[]; /* flexible */
};

struct name_index {
    struct name_node **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int index_grow(struct name_index *ix)
{
    size_t n = ix->nbuckets ? ix->nbuckets * 2 : 1024, i;
    struct name_node **b = calloc(n, sizeof(*b));

    if (!b)
        return CIN_ENOMEM;
    for (i = 0; i < ix->nbuckets; i++) {
        struct name_node *e = ix->buckets[i], *next;
        for (; e; e = next) {
            size_t k = hash_str(e->name) & (n - 1);
            next = e->next;
            e->next = b[k];
            b[k] = e;
        }
    }
    free(ix->buckets);
    ix->buckets = b;
    ix->nbuckets = n;
    return CIN_OK;
}

static struct name_node *index_find(const struct name_index *ix, const char *name)
{
    struct name_node *e;

    if (!ix->nbuckets)
        return NULL;
    for (e = ix->buckets[hash_str(name) & (ix->nbuckets - 1)]; e; e = e->next)
        if (!strcmp(e->name, name))
            return e;
    return NULL;
}

static void node_free(struct name_node *e)
{
    free(e->cands);
    free(e);
}

static void index_remove(struct name_index *ix, const char *name)
{
    struct name_node **pp, *e;

    if (!ix->nbuckets)
        return;
    for (pp = &ix->buckets[hash_str(name) & (ix->nbuckets - 1)]; (e = *pp); pp = &e->next) {
        if (!strcmp(e->name, name)) {
            *pp = e->next;
            node_free(e);
            ix->count--;
            return;
        }
    }
}

/* The node for name, created empty when missing; NULL without memory. */
static struct name_node *index_get_or_add(struct name_index *ix, const char *name)
{
    struct name_node *e = index_find(ix, name), **pp;
    size_t len;

    if (e)
        return e;
    if (ix->count >= ix->nbuckets * 3 / 4 && index_grow(ix) != CIN_OK)
        return NULL;
    len = strlen(name);
    e = calloc(1, sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    memcpy(e->name, name, len + 1);
    pp = &ix->buckets[hash_str(name) & (ix->nbuckets - 1)];
    e->next = *pp;
    *pp = e;
    ix->count++;
    return e;
}

static void index_free(struct name_index *ix)
{
    size_t i;

    for (i = 0; i < ix->nbuckets; i++) {
        struct name_node *e = ix->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            node_free(e);
        }
    }
    free(ix->buckets);
    memset(ix, 0, sizeof(*ix));
}

/* ---- certificate cache: keyed by certificate id, evicted by a clock --------------
 *
 * A hit only marks its entry used: moving it to the front of a list (LRU)
 * would write two other entries, random ones, on every handshake - with
 * 100 000 certificates each a cache line on a page of its own.  When the
 * cache is full, the oldest entry leaves unless it was used since it last
 * came round; then it goes to the front, unmarked (the second chance). */

struct entry {
    int64_t cert_id;
    X509 *leaf;
    STACK_OF(X509) * chain; /* the intermediates */
    EVP_PKEY *key;
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* the clock's list, newest first */
    int used;                  /* taken since it last went round */
};

/* An intermediate certificate, parsed once and shared by every entry whose
 * chain carries the same DER.  The table is bounded: when full, the least
 * recently used one leaves it (entries keep their own references), and only
 * the first few intermediates of a chain are shared, so that no one chain -
 * an imported one can be long - takes the table over. */
struct inter {
    uint64_t hash;
    unsigned char *der;
    long len;
    X509 *x;
    uint64_t used; /* the table's clock when last taken */
};

#define INTER_MAX       256
#define INTER_SHARE     4  /* intermediates of one chain shared; the rest parsed per entry */
#define BAD_MAX         64 /* certificates remembered as unusable until the generation moves */
#define REFUSED_MAX     64 /* refusals by the server's TLS settings logged until then */
#define ATTACH_WAIT_MAX 30000000 /* microseconds between attempts to open a store that failed */

struct cin_tls {
    cin_core *core;
    /* the published generation: NULL until the store (or the host's mirror)
     * could be opened; set once, under the lock, and read without it */
    cin_gen *gen;
    uint64_t next_attach; /* until then no other attempt (microseconds, lock held) */
    int attaching;        /* a thread is opening the store (lock held) */
    uint64_t attach_wait; /* between attempts: 1 s, doubled up to ATTACH_WAIT_MAX */
    pthread_mutex_t lock;
    pthread_mutex_t ilock; /* the intermediates, taken alone and briefly */
    struct inter *inters;
    size_t ninters;
    uint64_t iclock;
    struct name_index names;   /* name -> candidate certificates */
    struct name_index domains; /* assigned domain -> owning account */
    uint64_t generation;
    struct entry **cbuckets;
    size_t ncbuckets, cached, cache_size;
    struct entry *head, *tail;
    uint64_t hits, misses, refreshes;
    /* certificates that failed to load (a chain that does not parse, a key
     * that is not the leaf's): not read, parsed and logged again on every
     * handshake for their names until something changes (lock held) */
    int64_t bad[BAD_MAX];
    size_t nbad, badnext;
    /* certificates the server's TLS settings refused, logged once each until
     * the generation moves (whatever the cache evicts meanwhile); past
     * REFUSED_MAX, one line says that further ones are not logged */
    int64_t refused[REFUSED_MAX];
    size_t nrefused;
};

static void entry_free(struct entry *e)
{
    X509_free(e->leaf);
    sk_X509_pop_free(e->chain, X509_free);
    EVP_PKEY_free(e->key);
    free(e);
}

static void list_unlink(cin_tls *t, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_front(cin_tls *t, struct entry *e)
{
    e->next = t->head;
    e->prev = NULL;
    if (t->head)
        t->head->prev = e;
    t->head = e;
    if (!t->tail)
        t->tail = e;
}

static struct entry *cache_get(cin_tls *t, int64_t id)
{
    struct entry *e = t->cbuckets[(uint64_t)id & (t->ncbuckets - 1)];

    for (; e; e = e->hnext)
        if (e->cert_id == id)
            return e;
    return NULL;
}

static void cache_remove(cin_tls *t, int64_t id)
{
    struct entry **pp = &t->cbuckets[(uint64_t)id & (t->ncbuckets - 1)], *e;

    for (; (e = *pp); pp = &e->hnext) {
        if (e->cert_id == id) {
            *pp = e->hnext;
            list_unlink(t, e);
            entry_free(e);
            t->cached--;
            return;
        }
    }
}

/* Room for n entries at most half full (no more than the cache's bound
 * asks for): the table rehashed into more buckets.  Without the memory, the
 * chains grow longer: still correct. */
static void cache_reserve(cin_tls *t, size_t n)
{
    size_t nb = t->ncbuckets, i;
    struct entry **b, *e, *next;

    if (n > t->cache_size)
        n = t->cache_size;
    while (nb < n * 2)
        nb *= 2;
    if (nb == t->ncbuckets || !(b = calloc(nb, sizeof(*b))))
        return;
    for (i = 0; i < t->ncbuckets; i++) {
        for (e = t->cbuckets[i]; e; e = next) {
            struct entry **pp = &b[(uint64_t)e->cert_id & (nb - 1)];
            next = e->hnext;
            e->hnext = *pp;
            *pp = e;
        }
    }
    free(t->cbuckets);
    t->cbuckets = b;
    t->ncbuckets = nb;
}

static void cache_put(cin_tls *t, struct entry *e)
{
    struct entry **pp;

    while (t->cached >= t->cache_size && t->tail) {
        struct entry *old = t->tail;
        if (old->used && t->cached > 1) {
            old->used = 0;
            list_unlink(t, old);
            list_front(t, old);
        } else {
            cache_remove(t, old->cert_id);
        }
    }
    if (t->cached * 2 >= t->ncbuckets)
        cache_reserve(t, t->cached + 1); /* doubled */
    pp = &t->cbuckets[(uint64_t)e->cert_id & (t->ncbuckets - 1)];
    e->hnext = *pp;
    *pp = e;
    list_front(t, e);
    t->cached++;
}

static uint64_t hash_mem(const unsigned char *p, long n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    while (n-- > 0) {
        h ^= *p++;
        h *= 1099511628211ULL;
    }
    return h;
}

static X509 *der_x509(const unsigned char *der, long len)
{
    const unsigned char *p = der;

    return d2i_X509(NULL, &p, len); /* as PEM_read_bio_X509 reads a block */
}

/* The slot of der in the table, or -1 (ilock held). */
static long inter_find(cin_tls *t, uint64_t h, const unsigned char *der, long len)
{
    size_t i;

    for (i = 0; i < t->ninters; i++)
        if (t->inters[i].hash == h && t->inters[i].len == len &&
            !memcmp(t->inters[i].der, der, (size_t)len))
            return (long)i;
    return -1;
}

/* The parsed intermediate for one DER certificate, a new reference: from
 * the shared table, else parsed (without any lock) and added to it. */
static X509 *intermediate(cin_tls *t, const unsigned char *der, long len, int share)
{
    uint64_t h;
    X509 *x = NULL, *parsed;
    unsigned char *copy;
    long i;

    if (!share)
        return der_x509(der, len);
    h = hash_mem(der, len);
    pthread_mutex_lock(&t->ilock);
    i = inter_find(t, h, der, len);
    if (i >= 0 && X509_up_ref(t->inters[i].x) == 1) {
        x = t->inters[i].x;
        t->inters[i].used = ++t->iclock;
    }
    pthread_mutex_unlock(&t->ilock);
    if (x)
        return x;
    parsed = der_x509(der, len);
    copy = parsed ? malloc((size_t)len) : NULL;
    if (!copy)
        return parsed;
    memcpy(copy, der, (size_t)len);
    pthread_mutex_lock(&t->ilock);
    if (inter_find(t, h, der, len) < 0 && X509_up_ref(parsed) == 1) { /* not added meanwhile */
        size_t slot = t->ninters, k;
        if (slot == INTER_MAX) {
            for (slot = 0, k = 1; k < t->ninters; k++)
                if (t->inters[k].used < t->inters[slot].used)
                    slot = k;
            X509_free(t->inters[slot].x);
            free(t->inters[slot].der);
        } else {
            t->ninters++;
        }
        t->inters[slot] = (struct inter){h, copy, len, parsed, ++t->iclock};
        copy = NULL;
    }
    pthread_mutex_unlock(&t->ilock);
    free(copy);
    return parsed;
}

/* The DER blocks parse_chain read, in order, for the host's shared cache. */
struct ders {
    unsigned char *der[CIN_CHAIN_MAX];
    long len[CIN_CHAIN_MAX];
    size_t n;
};

static void ders_free(struct ders *d)
{
    size_t i;

    for (i = 0; i < d->n; i++)
        OPENSSL_free(d->der[i]);
    d->n = 0;
}

/*
 * The leaf (its own parse) and the intermediates (shared) of a PEM chain,
 * read as cin_chain_parse reads it: the certificate blocks in order (other
 * blocks skipped), up to the first that cannot be read - and no more than
 * CIN_CHAIN_MAX (import refuses longer chains; a CA's would be cut there).
 */
static int parse_chain(cin_tls *t, const char *pem, X509 **leaf, STACK_OF(X509) * *chain,
                       int *leaf_key, struct ders *kept)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    int shared = 0;

    *leaf = NULL;
    *chain = sk_X509_new_null();
    while (b && *chain && sk_X509_num(*chain) + 1 < CIN_CHAIN_MAX) {
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long len = 0;
        EVP_CIPHER_INFO cipher;
        X509 *x = NULL;
        int cert;

        if (PEM_read_bio(b, &name, &header, &der, &len) != 1)
            break;
        cert = !strcmp(name, PEM_STRING_X509) || !strcmp(name, PEM_STRING_X509_OLD);
        if (cert && PEM_get_EVP_CIPHER_INFO(header, &cipher) == 1 && !cipher.cipher)
            x = !*leaf ? cin_leaf_from_der(der, len, leaf_key)
                       : intermediate(t, der, len, shared++ < INTER_SHARE);
        OPENSSL_free(name);
        OPENSSL_free(header);
        if (x && kept && kept->n < CIN_CHAIN_MAX) {
            kept->der[kept->n] = der; /* what was parsed, as it was parsed */
            kept->len[kept->n++] = len;
        } else {
            OPENSSL_free(der);
        }
        if (!cert)
            continue;
        if (!x)
            break;
        if (!*leaf) {
            *leaf = x;
        } else if (!sk_X509_push(*chain, x)) {
            X509_free(x);
            break;
        }
    }
    BIO_free(b);
    ERR_clear_error();
    return *leaf && *chain ? CIN_OK : CIN_EINVAL;
}

/* The leaf parsed again the generic way (its public key by OpenSSL). */
static void reparse_leaf(struct entry *e)
{
    unsigned char *der = NULL;
    int len = i2d_X509(e->leaf, &der);
    X509 *x = len > 0 ? der_x509(der, len) : NULL;

    OPENSSL_free(der);
    if (x) {
        X509_free(e->leaf);
        e->leaf = x;
    }
}

/* A certificate from the host's shared cache: its DER blocks parsed as
 * parse_chain parsed them when the entry was made, its key opened here.  The
 * key was checked against the leaf then (SSL_use_cert_and_key compares them
 * again).  NULL when it is not there or does not load: the store decides. */
static struct entry *load_shared(cin_tls *t, cin_hostcache *hc, int64_t id)
{
    cin_hc_material hm;
    struct entry *e = NULL;
    unsigned char *pt = NULL;
    size_t ptlen = 0, i;
    char label[CIN_KEY_LABEL_MAX];
    int leaf_key = 0, shared = 0;

    if (cin_hostcache_get(hc, id, &hm) != CIN_OK) {
        cin_metrics_add(CIN_M_SHARED_MISS, 1);
        return NULL;
    }
    cin_key_label(label, hm.key_id);
    if (cin_open(cin_core_kek(t->core), label, hm.sealed, hm.sealed_len, &pt, &ptlen) != CIN_OK ||
        !(e = calloc(1, sizeof(*e))) || !(e->chain = sk_X509_new_null()))
        goto fail;
    e->cert_id = id;
    e->leaf = hm.flags & CIN_HC_GENERIC_LEAF
                  ? der_x509(hm.ders[0], (long)hm.der_len[0])
                  : cin_leaf_from_der(hm.ders[0], (long)hm.der_len[0], &leaf_key);
    for (i = 1; e->leaf && i < hm.nders; i++) {
        X509 *x = intermediate(t, hm.ders[i], (long)hm.der_len[i], shared++ < INTER_SHARE);
        if (!x || !sk_X509_push(e->chain, x)) {
            X509_free(x);
            goto fail;
        }
    }
    e->key = e->leaf ? cin_key_from_pem_typed((const char *)pt, NULL) : NULL;
    if (!e->key)
        goto fail;
    cin_metrics_add(CIN_M_SHARED_HIT, 1);
    goto done;
fail:
    /* not opened (another key-encryption key) or not parsed: the store's
     * copy replaces it */
    cin_hostcache_drop(hc, id);
    cin_metrics_add(CIN_M_SHARED_MISS, 1);
    if (e)
        entry_free(e);
    e = NULL;
done:
    if (pt)
        cin_free_secret(pt, ptlen);
    cin_hc_material_clear(&hm);
    ERR_clear_error();
    return e;
}

/* What a load from the store leaves in the host's shared cache. */
static void share(cin_hostcache *hc, int64_t id, const cin_cert_material *m, const struct ders *d,
                  unsigned flags)
{
    cin_hc_material hm;
    size_t i;

    if (!d->n || !m->sealed)
        return;
    memset(&hm, 0, sizeof(hm));
    hm.cert_id = id;
    hm.key_id = m->key_id;
    hm.flags = flags;
    hm.nders = d->n;
    for (i = 0; i < d->n; i++) {
        hm.ders[i] = d->der[i];
        hm.der_len[i] = (size_t)d->len[i];
    }
    hm.sealed = m->sealed;
    hm.sealed_len = m->sealed_len;
    cin_hostcache_put(hc, &hm); /* one too large is simply not shared */
}

/* Parse one certificate (chain + key): from the host's shared cache, else
 * one read of the store (or the host's mirror), the leaf and the key parsed,
 * the intermediates shared (see key_load.c for the key), and what was read
 * left in the shared cache.  Called without the lock. */
static struct entry *load_entry(cin_tls *t, int64_t id, int *unusable)
{
    cin_hostcache *hc = cin_core_hostcache(t->core);
    cin_store *st;
    struct entry *e = NULL;
    cin_cert_material m;
    struct ders kept = {0};
    unsigned flags = 0;
    int leaf_key = 0, matches;

    *unusable = 0;
    if (hc && (e = load_shared(t, hc, id)) != NULL)
        return e;
    st = cin_core_serving(t->core);
    if (!st || cin_store_cert_material(st, id, &m) != CIN_OK)
        return NULL;
    if (!m.active || !m.key_pem) {
        /* revoked meanwhile, or a key that failed its integrity check (the
         * store logged it) */
        *unusable = m.key_failed || (m.active && !m.key_pem);
        goto done;
    }
    e = calloc(1, sizeof(*e));
    if (!e ||
        parse_chain(t, m.chain_pem, &e->leaf, &e->chain, &leaf_key, hc ? &kept : NULL) != CIN_OK)
        goto fail;
    e->cert_id = id;
    e->key = cin_key_from_pem_typed(m.key_pem, m.key_type);
    matches = e->key && X509_check_private_key(e->leaf, e->key) == 1;
    if (!matches && e->key && leaf_key) {
        reparse_leaf(e); /* compared by its bytes: let OpenSSL decide */
        matches = X509_check_private_key(e->leaf, e->key) == 1;
        flags |= CIN_HC_GENERIC_LEAF;
    }
    if (!matches)
        goto fail;
    if (hc)
        share(hc, id, &m, &kept, flags);
    goto done;
fail:
    *unusable = e != NULL;
    cin_log(cin_core_services(t->core), CIN_LOG_ERROR,
            "tls: certificate %lld cannot be used (unparsable chain or key mismatch)",
            (long long)id);
    if (e)
        entry_free(e);
    e = NULL;
done:
    ders_free(&kept);
    cin_cert_material_clear(&m);
    ERR_clear_error();
    return e;
}

/* Drop the parsed copy of every candidate of e that is not in keep[0..nkeep). */
static void drop_stale(cin_tls *t, const struct name_node *e, const struct cand *keep, size_t nkeep)
{
    size_t i, k;

    for (i = 0; i < e->ncands; i++) {
        for (k = 0; k < nkeep && keep[k].cert_id != e->cands[i].cert_id; k++)
            ;
        if (k == nkeep)
            cache_remove(t, e->cands[i].cert_id); /* replaced or revoked */
    }
}

/* Replace the candidates of one name by the rows ne[0..n) (all of that name). */
static int set_candidates(cin_tls *t, const cin_name_entry *ne, size_t n)
{
    struct name_node *e = index_find(&t->names, ne[0].name);
    struct cand *c = calloc(n, sizeof(*c));
    size_t i, k = 0;

    if (!c)
        return CIN_ENOMEM;
    for (i = 0; i < n; i++)
        if (ne[i].cert_id)
            c[k++] = (struct cand){ne[i].cert_id, ne[i].account_id};
    if (e)
        drop_stale(t, e, c, k);
    if (k == 0) {
        free(c);
        index_remove(&t->names, ne[0].name);
        return CIN_OK;
    }
    if (!e && !(e = index_get_or_add(&t->names, ne[0].name))) {
        free(c);
        return CIN_ENOMEM;
    }
    free(e->cands);
    e->cands = c;
    e->ncands = k;
    return CIN_OK;
}

/* Read the names and domains changed since t->generation (lock held).  The
 * domains are read after the names: they are at least as new as the
 * generation the names were read at, and reading a change twice is harmless. */
static uint64_t usec_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Forget everything the store said (lock held). */
static void start_over(cin_tls *t)
{
    cin_hostcache *hc = cin_core_hostcache(t->core);

    cin_log(cin_core_services(t->core), CIN_LOG_WARN,
            "tls: the store's generation went back (%llu before): the certificate index is "
            "read anew",
            (unsigned long long)t->generation);
    while (t->tail)
        cache_remove(t, t->tail->cert_id);
    index_free(&t->names);
    index_free(&t->domains);
    __atomic_store_n(&t->generation, 0, __ATOMIC_RELEASE); /* read without the lock */
    t->nbad = 0;
    if (hc)
        cin_hostcache_clear(hc);
}

static int refresh_locked(cin_tls *t)
{
    cin_store *st = cin_core_serving(t->core);
    cin_name_entry *ne = NULL, *de = NULL;
    uint64_t g = 0, t0 = usec_now(), published = cin_gen_read(t->gen); /* before the store */
    size_t n = 0, nd = 0, i, j;
    int rc;

    if (!st)
        return CIN_EIO;
    rc = cin_store_names_since(st, t->generation, &ne, &n, &g);
    if (rc == CIN_OK && g < t->generation) {
        /* the store went back (restored from a backup, copied anew): its
         * certificate ids may name other certificates now - start over, and
         * empty the host's shared cache, which every process keys by id */
        cin_name_entries_free(ne, n);
        ne = NULL;
        n = 0;
        start_over(t);
        rc = cin_store_names_since(st, 0, &ne, &n, &g);
    }
    if (rc == CIN_OK)
        rc = cin_store_domains_since(st, t->generation, &de, &nd);
    for (i = 0; rc == CIN_OK && i < nd; i++) {
        if (!de[i].account_id) {
            index_remove(&t->domains, de[i].name);
        } else {
            struct name_node *d = index_get_or_add(&t->domains, de[i].name);
            if (!d)
                rc = CIN_ENOMEM;
            else
                d->value = de[i].account_id;
        }
    }
    for (i = 0; rc == CIN_OK && i < n; i = j) {
        for (j = i + 1; j < n && !strcmp(ne[j].name, ne[i].name); j++)
            ;
        rc = set_candidates(t, ne + i, j - i);
    }
    cin_name_entries_free(ne, n);
    cin_name_entries_free(de, nd);
    if (rc != CIN_OK)
        return rc; /* the generation stays: the next refresh reads it all again */
    __atomic_store_n(&t->generation, g, __ATOMIC_RELEASE);
    /* a published value the store is behind was published before the store
     * went back: set back, it stops sending every handshake here (and sends
     * every other process to read the store once, and start over) */
    cin_store_generation_went_back(st, published, g);
    t->nbad = 0; /* anything may have changed: try them again */
    t->nrefused = 0;
    t->refreshes++;
    cin_metrics_add(CIN_M_REFRESH_COUNT, 1);
    cin_metrics_add(CIN_M_REFRESH_USEC, usec_now() - t0);
    cin_metrics_set(CIN_M_INDEX_GEN, g);
    return CIN_OK;
}

/* The generation file, or NULL while the store has not been opened. */
static cin_gen *gen_of(cin_tls *t)
{
    return __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
}

/*
 * Open what the index is read from and read it.  A worker that starts while
 * its store cannot be opened (another process creating the store's -wal file
 * at that instant, a mirror not yet made, a permission the operator is about
 * to fix) serves the server's own certificates meanwhile and tries again -
 * after 1 s, then less often, up to every 30 s - on handshakes and on the
 * server's refresh timer: it never stays on its fallback until a restart.
 * The store is opened without the lock (it may wait on a busy store: no
 * other thread's handshake waits with it) by one thread at a time.  CIN_OK
 * once the generation file is open (a failed first read of the index is then
 * retried as any refresh is).
 */
static int attach(cin_tls *t, char **err)
{
    cin_store *st;
    cin_gen *g = NULL;
    int rc;

    pthread_mutex_lock(&t->lock);
    if (t->gen || t->attaching || usec_now() < t->next_attach) {
        /* open, or being opened by another thread, or failed a moment ago */
        rc = t->gen ? CIN_OK : CIN_EIO;
        pthread_mutex_unlock(&t->lock);
        return rc;
    }
    t->attaching = 1;
    pthread_mutex_unlock(&t->lock);
    st = cin_core_serving(t->core); /* the store, or this host's mirror of it */
    rc = st ? cin_gen_open(cin_store_gen_path(st), &g, err) : CIN_EIO;
    if (rc != CIN_OK && !st)
        cin_seterr(err, "cannot open %s",
                   cin_core_is_central(t->core) ? cin_core_mirror_path(t->core) : "the store");
    pthread_mutex_lock(&t->lock);
    t->attaching = 0;
    if (rc != CIN_OK) {
        t->attach_wait = t->attach_wait ? t->attach_wait * 2 : 1000000;
        if (t->attach_wait > ATTACH_WAIT_MAX)
            t->attach_wait = ATTACH_WAIT_MAX;
        t->next_attach = usec_now() + t->attach_wait;
        pthread_mutex_unlock(&t->lock);
        return rc;
    }
    __atomic_store_n(&t->gen, g, __ATOMIC_RELEASE);
    rc = refresh_locked(t);
    /* sized now for the names the store has: a large cache rarely grows
     * (and rehashes) on a handshake later */
    cache_reserve(t, t->names.count);
    if (rc != CIN_OK)
        cin_log(cin_core_services(t->core), CIN_LOG_ERROR,
                "tls: the store is open but its certificate index could not be read (%s): the "
                "server's own certificates are served until a refresh reads it",
                cin_strstatus(rc));
    else if (t->attach_wait)
        cin_log(cin_core_services(t->core), CIN_LOG_WARN,
                "tls: the store opened at last: its certificates are served from now on");
    t->attach_wait = 0;
    pthread_mutex_unlock(&t->lock);
    return CIN_OK;
}

int cin_tls_create(cin_core *core, size_t cache_size, cin_tls **out, char **err)
{
    cin_tls *t = calloc(1, sizeof(*t));
    char *why = NULL;

    *out = NULL;
    if (!t)
        return CIN_ENOMEM;
    t->core = core;
    t->cache_size = cache_size ? cache_size : cin_tls_auto_cache_size(1);
    t->ncbuckets = CACHE_BUCKETS_MIN;
    t->cbuckets = calloc(t->ncbuckets, sizeof(*t->cbuckets));
    t->inters = calloc(INTER_MAX, sizeof(*t->inters));
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->ilock, NULL);
    if (!t->cbuckets || !t->inters) {
        cin_seterr(err, "out of memory");
        cin_tls_free(t);
        return CIN_ENOMEM;
    }
    if (attach(t, &why) != CIN_OK)
        cin_log(cin_core_services(core), CIN_LOG_ERROR,
                "tls: %s: the server's own certificates are served until it opens (tried again"
                " after 1 s, then up to every 30 s)",
                why ? why : "the store cannot be opened");
    free(why);
    *out = t;
    return CIN_OK;
}

void cin_tls_free(cin_tls *t)
{
    struct entry *e, *next;
    size_t i;

    if (!t)
        return;
    for (e = t->head; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    free(t->cbuckets);
    for (i = 0; i < t->ninters; i++) {
        X509_free(t->inters[i].x);
        free(t->inters[i].der);
    }
    free(t->inters);
    index_free(&t->names);
    index_free(&t->domains);
    cin_gen_close(t->gen);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->ilock);
    free(t);
}

int cin_tls_refresh(cin_tls *t)
{
    cin_gen *g = gen_of(t);
    int rc = CIN_OK;

    if (!g)
        return attach(t, NULL);
    if (cin_gen_read(g) == __atomic_load_n(&t->generation, __ATOMIC_ACQUIRE))
        return CIN_OK;
    pthread_mutex_lock(&t->lock);
    if (cin_gen_read(t->gen) != t->generation)
        rc = refresh_locked(t);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* Did id fail to load since the index last changed?  (lock held) */
static int is_bad(const cin_tls *t, int64_t id)
{
    size_t i;

    for (i = 0; i < t->nbad; i++)
        if (t->bad[(t->badnext + BAD_MAX - 1 - i) % BAD_MAX] == id)
            return 1;
    return 0;
}

/* The account that owns name now: the most specific assigned domain that is
 * name itself or one of its parents (a.b.example.com, b.example.com, ...). */
static int64_t owner_of(const cin_tls *t, const char *name)
{
    const char *p = name;

    while (p && *p) {
        const struct name_node *d = index_find(&t->domains, p);
        if (d)
            return d->value;
        p = strchr(p, '.');
        if (p)
            p++;
    }
    return 0;
}

static int64_t candidate_of(const struct name_node *e, int64_t account)
{
    size_t i;

    for (i = 0; e && i < e->ncands; i++)
        if (e->cands[i].account_id == account)
            return e->cands[i].cert_id;
    return 0;
}

/*
 * The certificate for sni: an exact name, else the wildcard of its parent -
 * and only a certificate of the account that owns sni now, so that a domain
 * removed or moved to another account stops its old owner's certificate
 * being served on the very next handshake.
 */
static int64_t lookup(cin_tls *t, const char *sni)
{
    char buf[300];
    const char *dot;
    int64_t owner = owner_of(t, sni), id;

    if (!owner)
        return 0;
    id = candidate_of(index_find(&t->names, sni), owner);
    if (id)
        return id;
    dot = strchr(sni, '.');
    if (!dot || strlen(dot) + 2 > sizeof(buf))
        return 0;
    buf[0] = '*';
    strcpy(buf + 1, dot);
    return candidate_of(index_find(&t->names, buf), owner);
}

/* Whether a refusal of certificate id by the server's TLS settings is to be
 * logged (1; its key described into buf), said to be one too many (2, once),
 * or was logged already since the last change (0). Under t->lock. */
static int refusal_to_log(cin_tls *t, int64_t id, EVP_PKEY *key, char *buf, size_t len)
{
    size_t i, n = t->nrefused < REFUSED_MAX ? t->nrefused : REFUSED_MAX;
    const char *type;

    for (i = 0; i < n; i++)
        if (t->refused[i] == id)
            return 0;
    if (t->nrefused > REFUSED_MAX)
        return 0;
    if (t->nrefused++ == REFUSED_MAX)
        return 2;
    t->refused[n] = id;
    type = EVP_PKEY_get0_type_name(key);
    snprintf(buf, len, "%.24s, %d bits", type ? type : "?", EVP_PKEY_get_bits(key));
    return 1;
}

/* The name of the index that sni found (lookup's way): sni itself, or the
 * wildcard over its parent - never the client's first label, which may hold
 * any byte but NUL and '.'. Under t->lock. */
static void indexed_name(cin_tls *t, const char *sni, char *buf, size_t len)
{
    const char *dot = strchr(sni, '.');

    if (candidate_of(index_find(&t->names, sni), owner_of(t, sni)) || !dot)
        snprintf(buf, len, "%s", sni);
    else
        snprintf(buf, len, "*%s", dot);
}

int cin_tls_select(cin_tls *t, SSL *ssl)
{
    char name[256];
    cin_gen *g;
    struct entry *e;
    int64_t id;
    int rc = 0, use = 1, log_refusal = 0;
    char refused_key[48], stored[260];

    if (!t || !cin_tls_sni_name(ssl, name)) {
        cin_metrics_add(CIN_M_HS_FALLBACK, 1);
        return 0;
    }
    /* one atomic read tells whether anything changed since the index was built
     * (and, until the store could be opened, whether to try again) */
    g = gen_of(t);
    if (!g || cin_gen_read(g) != __atomic_load_n(&t->generation, __ATOMIC_ACQUIRE))
        cin_tls_refresh(t);
    pthread_mutex_lock(&t->lock);
    id = lookup(t, name);
    if (!id)
        goto done;
    e = cache_get(t, id);
    if (e) {
        t->hits++;
        cin_metrics_add(CIN_M_CACHE_HIT, 1);
        if (!e->used)
            e->used = 1;
    } else if (is_bad(t, id)) {
        rc = -1; /* failed to load since the last change: the fallback */
    } else {
        struct entry *loaded;
        uint64_t t0 = usec_now();
        uint64_t g0 = t->generation;
        int unusable;
        t->misses++;
        cin_metrics_add(CIN_M_CACHE_MISS, 1);
        /* the load (a read, a decryption, a parse) runs without the lock:
         * httpd's other threads never queue behind one miss */
        pthread_mutex_unlock(&t->lock);
        loaded = load_entry(t, id, &unusable);
        cin_metrics_add(CIN_M_LOAD_USEC, usec_now() - t0);
        pthread_mutex_lock(&t->lock);
        if (!loaded) {
            if (unusable && t->generation == g0 && !is_bad(t, id)) {
                t->bad[t->badnext] = id;
                t->badnext = (t->badnext + 1) % BAD_MAX;
                t->nbad += t->nbad < BAD_MAX;
            }
            rc = -1;
            goto done;
        }
        if (lookup(t, name) != id) {
            /* replaced or revoked while it was loading: not served */
            entry_free(loaded);
            goto done;
        }
        e = cache_get(t, id); /* another thread may have loaded it too */
        if (e) {
            entry_free(loaded);
        } else {
            cache_put(t, loaded);
            e = loaded;
        }
    }
    if (!e)
        goto done;
    /* SSL_use_cert_and_key takes its own references: an eviction later is
     * safe */
    use = cin_tls_use_only(ssl, e->leaf, e->key, e->chain);
    rc = use == 1 ? 1 : -1;
    if (use == 0 &&
        (log_refusal = refusal_to_log(t, id, e->key, refused_key, sizeof(refused_key))) == 1)
        indexed_name(t, name, stored, sizeof(stored));
done:
    pthread_mutex_unlock(&t->lock);
    cin_metrics_add(rc == 1 ? CIN_M_HS_STORE : CIN_M_HS_FALLBACK, 1);
    if (log_refusal == 1)
        cin_log(cin_core_services(t->core), CIN_LOG_WARN,
                "tls: certificate %lld for %s refused by this server's TLS settings (its key: %s;"
                " security level %d): the server's own certificate is presented for its names",
                (long long)id, stored, refused_key, SSL_get_security_level(ssl));
    else if (use < 0)
        cin_log(cin_core_services(t->core), CIN_LOG_ERROR,
                "tls: certificate %lld could not be installed again after the server's were"
                " cleared (out of memory): this handshake has no certificate",
                (long long)id);
    else if (log_refusal == 2)
        cin_log(cin_core_services(t->core), CIN_LOG_WARN,
                "tls: more than %d certificates refused by this server's TLS settings; the"
                " others are not logged until the certificates change",
                REFUSED_MAX);
    return rc;
}

/* Whether ssl has a certificate other than x in any key type's slot. */
static int has_other_certificate(SSL *ssl, const X509 *x)
{
    int more = SSL_set_current_cert(ssl, SSL_CERT_SET_FIRST);

    for (; more == 1; more = SSL_set_current_cert(ssl, SSL_CERT_SET_NEXT))
        if (SSL_get_certificate(ssl) != x)
            return 1;
    return 0;
}

int cin_tls_use_only(SSL *ssl, X509 *x, EVP_PKEY *key, STACK_OF(X509) * chain)
{
    /* Installed over the server's certificates first: a refusal (a key the
     * server's security level does not allow, say) changes nothing, and the
     * server's certificate is presented. */
    if (SSL_use_cert_and_key(ssl, x, key, chain, 1) != 1) {
        ERR_clear_error();
        return 0;
    }
    /* The server's may sit in another key type's slot (an ECDSA fallback
     * beside our RSA certificate), where OpenSSL could choose it: then every
     * slot is cleared and ours installed again (it was just accepted). */
    if (has_other_certificate(ssl, x)) {
        SSL_certs_clear(ssl);
        if (SSL_use_cert_and_key(ssl, x, key, chain, 1) != 1) {
            ERR_clear_error();
            return -1; /* memory: no certificate is presented, the handshake fails */
        }
    }
    return 1;
}

int cin_tls_cert_cb(SSL *ssl, void *arg)
{
    cin_tls **tp = arg;

    /* a tls-alpn-01 handshake keeps the challenge certificate its ALPN
     * callback put in place */
    if (tp && *tp && !cin_tls_alpn_selected_acme(ssl))
        cin_tls_select(*tp, ssl);
    return 1; /* never fail the handshake: the server's own certificate remains */
}

void cin_tls_get_stats(cin_tls *t, cin_tls_stats *s)
{
    pthread_mutex_lock(&t->lock);
    s->names = t->names.count;
    s->cached = t->cached;
    s->generation = t->generation;
    s->hits = t->hits;
    s->misses = t->misses;
    s->refreshes = t->refreshes;
    s->capacity = t->cache_size;
    s->buckets = t->ncbuckets;
    pthread_mutex_unlock(&t->lock);
    pthread_mutex_lock(&t->ilock);
    s->intermediates = t->ninters;
    pthread_mutex_unlock(&t->ilock);
}
