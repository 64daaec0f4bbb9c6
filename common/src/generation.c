/* generation.c - the generation counter published in a shared mapped file (cin_generation.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cin_generation.h"

struct cin_gen {
    uint64_t *map; /* 8 bytes, MAP_SHARED; aligned because mmap is page aligned */
    int writable;
};

int cin_gen_open(const char *path, cin_gen **out, char **err)
{
    struct stat sb;
    cin_gen *g;
    void *m;
    int fd, writable;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        /* a reader without write permission may still map it read-only */
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            cin_seterr(err, "cannot open generation file %s: %s", path, strerror(errno));
            return CIN_EIO;
        }
    }
    if (fstat(fd, &sb) != 0) {
        close(fd);
        cin_seterr(err, "cannot stat %s: %s", path, strerror(errno));
        return CIN_EIO;
    }
    if (sb.st_size < (off_t)sizeof(uint64_t) && ftruncate(fd, sizeof(uint64_t)) != 0) {
        close(fd);
        cin_seterr(err, "cannot size %s: %s", path, strerror(errno));
        return CIN_EIO;
    }
    writable = 1;
    m = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        writable = 0;
        m = mmap(NULL, sizeof(uint64_t), PROT_READ, MAP_SHARED, fd, 0);
    }
    close(fd);
    if (m == MAP_FAILED) {
        cin_seterr(err, "cannot map %s: %s", path, strerror(errno));
        return CIN_EIO;
    }
    g = calloc(1, sizeof(*g));
    if (!g) {
        munmap(m, sizeof(uint64_t));
        return CIN_ENOMEM;
    }
    g->map = m;
    g->writable = writable;
    *out = g;
    return CIN_OK;
}

void cin_gen_close(cin_gen *g)
{
    if (!g)
        return;
    munmap(g->map, sizeof(uint64_t));
    free(g);
}

uint64_t cin_gen_read(const cin_gen *g)
{
    return __atomic_load_n(g->map, __ATOMIC_ACQUIRE);
}

void cin_gen_publish(cin_gen *g, uint64_t v)
{
    uint64_t cur;

    if (!g->writable)
        return;
    cur = __atomic_load_n(g->map, __ATOMIC_ACQUIRE);
    while (cur < v &&
           !__atomic_compare_exchange_n(g->map, &cur, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;
}

int cin_gen_lower(cin_gen *g, uint64_t from, uint64_t v)
{
    if (!g->writable || v >= from)
        return 0;
    return __atomic_compare_exchange_n(g->map, &from, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
