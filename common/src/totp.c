/*
 * totp.c - RFC 6238 time-based one-time passwords and their QR code
 * (cin_totp.h).  The QR symbol comes from libqrencode (Debian's
 * libqrencode-dev); it is drawn here as SVG so that the page shows it with
 * no script and no network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <qrencode.h>

#include "cin_totp.h"
#include "cin_util.h"

uint32_t cin_totp_code(const unsigned char *secret, size_t len, uint64_t step)
{
    unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0, off;
    uint32_t bin;
    int i;

    for (i = 7; i >= 0; i--) {
        msg[i] = (unsigned char)(step & 0xff);
        step >>= 8;
    }
    if (!HMAC(EVP_sha1(), secret, (int)len, msg, sizeof(msg), mac, &maclen) || maclen < 20)
        return UINT32_MAX;
    /* RFC 4226 5.3: dynamic truncation */
    off = mac[maclen - 1] & 0x0f;
    bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
          ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    return bin % 1000000u;
}

int cin_totp_verify(const unsigned char *secret, size_t len, const char *code, time_t now,
                    uint64_t last_step, uint64_t *step)
{
    uint64_t cur = (uint64_t)now / CIN_TOTP_STEP, s;
    uint32_t want = 0;
    int i, ok = 0;

    if (!code || strlen(code) != CIN_TOTP_DIGITS)
        return 0;
    for (i = 0; i < CIN_TOTP_DIGITS; i++) {
        if (code[i] < '0' || code[i] > '9')
            return 0;
        want = want * 10 + (uint32_t)(code[i] - '0');
    }
    /* every candidate is computed, whichever matches: no early exit to time */
    for (s = cur ? cur - 1 : 0; s <= cur + 1; s++) {
        if (s > last_step && cin_totp_code(secret, len, s) == want && !ok) {
            ok = 1;
            *step = s;
        }
    }
    return ok;
}

char *cin_base32(const unsigned char *in, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    char *out = malloc(len * 8 / 5 + 2);
    size_t i, k = 0;
    unsigned buf = 0;
    int bits = 0;

    if (!out)
        return NULL;
    for (i = 0; i < len; i++) {
        buf = (buf << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[k++] = abc[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[k++] = abc[(buf << (5 - bits)) & 31];
    out[k] = '\0';
    return out;
}

/* Percent-encode everything but unreserved characters (RFC 3986). */
static char *uri_escape(const char *s)
{
    char *out = malloc(strlen(s) * 3 + 1), *o = out;

    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            *o++ = (char)c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    *o = '\0';
    return out;
}

char *cin_totp_uri(const char *issuer, const char *user, const unsigned char *secret, size_t len)
{
    char *b32 = cin_base32(secret, len), *is = uri_escape(issuer), *us = uri_escape(user), *uri;

    uri = b32 && is && us ? cin_asprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm="
                                         "SHA1&digits=%d&period=%d",
                                         is, us, b32, is, CIN_TOTP_DIGITS, CIN_TOTP_STEP)
                          : NULL;
    free(b32);
    free(is);
    free(us);
    return uri;
}

char *cin_qr_svg(const char *text)
{
    QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    size_t cap, len;
    char *svg;
    int x, y, w, quiet = 4;

    if (!q)
        return NULL;
    w = q->width;
    /* one short path segment per dark module, at most */
    cap = 256 + (size_t)w * (size_t)w * 24;
    svg = malloc(cap);
    if (!svg) {
        QRcode_free(q);
        return NULL;
    }
    len = (size_t)snprintf(svg, cap,
                           "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                           "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
                           "fill=\"#fff\"/><path fill=\"#000\" d=\"",
                           w + 2 * quiet, w + 2 * quiet, w + 2 * quiet, w + 2 * quiet);
    for (y = 0; y < w; y++)
        for (x = 0; x < w; x++)
            if (q->data[y * w + x] & 1)
                len +=
                    (size_t)snprintf(svg + len, cap - len, "M%d %dh1v1h-1z", x + quiet, y + quiet);
    snprintf(svg + len, cap - len, "\"/></svg>");
    QRcode_free(q);
    return svg;
}
