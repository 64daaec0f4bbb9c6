/* crypto.c - randomness, hashes, AES-256-GCM sealing, scrypt passwords, tokens. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cin_crypto.h"
#include "cin_util.h"
#include "scrypt.h"

#define SEAL_MAGIC "CIN1"
#define SEAL_NONCE 12
#define SEAL_TAG   16

int cin_random(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? CIN_OK : CIN_ERR;
}

void cin_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    cin_hex(md, 32, out);
}

int cin_kek_create(const char *path, char **err)
{
    unsigned char key[CIN_KEK_LEN];
    int fd, st = CIN_OK;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cin_seterr(err, "cannot create key file %s: %s", path, strerror(errno));
        return errno == EEXIST ? CIN_EEXIST : CIN_EIO;
    }
    if (cin_random(key, sizeof(key)) != CIN_OK) {
        cin_seterr(err, "no randomness for the key-encryption key");
        st = CIN_ERR;
    } else if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) != 0) {
        cin_seterr(err, "cannot write key file %s: %s", path, strerror(errno));
        st = CIN_EIO;
    }
    cin_memzero(key, sizeof(key));
    close(fd);
    if (st != CIN_OK)
        unlink(path);
    return st;
}

int cin_kek_load(const char *path, cin_kek *kek, char **err)
{
    struct stat sb;
    ssize_t n;
    int fd;

    /* The store's directory belongs to the worker user, who could put a key
     * of its own choosing there: only a regular file of root's (or of the
     * user starting the server) is trusted, never a link to another file. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP) {
            cin_seterr(err,
                       "key file %s is a symbolic link; refusing it (put the key itself there)",
                       path);
            return CIN_EPERM;
        }
        cin_seterr(err, "cannot open key file %s: %s", path, strerror(e));
        return e == ENOENT ? CIN_ENOTFOUND : CIN_EIO;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        cin_seterr(err, "key file %s is not a regular file", path);
        return CIN_EIO;
    }
    if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
        close(fd);
        cin_seterr(err,
                   "key file %s belongs to uid %ld, not to root: anyone who can replace it "
                   "controls every key (chown root %s)",
                   path, (long)sb.st_uid, path);
        return CIN_EPERM;
    }
    if (sb.st_mode & 077) {
        close(fd);
        cin_seterr(err, "key file %s must not be readable by group or others (chmod 600)", path);
        return CIN_EPERM;
    }
    n = read(fd, kek->key, CIN_KEK_LEN);
    close(fd);
    if (n != CIN_KEK_LEN || sb.st_size != CIN_KEK_LEN) {
        cin_memzero(kek, sizeof(*kek));
        cin_seterr(err, "key file %s is damaged (expected %d bytes)", path, CIN_KEK_LEN);
        return CIN_EIO;
    }
    return CIN_OK;
}

int cin_seal(const cin_kek *kek, const char *label, const unsigned char *pt, size_t ptlen,
             unsigned char **out, size_t *outlen)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    size_t total = 4 + SEAL_NONCE + ptlen + SEAL_TAG;
    int len = 0, st = CIN_ERR;

    if (ptlen > INT32_MAX)
        return CIN_EINVAL;
    buf = malloc(total);
    ctx = EVP_CIPHER_CTX_new();
    if (!buf || !ctx) {
        st = CIN_ENOMEM;
        goto done;
    }
    memcpy(buf, SEAL_MAGIC, 4);
    if (cin_random(buf + 4, SEAL_NONCE) != CIN_OK)
        goto done;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kek->key, buf + 4) != 1)
        goto done;
    if (label &&
        EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)label, (int)strlen(label)) != 1)
        goto done;
    if (EVP_EncryptUpdate(ctx, buf + 4 + SEAL_NONCE, &len, pt, (int)ptlen) != 1)
        goto done;
    if (EVP_EncryptFinal_ex(ctx, buf + 4 + SEAL_NONCE + len, &len) != 1)
        goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, buf + 4 + SEAL_NONCE + ptlen) != 1)
        goto done;
    *out = buf;
    *outlen = total;
    buf = NULL;
    st = CIN_OK;
done:
    EVP_CIPHER_CTX_free(ctx);
    free(buf);
    return st;
}

void cin_key_label(char *buf, int64_t key_id)
{
    snprintf(buf, CIN_KEY_LABEL_MAX, "private_key:%lld", (long long)key_id);
}

int cin_open(const cin_kek *kek, const char *label, const unsigned char *in, size_t inlen,
             unsigned char **out, size_t *outlen)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    size_t ctlen;
    int len = 0, st = CIN_ECRYPTO;

    if (!in || inlen < 4 + SEAL_NONCE + SEAL_TAG || memcmp(in, SEAL_MAGIC, 4) != 0)
        return CIN_ECRYPTO;
    ctlen = inlen - 4 - SEAL_NONCE - SEAL_TAG;
    buf = malloc(ctlen + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!buf || !ctx) {
        st = CIN_ENOMEM;
        goto done;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kek->key, in + 4) != 1)
        goto done;
    if (label &&
        EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)label, (int)strlen(label)) != 1)
        goto done;
    if (EVP_DecryptUpdate(ctx, buf, &len, in + 4 + SEAL_NONCE, (int)ctlen) != 1)
        goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG,
                            (void *)(in + 4 + SEAL_NONCE + ctlen)) != 1)
        goto done;
    if (EVP_DecryptFinal_ex(ctx, buf + len, &len) != 1)
        goto done; /* tag mismatch: tampered, wrong label or wrong KEK */
    buf[ctlen] = '\0';
    *out = buf;
    *outlen = ctlen;
    buf = NULL;
    st = CIN_OK;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (buf)
        cin_free_secret(buf, ctlen + 1);
    return st;
}

