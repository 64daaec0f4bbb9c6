/*
 * scrypt.c - scrypt (RFC 7914) over a work area of its own.
 *
 * OpenSSL's scrypt takes its 128 * r * N bytes (16 MB for passwords) from
 * malloc.  In a server that is the calling thread's malloc arena, and glibc's
 * dynamic thresholds then keep a 16 MB top in each arena for good: a burst of
 * logins across nginx's thread pool or httpd's worker threads grew a process
 * by hundreds of megabytes and never gave it back.  This implementation maps
 * its work area itself and unmaps it when done, so a check costs its memory
 * only while it runs.  PBKDF2-HMAC-SHA256 is OpenSSL's; the mixing function
 * (ROMix with BlockMix over Salsa20/8) follows RFC 7914 section by section.
 * The unit tests check the RFC's vectors and OpenSSL's answers.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cin_common.h"
#include "scrypt.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#define ROTL(a, b) (((a) << (b)) | ((a) >> (32 - (b))))

/* RFC 7914 section 3: Salsa20/8 Core, in place on 16 words. */
static void salsa20_8(uint32_t b[16])
{
    uint32_t x[16];
    int i;

    memcpy(x, b, sizeof(x));
    for (i = 0; i < 8; i += 2) {
        x[4] ^= ROTL(x[0] + x[12], 7);
        x[8] ^= ROTL(x[4] + x[0], 9);
        x[12] ^= ROTL(x[8] + x[4], 13);
        x[0] ^= ROTL(x[12] + x[8], 18);
        x[9] ^= ROTL(x[5] + x[1], 7);
        x[13] ^= ROTL(x[9] + x[5], 9);
        x[1] ^= ROTL(x[13] + x[9], 13);
        x[5] ^= ROTL(x[1] + x[13], 18);
        x[14] ^= ROTL(x[10] + x[6], 7);
        x[2] ^= ROTL(x[14] + x[10], 9);
        x[6] ^= ROTL(x[2] + x[14], 13);
        x[10] ^= ROTL(x[6] + x[2], 18);
        x[3] ^= ROTL(x[15] + x[11], 7);
        x[7] ^= ROTL(x[3] + x[15], 9);
        x[11] ^= ROTL(x[7] + x[3], 13);
        x[15] ^= ROTL(x[11] + x[7], 18);
        x[1] ^= ROTL(x[0] + x[3], 7);
        x[2] ^= ROTL(x[1] + x[0], 9);
        x[3] ^= ROTL(x[2] + x[1], 13);
        x[0] ^= ROTL(x[3] + x[2], 18);
        x[6] ^= ROTL(x[5] + x[4], 7);
        x[7] ^= ROTL(x[6] + x[5], 9);
        x[4] ^= ROTL(x[7] + x[6], 13);
        x[5] ^= ROTL(x[4] + x[7], 18);
        x[11] ^= ROTL(x[10] + x[9], 7);
        x[8] ^= ROTL(x[11] + x[10], 9);
        x[9] ^= ROTL(x[8] + x[11], 13);
        x[10] ^= ROTL(x[9] + x[8], 18);
        x[12] ^= ROTL(x[15] + x[14], 7);
        x[13] ^= ROTL(x[12] + x[15], 9);
        x[14] ^= ROTL(x[13] + x[12], 13);
        x[15] ^= ROTL(x[14] + x[13], 18);
    }
    for (i = 0; i < 16; i++)
        b[i] += x[i];
}

/*
 * RFC 7914 section 4: scryptBlockMix over 2r 64-byte blocks held as words
 * (b, 32r words), into y (32r words, the scratch), result back in b.
 */
static void block_mix(uint32_t *b, uint32_t *y, uint32_t r)
{
    uint32_t x[16];
    uint32_t i, k;

    memcpy(x, &b[(2 * r - 1) * 16], sizeof(x));
    for (i = 0; i < 2 * r; i++) {
        for (k = 0; k < 16; k++)
            x[k] ^= b[i * 16 + k];
        salsa20_8(x);
        /* even blocks first, then the odd ones */
        memcpy(&y[((i & 1) * r + i / 2) * 16], x, sizeof(x));
    }
    memcpy(b, y, (size_t)32 * r * sizeof(uint32_t));
}

/* RFC 7914 section 5: scryptROMix on one 128r-byte block, with v (32rN
 * words) and y (32r words) as work areas. */
static void ro_mix(uint8_t *block, uint32_t r, uint64_t n, uint32_t *x, uint32_t *v, uint32_t *y)
{
    size_t words = (size_t)32 * r, k;
    uint64_t i, j;

    for (k = 0; k < words; k++)
        x[k] = le32(block + 4 * k);
    for (i = 0; i < n; i++) {
        memcpy(&v[i * words], x, words * sizeof(uint32_t));
        block_mix(x, y, r);
    }
    for (i = 0; i < n; i++) {
        /* Integerify: the first 64 bits of the last 64-byte block */
        const uint32_t *last = &x[(2 * r - 1) * 16];
        j = ((uint64_t)last[0] | (uint64_t)last[1] << 32) & (n - 1);
        for (k = 0; k < words; k++)
            x[k] ^= v[j * words + k];
        block_mix(x, y, r);
    }
    for (k = 0; k < words; k++)
        put_le32(block + 4 * k, x[k]);
}

int cin_scrypt(const char *pw, size_t pwlen, const unsigned char *salt, size_t saltlen, uint64_t n,
               uint32_t r, uint32_t p, unsigned char *out, size_t outlen)
{
    size_t blen, vlen, xylen, words;
    unsigned char *b = NULL;
    uint32_t *x, *v, *y;
    void *area;
    uint32_t i;
    int rc = CIN_ERR;

    /* N a power of two above 1; r and p as the RFC bounds them (p * r < 2^30) */
    if (n < 2 || (n & (n - 1)) || r == 0 || p == 0 || (uint64_t)r * p >= (1u << 30) ||
        n > ((uint64_t)1 << 24) / r || outlen == 0)
        return CIN_EINVAL;
    words = (size_t)32 * r;
    blen = (size_t)128 * r * p;
    vlen = (size_t)n * words * sizeof(uint32_t);
    xylen = 2 * words * sizeof(uint32_t);
    area =
        mmap(NULL, blen + vlen + xylen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return CIN_ENOMEM;
    v = area;
    x = (uint32_t *)((unsigned char *)area + vlen);
    y = x + words;
    b = (unsigned char *)(y + words);
    if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, 1, EVP_sha256(), (int)blen, b) != 1)
        goto done;
    for (i = 0; i < p; i++)
        ro_mix(b + (size_t)128 * r * i, r, n, x, v, y);
    if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, b, (int)blen, 1, EVP_sha256(), (int)outlen, out) != 1)
        goto done;
    rc = CIN_OK;
done:
    /* the pages go back to the system whole; the small parts that stay
     * readable until then are wiped first */
    OPENSSL_cleanse(x, xylen);
    OPENSSL_cleanse(b, blen);
    munmap(area, blen + vlen + xylen);
    return rc;
}
