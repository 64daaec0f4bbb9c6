/*
 * account_security.c - the login and what an enterprise adds to it
 * (cin_security.h): throttled password or certificate check, the account's
 * peer allowlist, the TOTP second factor and recovery codes, enrolment, and
 * the audit of every security event.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "cin_security.h"
#include "cin_store_order.h"
#include "cin_totp.h"
#include "cin_util.h"

#define LOGIN_WINDOW   900
#define LOGIN_PER_PAIR 5
#define LOGIN_PER_PEER 20
#define LOGIN_PER_USER 50
#define ALLOWLIST_MAX  4096

static int tx_begin(cin_store *st, cin_problem *p)
{
    int rc = cin_store_begin(st);

    return rc == CIN_OK ? CIN_OK : cin_problem_from_status(p, rc);
}

static int tx_end(cin_store *st, int rc, cin_problem *p)
{
    rc = cin_store_end(st, rc);
    if (rc != CIN_OK && p && !p->status)
        cin_problem_from_status(p, rc);
    return rc;
}

static int audit(cin_store *st, const cin_actor *a, int64_t account_id, const char *action,
                 const char *detail)
{
    return cin_store_event_add(st, account_id, 0, cin_actor_name(a), action, a ? a->peer : NULL,
                               detail);
}

static int is_admin(const cin_actor *a)
{
    return a && a->user && !strcmp(a->user->role, "admin");
}

/* ---- peer allowlists ------------------------------------------------------- */

/* addr (v4, v6, v4-mapped v6) as 16 bytes and its family's bit count. */
static int parse_addr(const char *s, unsigned char out[16], int *bits)
{
    struct in_addr v4;

    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, &v4) == 1) {
        memcpy(out, &v4, 4);
        *bits = 32;
        return 1;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(out, mapped, 12)) {
            memmove(out, out + 12, 4);
            memset(out + 4, 0, 12);
            *bits = 32;
        } else {
            *bits = 128;
        }
        return 1;
    }
    return 0;
}

/* One entry "addr" or "addr/len": its network, family bits and prefix. */
static int parse_cidr(const char *e, unsigned char net[16], int *bits, int *prefix)
{
    char buf[64], *slash, *end;
    long len;

    if (strlen(e) >= sizeof(buf))
        return 0;
    strcpy(buf, e);
    slash = strchr(buf, '/');
    if (slash)
        *slash++ = '\0';
    if (!parse_addr(buf, net, bits))
        return 0;
    if (!slash) {
        *prefix = *bits;
        return 1;
    }
    len = strtol(slash, &end, 10);
    if (!*slash || *end || len < 0 || len > *bits)
        return 0;
    *prefix = (int)len;
    return 1;
}

