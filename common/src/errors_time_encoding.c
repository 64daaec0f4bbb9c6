/* errors_time_encoding.c - status strings, error messages, logging, time, hex, base64url. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cin_util.h"

const char *cin_strstatus(int status)
{
    switch (status) {
    case CIN_OK:
        return "ok";
    case CIN_ENOMEM:
        return "out of memory";
    case CIN_EINVAL:
        return "invalid input";
    case CIN_ENOTFOUND:
        return "not found";
    case CIN_EEXIST:
        return "already exists";
    case CIN_EBUSY:
        return "store busy";
    case CIN_ECRYPTO:
        return "decryption failed (wrong key or tampered data)";
    case CIN_EIO:
        return "I/O error";
    case CIN_ECONFLICT:
        return "not allowed in the current state";
    case CIN_ECREDITS:
        return "insufficient credits";
    case CIN_EPERM:
        return "not permitted";
    case CIN_EUNAVAIL:
        return "store unavailable";
    case CIN_ECONSTRAINT:
        return "store constraint violated";
    case CIN_EAUTH:
        return "not authenticated";
    case CIN_ELIMIT:
        return "rate limited";
    default:
        return "internal error";
    }
}

void cin_seterr(char **err, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    if (!err || *err)
        return;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    *err = s;
}

char *cin_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

void cin_log(const cin_services *svc, int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (svc && svc->log) {
        svc->log(svc->ud, level, buf);
        return;
    }
    if (level <= CIN_LOG_WARN)
        fprintf(stderr, "certinext: %s\n", buf);
}

time_t cin_now(const cin_services *svc)
{
    if (svc && svc->now)
        return svc->now(svc->ud);
    return time(NULL);
}

void cin_time_rfc3339(time_t t, char buf[21])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cin_time_parse(const char *s, time_t *t)
{
    struct tm tm;
    const char *end;

    if (!s)
        return CIN_EINVAL;
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return CIN_EINVAL;
    *t = timegm(&tm);
    return CIN_OK;
}

void cin_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *cin_b64url_encode(const unsigned char *in, size_t len)
{
    char *out = malloc(len / 3 * 4 + 5);
    size_t i, o = 0;

    if (!out)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

unsigned char *cin_b64url_decode(const char *in, size_t *outlen)
{
    size_t len, i, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    unsigned char *out;

    while (*in && isspace((unsigned char)*in))
        in++;
    len = strlen(in);
    while (len && (isspace((unsigned char)in[len - 1]) || in[len - 1] == '='))
        len--;
    out = malloc(len * 3 / 4 + 1);
    if (!out)
        return NULL;
    for (i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits >= 6) { /* a lone trailing character cannot encode a byte */
        free(out);
        return NULL;
    }
    *outlen = o;
    return out;
}

char *cin_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void cin_memzero(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (p && n--)
        *v++ = 0;
}

int cin_valid_username(const char *s)
{
    size_t n = 0;

    if (!s)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= 64;
}

int64_t cin_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cin_pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    if (ms > 0)
        nanosleep(&ts, NULL);
}

char *cin_file_read(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (!f)
        return NULL;
    buf = malloc(max + 1);
    n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}