void cin_free_secret(void *p, size_t len)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}

#define SCRYPT_LN 14
#define SCRYPT_R  8
#define SCRYPT_P  1

/*
 * scrypt needs 128 * r * N bytes (16 MB here) for each check.  Two bounds
 * keep a burst of logins from growing a server process: at most
 * SCRYPT_PARALLEL checks run at once in a process (the others wait their
 * turn, and the CPU stays with the requests), and each check maps its work
 * area itself and unmaps it when done (scrypt.c says why malloc would not
 * give it back).
 */
#define SCRYPT_PARALLEL 2

static pthread_mutex_t scrypt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t scrypt_cond = PTHREAD_COND_INITIALIZER;
static int scrypt_running;

static int scrypt_raw(const char *pw, const unsigned char *salt, size_t saltlen, int ln, int r,
                      int p, unsigned char *out, size_t outlen)
{
    int rc;

    pthread_mutex_lock(&scrypt_lock);
    while (scrypt_running >= SCRYPT_PARALLEL)
        pthread_cond_wait(&scrypt_cond, &scrypt_lock);
    scrypt_running++;
    pthread_mutex_unlock(&scrypt_lock);
    rc = cin_scrypt(pw, strlen(pw), salt, saltlen, (uint64_t)1 << ln, (uint32_t)r, (uint32_t)p, out,
                    outlen);
    pthread_mutex_lock(&scrypt_lock);
    scrypt_running--;
    pthread_cond_signal(&scrypt_cond);
    pthread_mutex_unlock(&scrypt_lock);
    return rc;
}

char *cin_password_hash(const char *password)
{
    unsigned char salt[16], dk[32];
    char *s = NULL, *h = NULL, *out = NULL;

    if (!password || cin_random(salt, sizeof(salt)) != CIN_OK)
        return NULL;
    if (scrypt_raw(password, salt, sizeof(salt), SCRYPT_LN, SCRYPT_R, SCRYPT_P, dk, sizeof(dk)) !=
        CIN_OK)
        return NULL;
    s = cin_b64url_encode(salt, sizeof(salt));
    h = cin_b64url_encode(dk, sizeof(dk));
    if (s && h)
        out = cin_asprintf("$scrypt$ln=%d,r=%d,p=%d$%s$%s", SCRYPT_LN, SCRYPT_R, SCRYPT_P, s, h);
    cin_memzero(dk, sizeof(dk));
    free(s);
    free(h);
    return out;
}

int cin_password_verify(const char *password, const char *stored)
{
    int ln, r, p, ok = 0, consumed = 0;
    char saltb[64], hashb[128];
    unsigned char *salt = NULL, *want = NULL, dk[64];
    size_t saltlen = 0, wantlen = 0;

    if (!password || !stored)
        return 0;
    if (sscanf(stored, "$scrypt$ln=%d,r=%d,p=%d$%63[^$]$%127s%n", &ln, &r, &p, saltb, hashb,
               &consumed) != 5 ||
        stored[consumed] != '\0')
        return 0;
    if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16)
        return 0;
    salt = cin_b64url_decode(saltb, &saltlen);
    want = cin_b64url_decode(hashb, &wantlen);
    if (salt && want && wantlen > 0 && wantlen <= sizeof(dk) &&
        scrypt_raw(password, salt, saltlen, ln, r, p, dk, wantlen) == CIN_OK)
        ok = CRYPTO_memcmp(dk, want, wantlen) == 0;
    cin_memzero(dk, sizeof(dk));
    free(salt);
    free(want);
    return ok;
}

int cin_token_generate(char **token, char prefix[CIN_TOKEN_PREFIX_LEN + 1])
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[CIN_TOKEN_PREFIX_LEN], secret[32];
    char *s;
    int i;

    if (cin_random(rnd, sizeof(rnd)) != CIN_OK || cin_random(secret, sizeof(secret)) != CIN_OK)
        return CIN_ERR;
    for (i = 0; i < CIN_TOKEN_PREFIX_LEN; i++)
        prefix[i] = alnum[rnd[i] % 36];
    prefix[CIN_TOKEN_PREFIX_LEN] = '\0';
    s = cin_b64url_encode(secret, sizeof(secret));
    cin_memzero(secret, sizeof(secret));
    if (!s)
        return CIN_ENOMEM;
    *token = cin_asprintf("cin_%s_%s", prefix, s);
    cin_free_secret(s, strlen(s));
    return *token ? CIN_OK : CIN_ENOMEM;
}

int cin_token_prefix(const char *token, char prefix[CIN_TOKEN_PREFIX_LEN + 1])
{
    size_t i;

    if (!token || strncmp(token, "cin_", 4) != 0 || strlen(token) < 4 + CIN_TOKEN_PREFIX_LEN + 2 ||
        token[4 + CIN_TOKEN_PREFIX_LEN] != '_')
        return CIN_EINVAL;
    for (i = 0; i < CIN_TOKEN_PREFIX_LEN; i++) {
        char c = token[4 + i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return CIN_EINVAL;
        prefix[i] = c;
    }
    prefix[CIN_TOKEN_PREFIX_LEN] = '\0';
    return CIN_OK;
}