static int in_net(const unsigned char *a, const unsigned char *net, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;

    if (memcmp(a, net, (size_t)full))
        return 0;
    return !rest || ((a[full] ^ net[full]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

int cin_ip_allowed(const char *list, const char *peer)
{
    unsigned char a[16], net[16];
    char entry[80];
    const char *p = list;
    int abits, bits, prefix;

    if (!list || !*list)
        return 1;
    if (!peer || !parse_addr(peer, a, &abits))
        return 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n < sizeof(entry)) {
            memcpy(entry, p, n);
            entry[n] = '\0';
            if (parse_cidr(entry, net, &bits, &prefix) && bits == abits && in_net(a, net, prefix))
                return 1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

int cin_ip_allowlist_parse(const char *in, char **out, char **bad)
{
    char *copy = cin_strdup(in ? in : ""), *save = NULL, *tok, *res;
    size_t len = 0;
    int rc = CIN_OK;

    *out = NULL;
    *bad = NULL;
    res = calloc(1, ALLOWLIST_MAX + 1);
    if (!copy || !res) {
        free(copy);
        free(res);
        return CIN_ENOMEM;
    }
    for (tok = strtok_r(copy, ", \t\n", &save); tok; tok = strtok_r(NULL, ", \t\n", &save)) {
        unsigned char net[16];
        int bits, prefix;
        if (!parse_cidr(tok, net, &bits, &prefix) || len + strlen(tok) + 2 > ALLOWLIST_MAX) {
            *bad = strdup(tok);
            rc = CIN_EINVAL;
            break;
        }
        len += (size_t)snprintf(res + len, ALLOWLIST_MAX + 1 - len, "%s%s", len ? "," : "", tok);
    }
    free(copy);
    if (rc != CIN_OK) {
        free(res);
        return rc;
    }
    *out = res;
    return CIN_OK;
}

/* The account named name, if the actor administers it (its own, or one
 * below) or is the provider; 404 / 403 otherwise. */
static int administered(cin_store *st, const cin_actor *a, const char *name, cin_account *acct,
                        cin_problem *p)
{
    int rc = cin_account_visible(st, a, name, acct, p);

    if (rc == CIN_OK && a && a->user && !is_admin(a)) {
        cin_problem_set(p, 403, "forbidden", "only an administrator may do this");
        cin_account_clear(acct);
        rc = CIN_EPERM;
    }
    return rc;
}

int cin_account_set_security(cin_store *st, const cin_actor *a, const char *account,
                             int require_2fa, const char *allowlist, cin_problem *p)
{
    cin_account acct;
    char *list = NULL, *bad = NULL, *detail = NULL;
    int rc;

    memset(&acct, 0, sizeof(acct));
    if (allowlist) {
        rc = cin_ip_allowlist_parse(allowlist, &list, &bad);
        if (rc == CIN_EINVAL)
            cin_problem_field(p, 400, "bad_request", "ip_allowlist",
                              "%s is not an IPv4 or IPv6 address or CIDR block", bad);
        else if (rc != CIN_OK)
            cin_problem_from_status(p, rc);
        free(bad);
        if (rc != CIN_OK)
            return rc;
    }
    if ((rc = tx_begin(st, p)) != CIN_OK)
        goto done;
    rc = administered(st, a, account, &acct, p);
    if (rc == CIN_OK)
        rc = cin_store_account_set_security(st, acct.id, require_2fa, list);
    detail = cin_asprintf("require_2fa %s, ip_allowlist %s",
                          require_2fa < 0 ? "kept"
                          : require_2fa   ? "yes"
                                          : "no",
                          list ? (*list ? list : "(none)") : "kept");
    if (rc == CIN_OK)
        rc = audit(st, a, acct.id, "account.security", detail);
    rc = tx_end(st, rc, p);
done:
    cin_account_clear(&acct);
    free(list);
    free(detail);
    return rc;
}

/* ---- TOTP -------------------------------------------------------------------------- */

static int need_user(const cin_actor *a, cin_problem *p)
{
    if (a && a->user)
        return CIN_OK;
    cin_problem_set(p, 403, "forbidden", "a user enrols their own authenticator");
    return CIN_EPERM;
}

int cin_account_totp_begin(cin_store *st, const cin_actor *a, char **uri, char **svg,
                           char **secret_b32, cin_problem *p)
{
    unsigned char secret[CIN_TOTP_SECRET_LEN], *old = NULL;
    size_t oldlen = 0;
    uint64_t last = 0;
    int rc, confirmed = 0;

    *uri = *svg = *secret_b32 = NULL;
    if ((rc = need_user(a, p)) != CIN_OK)
        return rc;
    if (cin_random(secret, sizeof(secret)) != CIN_OK)
        return cin_problem_from_status(p, CIN_ERR);
    if ((rc = tx_begin(st, p)) != CIN_OK)
        goto done;
    rc = cin_store_totp_get(st, a->user->id, &old, &oldlen, &confirmed, &last);
    if (old)
        cin_free_secret(old, oldlen);
    if (rc == CIN_OK && confirmed) {
        cin_problem_set(p, 409, "conflict",
                        "an authenticator is already enrolled; reset it first to enrol another");
        rc = CIN_ECONFLICT;
    } else if (rc == CIN_OK || rc == CIN_ENOTFOUND) {
        rc = cin_store_totp_put(st, a->user->id, secret, sizeof(secret));
    }
    rc = tx_end(st, rc, p);
    if (rc == CIN_OK) {
        *uri = cin_totp_uri("certinext", a->user->name, secret, sizeof(secret));
        *svg = *uri ? cin_qr_svg(*uri) : NULL;
        *secret_b32 = cin_base32(secret, sizeof(secret));
        if (!*uri || !*svg || !*secret_b32) {
            free(*uri);
            free(*svg);
            free(*secret_b32);
            *uri = *svg = *secret_b32 = NULL;
            rc = cin_problem_from_status(p, CIN_ENOMEM);
        }
    }
done:
    cin_memzero(secret, sizeof(secret));
    return rc;
}

/* A recovery code as typed ("abcde-fghij", any case, spaces) -> its hash. */
static int recovery_hash(const char *code, char hex[65])
{
    char norm[32];
    size_t k = 0;

    for (; code && *code; code++) {
        if (*code == '-' || *code == ' ')
            continue;
        if (k + 1 >= sizeof(norm) || !isalnum((unsigned char)*code))
            return 0;
        norm[k++] = (char)tolower((unsigned char)*code);
    }
    norm[k] = '\0';
    if (k != 10)
        return 0;
    cin_sha256_hex(norm, k, hex);
    return 1;
}

static int make_recovery_codes(char ***codes, char ***hashes)
{
    size_t i;

    *codes = calloc(CIN_RECOVERY_CODES + 1, sizeof(char *));
    *hashes = calloc(CIN_RECOVERY_CODES + 1, sizeof(char *));
    if (!*codes || !*hashes)
        return CIN_ENOMEM;
    for (i = 0; i < CIN_RECOVERY_CODES; i++) {
        unsigned char r[7];
        char *b32, text[16], hex[65];
        if (cin_random(r, sizeof(r)) != CIN_OK || !(b32 = cin_base32(r, sizeof(r))))
            return CIN_ERR;
        snprintf(text, sizeof(text), "%.5s-%.5s", b32, b32 + 5);
        free(b32);
        for (char *c = text; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        recovery_hash(text, hex);
        (*codes)[i] = strdup(text);
        (*hashes)[i] = strdup(hex);
        if (!(*codes)[i] || !(*hashes)[i])
            return CIN_ENOMEM;
    }
    return CIN_OK;
}

int cin_account_totp_confirm(cin_store *st, const cin_actor *a, const char *code, char ***codes,
                             size_t *n, cin_problem *p)
{
    unsigned char *secret = NULL;
    size_t len = 0;
    uint64_t last = 0, step = 0;
    char **hashes = NULL;
    int rc, confirmed = 0;

    *codes = NULL;
    *n = 0;
    if ((rc = need_user(a, p)) != CIN_OK)
        return rc;
    rc = make_recovery_codes(codes, &hashes);
    if (rc != CIN_OK) {
        cin_problem_from_status(p, rc);
        goto done;
    }
    if ((rc = tx_begin(st, p)) != CIN_OK)
        goto done;
    rc = cin_store_totp_get(st, a->user->id, &secret, &len, &confirmed, &last);
    if (rc == CIN_ENOTFOUND || (rc == CIN_OK && confirmed)) {
        cin_problem_set(p, 409, "conflict",
                        confirmed ? "the authenticator is already enrolled"
                                  : "start the enrolment first (POST /api/v1/totp)");
        rc = CIN_ECONFLICT;
    } else if (rc == CIN_OK &&
               !cin_totp_verify(secret, len, code, cin_now(cin_store_services(st)), last, &step)) {
        cin_problem_field(p, 400, "bad_request", "code",
                          "that code does not match; check the clock of the device and try the "
                          "next code");
        rc = CIN_EINVAL;
    }
    if (rc == CIN_OK)
        rc = cin_store_totp_use(st, a->user->id, step);
    if (rc == CIN_OK)
        rc = cin_store_recovery_put(st, a->user->id, hashes, CIN_RECOVERY_CODES);
    if (rc == CIN_OK)
        rc = audit(st, a, a->user->account_id, "user.totp_enrolled", a->user->name);
    rc = tx_end(st, rc, p);
done:
    if (secret)
        cin_free_secret(secret, len);
    cin_strv_free(hashes, hashes ? CIN_RECOVERY_CODES : 0);
    if (rc == CIN_OK) {
        *n = CIN_RECOVERY_CODES;
    } else {
        cin_strv_free(*codes, *codes ? CIN_RECOVERY_CODES : 0);
        *codes = NULL;
    }
    return rc;
}

int cin_account_totp_reset(cin_store *st, const cin_actor *a, const char *user, cin_problem *p)
{
    cin_account acct;
    cin_user u;
    int rc;

    memset(&acct, 0, sizeof(acct));
    if ((rc = tx_begin(st, p)) != CIN_OK)
        return rc;
    rc = cin_store_user_get(st, user ? user : "", &u);
    if (rc == CIN_OK && a && a->user && a->user->id != u.id) {
        /* another user's: an administrator of its account or of one above */
        rc = administered(st, a, u.account, &acct, p);
        if (rc == CIN_ENOTFOUND)
            cin_problem_set(p, 404, "not_found", "no user named %s", user);
    } else if (rc == CIN_ENOTFOUND) {
        cin_problem_set(p, 404, "not_found", "no user named %s", user ? user : "");
    }
    if (rc == CIN_OK)
        rc = cin_store_totp_delete(st, u.id);
    if (rc == CIN_OK)
        rc = audit(st, a, u.account_id, "user.totp_reset", u.name);
    rc = tx_end(st, rc, p);
    cin_user_clear(&u);
    cin_account_clear(&acct);
    return rc;
}

/* ---- client certificates ------------------------------------------------------- */

static int is_hex(const char *s, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;

    if (n < min || n > max)
        return 0;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return 0;
    return 1;
}

static char *lower(const char *s)
{
    char *d = cin_strdup(s), *c;

    for (c = d; c && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return d;
}

int cin_account_cert_register(cin_store *st, const cin_actor *a, const char *sha256,
                              const char *issuer, const char *serial, int64_t *id, cin_problem *p)
{
    char *fp = NULL, *sn = NULL, detail[200];
    int rc;

    if ((rc = need_user(a, p)) != CIN_OK)
        return rc;
    if (sha256 ? !is_hex(sha256, 64, 64) : (!issuer || !*issuer || !is_hex(serial, 1, 64))) {
        cin_problem_field(p, 400, "bad_request", sha256 ? "sha256" : "serial",
                          "give the certificate's SHA-256 fingerprint (64 hex digits), or its "
                          "issuer and serial number (hex)");
        return CIN_EINVAL;
    }
    fp = lower(sha256);
    sn = lower(serial);
    if ((rc = tx_begin(st, p)) != CIN_OK)
        goto done;
    {
        /* one user per certificate: registering another's would send their
         * certificate logins elsewhere (a review finding) */
        int64_t holder = 0;
        rc = cin_store_user_cert_find(st, fp, sha256 ? NULL : issuer, sha256 ? NULL : sn, &holder);
        if (rc == CIN_OK || rc == CIN_ECONFLICT) {
            cin_problem_field(p, 409, "conflict", sha256 ? "sha256" : "serial",
                              "this certificate is already registered");
            rc = CIN_ECONFLICT;
        } else if (rc == CIN_ENOTFOUND) {
            rc = CIN_OK;
        }
    }
    if (rc == CIN_OK)
        rc = cin_store_user_cert_add(st, a->user->id, fp, sha256 ? NULL : issuer,
                                     sha256 ? NULL : sn, id);
    snprintf(detail, sizeof(detail), "%s %.100s", a->user->name, fp ? fp : (issuer ? issuer : ""));
    if (rc == CIN_OK)
        rc = audit(st, a, a->user->account_id, "user.cert_registered", detail);
    rc = tx_end(st, rc, p);
done:
    free(fp);
    free(sn);
    return rc;
}

int cin_account_cert_delete(cin_store *st, const cin_actor *a, int64_t id, cin_problem *p)
{
    int rc;

    if ((rc = need_user(a, p)) != CIN_OK)
        return rc;
    if ((rc = tx_begin(st, p)) != CIN_OK)
        return rc;
    rc = cin_store_user_cert_delete(st, a->user->id, id);
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no certificate %lld of yours", (long long)id);
    if (rc == CIN_OK)
        rc = audit(st, a, a->user->account_id, "user.cert_removed", a->user->name);
    return tx_end(st, rc, p);
}

/* ---- the login -------------------------------------------------------------------- */

/* What a check against a user who does not exist costs: the same as a real one. */
static const char dummy_hash[] = "$scrypt$ln=14,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$"
                                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/* The second factor of an enrolled user, in the login's transaction:
 * CIN_OK, or CIN_EAUTH with p set (totp_required / unauthorized). */
static int second_factor(cin_store *st, const cin_user *u, const char *code, const char **event,
                         cin_problem *p)
{
    unsigned char *secret = NULL;
    size_t len = 0;
    uint64_t last = 0, step = 0;
    char hex[65];
    int rc, confirmed = 0;

    if (!code || !*code) {
        cin_problem_set(p, 401, "totp_required",
                        "enter the 6-digit code of your authenticator app (or a recovery code)");
        *event = "session.totp_required";
        return CIN_EAUTH;
    }
    if (recovery_hash(code, hex)) {
        rc = cin_store_recovery_use(st, u->id, hex);
        if (rc == CIN_OK) {
            *event = "session.recovery_code_used";
            return CIN_OK;
        }
        if (rc != CIN_ENOTFOUND)
            return cin_problem_from_status(p, rc);
    } else {
        rc = cin_store_totp_get(st, u->id, &secret, &len, &confirmed, &last);
        if (rc != CIN_OK && rc != CIN_ENOTFOUND)
            return cin_problem_from_status(p, rc);
        if (rc == CIN_OK && confirmed &&
            cin_totp_verify(secret, len, code, cin_now(cin_store_services(st)), last, &step))
            rc = cin_store_totp_use(st, u->id, step);
        else
            rc = CIN_ECONFLICT;
        if (secret)
            cin_free_secret(secret, len);
        if (rc == CIN_OK)
            return CIN_OK;
        if (rc != CIN_ECONFLICT)
            return cin_problem_from_status(p, rc);
    }
    cin_problem_set(p, 401, "unauthorized", "the code is wrong or was already used");
    *event = "session.totp_failed";
    return CIN_EAUTH;
}

int cin_account_totp_turn_off(cin_store *st, const cin_actor *a, const char *code,
                              const char *password, cin_problem *p)
{
    const char *event = NULL;
    cin_problem why = {0};
    int rc;

    if (!a || !a->user) {
        cin_problem_set(p, 400, "bad_request", "name the user (certinext user reset-2fa NAME)");
        return CIN_EINVAL;
    }
    if ((!code || !*code) && (!password || !*password)) {
        cin_problem_field(p, 400, "bad_request", "code",
                          "give a current code of your authenticator app, a recovery code or "
                          "your password");
        return CIN_EINVAL;
    }
    /* a stolen session or token alone cannot remove the second factor; the
     * password is checked before the transaction (scrypt never inside one) */
    if ((!code || !*code) &&
        !(a->user->password_hash && cin_password_verify(password, a->user->password_hash))) {
        cin_problem_field(p, 403, "forbidden", "password", "the password is wrong");
        return CIN_EPERM;
    }
    if ((rc = tx_begin(st, p)) != CIN_OK)
        return rc;
    if (code && *code) {
        rc = second_factor(st, a->user, code, &event, &why);
        if (rc == CIN_EAUTH) {
            cin_problem_clear(&why);
            cin_problem_field(p, 403, "forbidden", "code", "the code is wrong or was already used");
            rc = CIN_EPERM;
        } else if (rc != CIN_OK && p) {
            *p = why; /* the store's problem, handed over */
        } else {
            cin_problem_clear(&why);
        }
    }
    if (rc == CIN_OK)
        rc = cin_store_totp_delete(st, a->user->id);
    if (rc == CIN_OK)
        rc = audit(st, a, a->user->account_id, "user.totp_off", a->user->name);
    return tx_end(st, rc, p);
}

int cin_account_login_ex(cin_store *st, const cin_login_request *r, cin_login *out, cin_problem *p)
{
    static const cin_login_limits lim = {LOGIN_WINDOW, LOGIN_PER_PAIR, LOGIN_PER_PEER,
                                         LOGIN_PER_USER};
    const char *peer = r->peer ? r->peer : "", *refusal = NULL;
    char key[80], certkey[80];
    int64_t slot = 0, cert_user = 0;
    int rc, retry = 0, ok = 0, found = 0, by_cert = 0;

    memset(out, 0, sizeof(*out));
    by_cert = !r->password && r->cert && r->cert->sha256;
    if (!by_cert && (!r->name || !r->password)) {
        cin_problem_field(p, 400, "bad_request", r->name ? "password" : "username",
                          r->cert || r->name ? "give a user name and a password"
                                             : "give a user name and a password, or present "
                                               "a registered client certificate");
        return CIN_EINVAL;
    }
    if (by_cert) {
        /* the certificate names the user; a name given must agree */
        rc = cin_store_user_cert_find(st, r->cert->sha256, r->cert->issuer, r->cert->serial,
                                      &cert_user);
        if (rc == CIN_ECONFLICT)
            rc = CIN_ENOTFOUND; /* registered twice: nobody's login */
        if (rc != CIN_OK && rc != CIN_ENOTFOUND)
            return cin_problem_from_status(p, rc);
        snprintf(certkey, sizeof(certkey), "cert:%.64s", r->cert->sha256);
    }
    /* the throttling key: what was typed, bounded (an unknown name counts too) */
    snprintf(key, sizeof(key), "%.64s", r->name ? r->name : certkey);
    rc = cin_store_login_reserve(st, key, peer, &lim, &slot, &retry);
    if (rc == CIN_ELIMIT) {
        cin_problem_set(p, 429, "rate_limited", "too many failed logins; try again in %d minute%s",
                        (retry + 59) / 60, (retry + 59) / 60 == 1 ? "" : "s");
        p->retry_after = retry;
        return rc;
    }
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    if (by_cert)
        rc = cert_user ? cin_store_user_get_id(st, cert_user, &out->user) : CIN_ENOTFOUND;
    else
        rc = cin_store_user_get(st, r->name, &out->user);
    found = rc == CIN_OK;
    if (rc != CIN_OK && rc != CIN_ENOTFOUND) {
        /* the store failed: no answer about the password either way */
        if (cin_store_begin(st) == CIN_OK)
            cin_store_end(st, cin_store_login_finish(st, slot, 0));
        cin_login_clear(out);
        return cin_problem_from_status(p, rc);
    }
    if (by_cert)
        ok = found && !out->user.disabled && (!r->name || !strcmp(r->name, out->user.name));
    else if (found && !out->user.disabled && out->user.password_hash)
        ok = cin_password_verify(r->password, out->user.password_hash);
    else
        cin_password_verify(r->password, dummy_hash); /* the same cost: no user is revealed */
    rc = cin_store_begin(st);
    if (rc != CIN_OK) {
        cin_login_clear(out);
        return cin_problem_from_status(p, rc);
    }
    /* outside the allowlist the answer is the same whether the password was
     * right or not: no password guessing from outside (a review finding) */
    if (found && !cin_ip_allowed(out->user.account_allowlist, peer)) {
        ok = 0;
        refusal = "session.login_refused_ip";
        cin_problem_set(p, 403, "forbidden", "logins to this account are not allowed from %s",
                        peer);
    }
    if (ok && out->user.totp_enrolled &&
        second_factor(st, &out->user, r->totp, &refusal, p) != CIN_OK) {
        ok = 0;
        if (p && p->status != 401) {
            rc = CIN_ERR; /* the store's problem */
            refusal = NULL;
        }
    }
    if (rc == CIN_OK)
        rc = cin_store_login_finish(st, slot, ok);
    if (rc == CIN_OK && !ok)
        rc = cin_store_event_add(st, found ? out->user.account_id : 0, 0, key,
                                 refusal ? refusal : "session.login_failed", peer, NULL);
    if (rc == CIN_OK && ok)
        rc = cin_store_session_create(st, out->user.id, r->ttl, &out->session_id, &out->csrf);
    if (rc == CIN_OK && ok)
        rc = cin_store_event_add(st, out->user.account_id, 0, out->user.name,
                                 by_cert ? "session.login_certificate" : "session.login", peer,
                                 by_cert ? r->cert->sha256 : NULL);
    if (rc == CIN_OK && ok && refusal) /* a recovery code was used: say so */
        rc = cin_store_event_add(st, out->user.account_id, 0, out->user.name, refusal, peer, NULL);
    rc = cin_store_end(st, rc);
    if (rc != CIN_OK) {
        cin_login_clear(out);
        if (!p || !p->status || p->status == 401 || p->status == 403)
            cin_problem_from_status(p, rc);
        return rc;
    }
    if (!ok) {
        cin_login_clear(out);
        if (p && !p->status)
            cin_problem_set(p, 401, "unauthorized",
                            by_cert ? "this certificate is not registered to any user"
                                    : "wrong user name or password");
        return p && p->status == 403 ? CIN_EPERM : CIN_EAUTH;
    }
    return CIN_OK;
}

int cin_account_login(cin_store *st, const char *name, const char *password, const char *peer,
                      int ttl, cin_login *out, cin_problem *p)
{
    cin_login_request r = {name, password, NULL, NULL, peer, ttl};

    return cin_account_login_ex(st, &r, out, p);
}

/* ---- a client certificate's fields ---------------------------------------------- */

int cin_client_cert_parse(const char *pem, cin_client_cert *out)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL, md[32];
    char hex[65], *issuer = NULL, *serial = NULL;
    BIO *mem = NULL;
    BIGNUM *bn = NULL;
    int len, rc = CIN_ERR;

    memset(out, 0, sizeof(*out));
    if (!x)
        goto done;
    len = i2d_X509(x, &der);
    if (len <= 0 || !SHA256(der, (size_t)len, md))
        goto done;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    mem = BIO_new(BIO_s_mem());
    if (mem && X509_NAME_print_ex(mem, X509_get_issuer_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        char *data = NULL;
        long n = BIO_get_mem_data(mem, &data);
        issuer = n >= 0 ? strndup(data, (size_t)n) : NULL;
    }
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    serial = bn ? BN_bn2hex(bn) : NULL;
    if (!issuer || !serial)
        goto done;
    out->sha256 = strdup(hex);
    out->issuer = issuer;
    out->serial = lower(serial);
    issuer = NULL;
    rc = out->sha256 && out->serial ? CIN_OK : CIN_ENOMEM;
done:
    if (serial)
        OPENSSL_free(serial);
    BN_free(bn);
    free(issuer);
    BIO_free(mem);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(b);
    if (rc != CIN_OK)
        cin_client_cert_clear(out);
    return rc;
}

void cin_client_cert_clear(cin_client_cert *c)
{
    if (!c)
        return;
    free((char *)c->sha256);
    free((char *)c->issuer);
    free((char *)c->serial);
    memset(c, 0, sizeof(*c));
}
