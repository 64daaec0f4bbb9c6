/*
 * mod_certinext - certinext for Apache httpd.
 *
 * Thin glue over the certinext core (common/), in httpd's own terms:
 *   - the "certinext" handler (SetHandler certinext in a <Location>) copies
 *     the request into the core's cin_request and the answer back out;
 *   - ACME and pki-validation challenges are answered in post_read_request,
 *     before mod_rewrite, aliases and every other handler;
 *   - mod_ssl's optional init_server hook installs the core's certificate
 *     callback on the SSL context of every virtual host with CertInextSSL On,
 *     so a newly issued certificate is served on the next handshake;
 *   - mod_watchdog runs the issuance agent in one child (a singleton
 *     watchdog) and refreshes every child's certificate index from a timer.
 *
 * The key-encryption key is read in post_config, by the parent, before the
 * children drop privileges.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "ap_mpm.h"
#include "mod_ssl.h"
#include "mod_watchdog.h"
#include "unixd.h"

#include "apr_lib.h"
#include "apr_optional_hooks.h"
#include "apr_strings.h"

#include <openssl/ssl.h>
#include <pthread.h>

#include "cin_agent.h"
#include "cin_ca.h"
#include "cin_core.h"
#include "cin_crypto.h"
#include "cin_http.h"
#include "cin_metrics.h"
#include "cin_mirror.h"
#include "cin_tls.h"
#include "cin_util.h"

/* Debian ships no mod_ssl_openssl.h: declare mod_ssl's hook ourselves. */
APR_DECLARE_EXTERNAL_HOOK(ssl, SSL, int, init_server,
                          (server_rec * s, apr_pool_t *p, int is_proxy, SSL_CTX *ctx))

#define CERTINEXT_AGENT_INTERVAL   apr_time_from_msec(200)
#define CERTINEXT_REFRESH_INTERVAL apr_time_from_msec(200)

module AP_MODULE_DECLARE_DATA certinext_module;

typedef struct {
    const char *store;
    const char *key_file;
    const char *state_dir;
    const char *metrics_allow; /* CertInextMetricsAllow's addresses, space-separated */
    const char *dns_hook;      /* issue 14: dns-01 hook, only ever from this file */
    int agent;                 /* -1: unset */
    int ssl;                   /* -1: unset */
    long cache_size;           /* -1: unset */
    apr_int64_t shared_cache;  /* bytes; -1: unset */
} certinext_srv_conf;

/* This process's core (made by the parent) and certificate index (per child). */
static cin_core *certinext_core;
static cin_tls *certinext_tls;
static server_rec *certinext_server;

/*
 * The watchdog threads (index refresh, agent) are not joined when a child exits:
 * mod_watchdog starts them on a pool that outlives the child's pool, and exit()
 * then tears down OpenSSL and our objects under them. So every watchdog callback
 * enters the core through certinext_wd_enter(), and the child's cleanup waits,
 * in certinext_wd_quiesce(), until none is inside and none can enter again
 * before it frees anything that they use.
 */
static pthread_mutex_t certinext_wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t certinext_wd_idle = PTHREAD_COND_INITIALIZER;
static int certinext_wd_busy;    /* callbacks inside the core now */
static int certinext_wd_stopped; /* this child is exiting: no callback enters */

static APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) * wd_get_instance;
static APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) * wd_register_callback;

/* ---- configuration ------------------------------------------------------------- */

static void *certinext_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    certinext_srv_conf *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->agent = -1;
    c->ssl = -1;
    c->cache_size = -1;
    c->shared_cache = -1;
    return c;
}

static void *certinext_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    certinext_srv_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));

    c->store = add->store ? add->store : base->store;
    c->key_file = add->key_file ? add->key_file : base->key_file;
    c->state_dir = add->state_dir ? add->state_dir : base->state_dir;
    c->metrics_allow = add->metrics_allow ? add->metrics_allow : base->metrics_allow;
    c->agent = add->agent != -1 ? add->agent : base->agent;
    c->ssl = add->ssl != -1 ? add->ssl : base->ssl;
    c->cache_size = add->cache_size != -1 ? add->cache_size : base->cache_size;
    c->shared_cache = add->shared_cache != -1 ? add->shared_cache : base->shared_cache;
    return c;
}

static const char *certinext_set_store(cmd_parms *cmd, void *dc, const char *arg)
{
    certinext_srv_conf *c = ap_get_module_config(cmd->server->module_config, &certinext_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dc;
    if (err) {
        return err;
    }
    /* a file relative to ServerRoot; a postgresql:// URI as it is */
    c->store = cin_store_target_is_central(arg) ? apr_pstrdup(cmd->pool, arg)
                                                : ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *certinext_set_path(cmd_parms *cmd, void *dc, const char *arg)
{
    certinext_srv_conf *c = ap_get_module_config(cmd->server->module_config, &certinext_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dc;
    if (err) {
        return err;
    }
    if (!strcmp(cmd->cmd->name, "CertInextKeyFile")) {
        c->key_file = ap_server_root_relative(cmd->pool, arg);
    } else if (!strcmp(cmd->cmd->name, "CertInextDNSHook")) {
        char *why = NULL;
        if (cin_dns_hook_check(arg, &why) != CIN_OK) {
            const char *msg = apr_pstrcat(cmd->pool, "CertInextDNSHook: ", why ? why : arg, NULL);
            free(why);
            return msg;
        }
        c->dns_hook = apr_pstrdup(cmd->pool, arg);
    } else {
        c->state_dir = ap_server_root_relative(cmd->pool, arg);
    }
    return NULL;
}

static const char *certinext_set_agent(cmd_parms *cmd, void *dc, int on)
{
    certinext_srv_conf *c = ap_get_module_config(cmd->server->module_config, &certinext_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dc;
    if (err) {
        return err;
    }
    c->agent = on;
    return NULL;
}

static const char *certinext_set_ssl(cmd_parms *cmd, void *dc, int on)
{
    certinext_srv_conf *c = ap_get_module_config(cmd->server->module_config, &certinext_module);

    (void)dc;
    c->ssl = on;
    return NULL;
}

static const char *certinext_set_cache_size(cmd_parms *cmd, void *dc, const char *arg)
{
    certinext_srv_conf *c = ap_get_module_config(cmd->server->module_config, &certinext_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long n;

    (void)dc;
    if (err) {
        return err;
    }
    n = strtol(arg, &end, 10);
    if (*end || n < 1 || n > CIN_TLS_CACHE_MAX) {
        return "CertInextCacheSize must be a number of certificates from 1 to 10000000";
    }
    c->cache_size = n;
    return NULL;
}

/* CertInextSharedCache SIZE: bytes, with an optional K, M or G; 0 turns it off. */
static const char *certinext_set_shared_cache(cmd_parms *cmd, void *dc, const char *arg)
{
    certinext_srv_conf *c = ap_get_module_config(cmd->server->module_config, &certinext_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_int64_t n, unit = 1;
    char *end;

    (void)dc;
    if (err) {
        return err;
    }
    if (!apr_isdigit(*arg)) {
        n = -1;
    } else {
        n = apr_strtoi64(arg, &end, 10);
        switch (*end) {
        case 'k':
        case 'K':
            unit = 1024;
            end++;
            break;
        case 'm':
        case 'M':
            unit = 1024 * 1024;
            end++;
            break;
        case 'g':
        case 'G':
            unit = 1024 * 1024 * 1024;
            end++;
            break;
        default:
            break;
        }
        if (*end || n < 0 || n > (apr_int64_t)CIN_SHARED_CACHE_MAX / unit) {
            n = -1;
        } else {
            n *= unit;
        }
    }
    if (n < 0 || (n != 0 && ((apr_uint64_t)n < CIN_SHARED_CACHE_MIN ||
                             (apr_uint64_t)n > CIN_SHARED_CACHE_MAX))) {
        return "CertInextSharedCache must be 0 (off) or a size from 64K to 64G";
    }
    c->shared_cache = n;
    return NULL;
}

/* CertInextMetricsAllow ADDRESS|CIDR ... (repeatable): who may scrape
 * <mount>metrics without a token. */
static const char *certinext_set_metrics_allow(cmd_parms *cmd, void *dc, const char *arg)
{
    certinext_srv_conf *c = ap_get_module_config(cmd->server->module_config, &certinext_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *why = NULL;

    (void)dc;
    if (err) {
        return err;
    }
    if (cin_metrics_allow_valid(arg, &why) != CIN_OK) {
        err = apr_pstrcat(cmd->pool, "CertInextMetricsAllow: ", why ? why : arg, NULL);
        free(why);
        return err;
    }
    c->metrics_allow =
        c->metrics_allow ? apr_pstrcat(cmd->pool, c->metrics_allow, " ", arg, NULL) : arg;
    return NULL;
}

static const command_rec certinext_cmds[] = {
    AP_INIT_TAKE1("CertInextStore", certinext_set_store, NULL, RSRC_CONF,
                  "the certinext control store: a file, or a postgresql:// URI"),
    AP_INIT_TAKE1("CertInextKeyFile", certinext_set_path, NULL, RSRC_CONF,
                  "the store's key-encryption key (default for a file store: PATH.key)"),
    AP_INIT_TAKE1("CertInextStateDir", certinext_set_path, NULL, RSRC_CONF,
                  "this host's own state: the mirror of a central store (/var/lib/certinext)"),
    AP_INIT_FLAG("CertInextSSL", certinext_set_ssl, NULL, RSRC_CONF,
                 "serve certificates from the store by SNI in this virtual host"),
    AP_INIT_FLAG("CertInextAgent", certinext_set_agent, NULL, RSRC_CONF,
                 "run the issuance agent in one child process"),
    AP_INIT_TAKE1("CertInextDNSHook", certinext_set_path, NULL, RSRC_CONF,
                  "dns-01: the root-owned program run as HOOK add|remove NAME VALUE"),
    AP_INIT_TAKE1("CertInextCacheSize", certinext_set_cache_size, NULL, RSRC_CONF,
                  "parsed certificates kept per child process (default: a quarter of the "
                  "host's memory over ServerLimit children)"),
    AP_INIT_TAKE1("CertInextSharedCache", certinext_set_shared_cache, NULL, RSRC_CONF,
                  "the host's shared cache of what cache misses read (256M; 0: off)"),
    AP_INIT_ITERATE("CertInextMetricsAllow", certinext_set_metrics_allow, NULL, RSRC_CONF,
                    "addresses or CIDR prefixes that may read <mount>metrics without a token"),
    {NULL}};

/* ---- services handed to the core ---------------------------------------------------- */

static void certinext_log(void *ud, int level, const char *msg)
{
    static const int levels[] = {APLOG_ERR, APLOG_WARNING, APLOG_INFO, APLOG_DEBUG};

    (void)ud;
    if (level < 0 || level > 3) {
        level = 0;
    }
    if (certinext_server) {
        ap_log_error(APLOG_MARK, levels[level], 0, certinext_server, "certinext: %s", msg);
    }
}

static const cin_services certinext_services = {certinext_log, NULL, NULL};

/* Set when a watchdog thread had still not ended at the child's exit: it
 * still counts itself out in the core, which is then left to the process's
 * end instead of being freed under it. */
static int certinext_core_in_use;

static apr_status_t certinext_core_cleanup(void *data)
{
    if (certinext_core_in_use) {
        return APR_SUCCESS;
    }
    if (certinext_core == data) {
        certinext_core = NULL;
    }
    cin_core_free(data);
    return APR_SUCCESS;
}

/* 0 when the child is exiting; else the caller is counted in until
 * certinext_wd_leave() and, with tls, gets this child's index (or NULL). */
static int certinext_wd_enter(cin_tls **tls)
{
    int ok;

    pthread_mutex_lock(&certinext_wd_lock);
    ok = !certinext_wd_stopped;
    if (ok) {
        certinext_wd_busy++;
        if (tls) {
            *tls = __atomic_load_n(&certinext_tls, __ATOMIC_ACQUIRE);
        }
    }
    pthread_mutex_unlock(&certinext_wd_lock);
    return ok;
}

static void certinext_wd_leave(void)
{
    pthread_mutex_lock(&certinext_wd_lock);
    if (--certinext_wd_busy == 0) {
        pthread_cond_broadcast(&certinext_wd_idle);
    }
    pthread_mutex_unlock(&certinext_wd_lock);
}

/* An agent pass in progress is finished first (as nginx joins its agent thread). */
static void certinext_wd_quiesce(void)
{
    pthread_mutex_lock(&certinext_wd_lock);
    certinext_wd_stopped = 1;
    while (certinext_wd_busy > 0) {
        pthread_cond_wait(&certinext_wd_idle, &certinext_wd_lock);
    }
    pthread_mutex_unlock(&certinext_wd_lock);
}

/* The child's pool goes just before the child exits. */
static apr_status_t certinext_child_cleanup(void *data)
{
    int left;

    (void)data;
    certinext_wd_quiesce();
    cin_tls_free(certinext_tls);
    certinext_tls = NULL;
    if (!certinext_core) {
        return APR_SUCCESS;
    }
    cin_mirror_stop(certinext_core); /* another process takes the syncer's role */
    /*
     * mod_watchdog's threads end by themselves once the MPM is stopping, but
     * nothing joins them before the child's exit(): one may still be closing
     * its store connection and freeing OpenSSL's state for itself when
     * exit()'s OPENSSL_cleanup() frees every thread's state (a double free,
     * seen under AddressSanitizer). Wait for them, as nginx's glue waits for
     * its thread pool.
     */
    left = cin_core_wait_threads(certinext_core, 2000);
    if (left > 0) {
        certinext_core_in_use = 1;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, certinext_server,
                     "certinext: %d thread(s) still closing their store connections at exit", left);
    }
    return APR_SUCCESS;
}

/* ---- mod_ssl: the certificate callback on every CertInextSSL context ---------------- */

static int certinext_init_server(server_rec *s, apr_pool_t *p, int is_proxy, SSL_CTX *ctx)
{
    certinext_srv_conf *c = ap_get_module_config(s->module_config, &certinext_module);

    (void)p;
    if (is_proxy || c->ssl != 1) {
        return DECLINED;
    }
    /* every handshake of this virtual host asks the core for its certificate;
     * without a match the host's own SSLCertificateFile is served */
    SSL_CTX_set_cert_cb(ctx, cin_tls_cert_cb, &certinext_tls);
    return OK;
}

/* ---- tls-alpn-01 (RFC 8737): httpd's protocol hooks, as mod_md uses them ------------- */

#define CERTINEXT_PROTO_NOTE "certinext-protocol"

static APR_OPTIONAL_FN_TYPE(ssl_var_lookup) * certinext_ssl_var;

static int certinext_ssl_on(server_rec *s)
{
    certinext_srv_conf *c = s ? ap_get_module_config(s->module_config, &certinext_module) : NULL;

    return c && c->ssl == 1;
}

/* Every CertInextSSL virtual host allows acme-tls/1 after its own protocols
 * (so h2 and http/1.1 keep their preference); the default, http/1.1 alone,
 * made explicit first.  A copy: vhosts may share the merged array. */
static void certinext_allow_acme_tls(server_rec *s, apr_pool_t *p)
{
    server_rec *v;

    for (v = s; v; v = v->next) {
        core_server_config *core = ap_get_core_module_config(v->module_config);
        apr_array_header_t *protos;
        if (!certinext_ssl_on(v) || !core->protocols ||
            ap_array_str_contains(core->protocols, CIN_ACME_TLS_ALPN)) {
            continue;
        }
        protos = apr_array_copy(p, core->protocols);
        if (protos->nelts == 0) {
            APR_ARRAY_PUSH(protos, const char *) = AP_PROTOCOL_HTTP1;
        }
        APR_ARRAY_PUSH(protos, const char *) = CIN_ACME_TLS_ALPN;
        core->protocols = protos;
    }
}

/* The connection's SNI name, from mod_ssl (during the handshake too). */
static const char *certinext_sni(conn_rec *c, server_rec *s)
{
    const char *name =
        certinext_ssl_var ? certinext_ssl_var(c->pool, s, c, NULL, "SSL_TLS_SNI") : NULL;

    return name && *name ? name : NULL;
}

/* name in lower case, as names are stored (0: too long or none). */
static int certinext_lower(const char *name, char lower[256])
{
    size_t i;

    if (!name || strlen(name) >= 256) {
        return 0;
    }
    for (i = 0; name[i]; i++) {
        lower[i] = (char)apr_tolower(name[i]);
    }
    lower[i] = '\0';
    return 1;
}

/* A pending tls-alpn-01 challenge for name: read here and made again in
 * ssl_answer_challenge (a key generation, for this rare handshake only). */
static int certinext_challenge_pending(const char *name)
{
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    char lower[256];
    int rc;

    if (!certinext_lower(name, lower)) {
        return 0;
    }
    rc = cin_tls_challenge_get(certinext_core, lower, &x, &k);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc == 1;
}

static int certinext_protocol_propose(conn_rec *c, request_rec *r, server_rec *s,
                                      const apr_array_header_t *offers,
                                      apr_array_header_t *proposals)
{
    if (r || !offers || !certinext_core || !certinext_ssl_on(s) || offers->nelts != 1 ||
        strcmp(APR_ARRAY_IDX(offers, 0, const char *), CIN_ACME_TLS_ALPN) ||
        !certinext_challenge_pending(certinext_sni(c, s))) {
        return DECLINED;
    }
    APR_ARRAY_PUSH(proposals, const char *) = CIN_ACME_TLS_ALPN;
    return OK;
}

static int certinext_protocol_switch(conn_rec *c, request_rec *r, server_rec *s,
                                     const char *protocol)
{
    if (r || !certinext_ssl_on(s) || strcmp(protocol, CIN_ACME_TLS_ALPN)) {
        return DECLINED;
    }
    /* nothing follows the handshake: the CA closes the connection */
    apr_table_setn(c->notes, CERTINEXT_PROTO_NOTE, CIN_ACME_TLS_ALPN);
    return OK;
}

static const char *certinext_protocol_get(const conn_rec *c)
{
    return apr_table_get(c->notes, CERTINEXT_PROTO_NOTE);
}

static apr_status_t certinext_wipe(void *data)
{
    char *p = data;

    cin_memzero(p, strlen(p));
    return APR_SUCCESS;
}

/* mod_ssl asks after the switch to acme-tls/1: the challenge certificate. */
static int certinext_answer_challenge(conn_rec *c, const char *server_name, const char **pcert_pem,
                                      const char **pkey_pem)
{
    char lower[256], *cert = NULL, *key = NULL;

    if (!certinext_core || !apr_table_get(c->notes, CERTINEXT_PROTO_NOTE) ||
        !certinext_lower(server_name, lower)) {
        return DECLINED;
    }
    if (cin_tls_challenge_pem(certinext_core, lower, &cert, &key) != 1) {
        return DECLINED;
    }
    *pcert_pem = apr_pstrdup(c->pool, cert);
    *pkey_pem = apr_pstrdup(c->pool, key);
    apr_pool_cleanup_register(c->pool, *pkey_pem, certinext_wipe, apr_pool_cleanup_null);
    free(cert);
    cin_free_secret(key, strlen(key));
    return OK;
}

/* ---- startup ---------------------------------------------------------------------- */

/* Customer code inside httpd's own processes could read the store. */
static void certinext_warn_customer_code(server_rec *s)
{
    static const char *const embedded[] = {"mod_php.c",  "mod_php5.c",   "mod_php7.c", "mod_php8.c",
                                           "mod_perl.c", "mod_python.c", "mod_ruby.c", "mod_lua.c"};
    size_t i;

    for (i = 0; i < sizeof(embedded) / sizeof(embedded[0]); i++) {
        if (ap_find_linked_module(embedded[i])) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "certinext: %s runs customer code inside httpd's processes, as the "
                         "user that owns the certinext store; run customer code in separate "
                         "pools (PHP-FPM, suexec) - see the README, trust boundary",
                         embedded[i]);
        }
    }
    if ((ap_find_linked_module("mod_cgi.c") || ap_find_linked_module("mod_cgid.c")) &&
        !ap_unixd_config.suexec_enabled) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "certinext: CGI scripts run as httpd's user, which owns the certinext "
                     "store, because suexec is not enabled; enable suexec or use PHP-FPM "
                     "pools - see the README, trust boundary");
    }
}

static apr_status_t certinext_agent_callback(int state, void *data, apr_pool_t *pool)
{
    char holder[160];
    cin_store *st;

    (void)data;
    (void)pool;
    if (state == AP_WATCHDOG_STATE_STARTING) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, certinext_server,
                     "certinext: agent started in child %" APR_PID_T_FMT, getpid());
    }
    if (state != AP_WATCHDOG_STATE_RUNNING || !certinext_core || !certinext_wd_enter(NULL)) {
        return APR_SUCCESS;
    }
    st = cin_core_store(certinext_core); /* the watchdog thread's own connection */
    if (st && cin_agent_work_due(st)) {
        cin_agent_holder(cin_core_host_id(certinext_core), holder, sizeof(holder));
        cin_agent_run_once(st, holder, NULL);
    }
    certinext_wd_leave();
    return APR_SUCCESS;
}

static apr_status_t certinext_refresh_callback(int state, void *data, apr_pool_t *pool)
{
    cin_tls *tls = NULL;

    (void)data;
    (void)pool;
    if (state == AP_WATCHDOG_STATE_RUNNING && certinext_wd_enter(&tls)) {
        if (tls) {
            cin_tls_refresh(tls);
        }
        certinext_wd_leave();
    }
    return APR_SUCCESS;
}

/* Every child offers to keep the host's mirror of a central store in step;
 * one process of the host does (cin_mirror.h).  Never blocks for long. */
static apr_status_t certinext_mirror_callback(int state, void *data, apr_pool_t *pool)
{
    (void)data;
    (void)pool;
    if (state == AP_WATCHDOG_STATE_RUNNING && certinext_core && certinext_wd_enter(NULL)) {
        cin_mirror_step(certinext_core, 0, NULL);
        certinext_wd_leave();
    }
    return APR_SUCCESS;
}

/* The parsed certificates a child keeps: CertInextCacheSize, else a quarter
 * of the host's memory over the most children the MPM may have (ServerLimit;
 * logged once, on the configuration that serves). */
static size_t certinext_cache_entries;

static size_t certinext_cache_bound(const certinext_srv_conf *mc, server_rec *s)
{
    int children = 1;
    size_t n;
    char why[160] = "CertInextCacheSize";

    if (mc->cache_size > 0) {
        n = (size_t)mc->cache_size;
    } else {
        /* ServerLimit: children still stopping after a graceful restart keep
         * their caches beside the new ones */
        if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &children) != APR_SUCCESS || children < 1) {
            children = 1;
        }
        n = cin_tls_default_cache((unsigned)children, why, sizeof(why));
    }
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "certinext: each child keeps up to %" APR_SIZE_T_FMT
                     " parsed certificates (%s)",
                     n, why);
    }
    return n;
}

static int certinext_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                 server_rec *s)
{
    certinext_srv_conf *mc = ap_get_module_config(s->module_config, &certinext_module);
    cin_core_config cfg;
    ap_watchdog_t *wd;
    server_rec *v;
    char *err = NULL;

    (void)plog;
    (void)ptemp;
    certinext_server = s;
    for (v = s; v; v = v->next) {
        certinext_srv_conf *c = ap_get_module_config(v->module_config, &certinext_module);
        if (c->ssl == 1 && !mc->store) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                         "certinext: CertInextSSL On needs CertInextStore in the server config");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (!mc->store) {
        return OK;
    }
    /* the dns-01 hook of this configuration, or none (a graceful restart
     * that drops the directive drops the hook) */
    if (cin_dns_hook_set(mc->dns_hook, &err) != CIN_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "certinext: CertInextDNSHook: %s",
                     err ? err : "cannot be used");
        free(err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.store_path = mc->store;
    cfg.key_file = mc->key_file;
    cfg.state_dir = mc->state_dir;
    cfg.metrics_allow = mc->metrics_allow;
    /* the host's mirror belongs to the user the children run as */
    cfg.worker_ids = 1;
    cfg.worker_uid = (unsigned)ap_unixd_config.user_id;
    cfg.worker_gid = (unsigned)ap_unixd_config.group_id;
    cfg.load_kek = 1; /* the parent reads the key now, before children drop privileges */
    /* made here, in the parent, so that every child shares it */
    cfg.shared_cache = mc->shared_cache >= 0 ? (size_t)mc->shared_cache : CIN_SHARED_CACHE_DEFAULT;
    if (cin_core_create(&cfg, &certinext_services, &certinext_core, &err) != CIN_OK) {
        char *shown = cin_store_display_name(mc->store);
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "certinext: CertInextStore %s: %s",
                     shown ? shown : "(the store)", err ? err : "cannot be used");
        free(shown);
        free(err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, certinext_core, certinext_core_cleanup, apr_pool_cleanup_null);
    certinext_cache_entries = certinext_cache_bound(mc, s);
    certinext_warn_customer_code(s);
    certinext_allow_acme_tls(s, pconf);
    certinext_ssl_var = APR_RETRIEVE_OPTIONAL_FN(ssl_var_lookup);

    wd_get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    wd_register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!wd_get_instance || !wd_register_callback) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "certinext: mod_watchdog is not available; no agent in httpd and "
                     "indexes refresh on handshakes only");
        return OK;
    }
    /* every child: keep the certificate index fresh, off the handshake path */
    if (wd_get_instance(&wd, "certinext-refresh", 0, 0, pconf) == APR_SUCCESS) {
        wd_register_callback(wd, CERTINEXT_REFRESH_INTERVAL, NULL, certinext_refresh_callback);
    }
    /* every child of a central store: the host's mirror, off the handshake path */
    if (cin_core_is_central(certinext_core) &&
        wd_get_instance(&wd, "certinext-mirror", 0, 0, pconf) == APR_SUCCESS) {
        wd_register_callback(wd, CERTINEXT_REFRESH_INTERVAL, NULL, certinext_mirror_callback);
    }
    /* one child at a time: the issuance agent (also guarded by the store's leases) */
    if (mc->agent == 1) {
        if (wd_get_instance(&wd, "certinext-agent", 0, 1, pconf) != APR_SUCCESS ||
            wd_register_callback(wd, CERTINEXT_AGENT_INTERVAL, NULL, certinext_agent_callback) !=
                APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "certinext: the agent watchdog failed");
        }
    }
    return OK;
}

static void certinext_child_init(apr_pool_t *pchild, server_rec *s)
{
    cin_tls *tls = NULL;
    char *err = NULL;

    if (!certinext_core) {
        return;
    }
    /* registered first, so it runs even when the index cannot be made */
    apr_pool_cleanup_register(pchild, NULL, certinext_child_cleanup, apr_pool_cleanup_null);
    if (cin_tls_create(certinext_core, certinext_cache_entries, &tls, &err) != CIN_OK) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "certinext: %s; this child serves fallback certificates only",
                     err ? err : "?");
        free(err);
        return;
    }
    /* the refresh watchdog may already run (mod_watchdog's child_init may come first);
     * no lock here: prefork's SIGTERM handler may run the child's cleanup */
    __atomic_store_n(&certinext_tls, tls, __ATOMIC_RELEASE);
}

/* ---- requests -------------------------------------------------------------------------- */

static const char *certinext_header(void *ud, const char *name)
{
    return apr_table_get(((request_rec *)ud)->headers_in, name);
}

static void certinext_fill_request(request_rec *r, cin_request *req, const char *path)
{
    memset(req, 0, sizeof(*req));
    req->method = r->method;
    req->path = path;
    req->query = r->args;
    req->header = certinext_header;
    req->header_ud = r;
    req->peer = r->useragent_ip;
    req->tls = ap_ssl_conn_is_ssl(r->connection);
    if (req->tls) {
        /* a client certificate only when mod_ssl verified it: "SUCCESS",
         * never "GENEROUS" (SSLVerifyClient optional_no_ca) */
        const char *v =
            ap_ssl_var_lookup(r->pool, r->server, r->connection, r, "SSL_CLIENT_VERIFY");
        if (v && !strcmp(v, "SUCCESS")) {
            req->client_cert_pem =
                ap_ssl_var_lookup(r->pool, r->server, r->connection, r, "SSL_CLIENT_CERT");
        }
    }
}

static int certinext_write(request_rec *r, cin_response *resp)
{
    size_t i;

    r->status = resp->status;
    if (resp->content_type) {
        ap_set_content_type(r, apr_pstrdup(r->pool, resp->content_type));
    }
    for (i = 0; i < resp->nheaders; i++) {
        apr_table_add(r->headers_out, resp->header_names[i], resp->header_values[i]);
    }
    if (resp->status != 204 && resp->status != 304) {
        ap_set_content_length(r, (apr_off_t)resp->body_len);
        if (resp->body_len && !r->header_only) {
            ap_rwrite(resp->body, (int)resp->body_len, r);
        }
    }
    cin_response_clear(resp);
    return OK;
}

/* ACME and pki-validation answers, before any translation or handler. */
static int certinext_post_read_request(request_rec *r)
{
    cin_request req;
    cin_response resp;

    if (!certinext_core || !r->parsed_uri.path ||
        strncmp(r->parsed_uri.path, "/.well-known/", 13) != 0 ||
        !cin_http_is_challenge_path(r->parsed_uri.path)) {
        return DECLINED;
    }
    certinext_fill_request(r, &req, r->parsed_uri.path);
    cin_http_handle(certinext_core, &req, &resp);
    if (resp.declined) {
        cin_response_clear(&resp);
        return DECLINED; /* not ours: a certbot webroot or another CA's file */
    }
    certinext_write(r, &resp);
    return DONE;
}

/* The whole body, or a 413 problem when it is over the limit. */
static int certinext_read_body(request_rec *r, size_t limit, char **body, size_t *len)
{
    apr_size_t cap = 8192;
    long n;
    int rc;

    *body = NULL;
    *len = 0;
    rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    if (rc != OK) {
        return rc;
    }
    if (!ap_should_client_block(r)) {
        return OK;
    }
    *body = apr_palloc(r->pool, cap);
    for (;;) {
        if (*len + 4096 > cap) {
            char *more = apr_palloc(r->pool, cap * 2);
            memcpy(more, *body, *len);
            *body = more;
            cap *= 2;
        }
        n = ap_get_client_block(r, *body + *len, 4096);
        if (n < 0) {
            return HTTP_BAD_REQUEST;
        }
        if (n == 0) {
            break;
        }
        *len += (size_t)n;
        if (*len > limit) {
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }
    return OK;
}

/* A body over the limit: the contract's problem (an ACME problem under <mount>acme/). */
static int certinext_too_large(request_rec *r, const char *path)
{
    cin_response resp;

    (void)cin_http_refusal(path, 413, cin_core_body_limit(certinext_core), &resp);
    r->connection->keepalive = AP_CONN_CLOSE;
    return certinext_write(r, &resp);
}

static int certinext_handler(request_rec *r)
{
    core_dir_config *core;
    const char *mount, *path, *cl;
    size_t mlen, limit;
    cin_request req;
    cin_response resp;
    char *body = NULL;
    size_t blen = 0;
    int rc;

    if (!r->handler || strcmp(r->handler, "certinext")) {
        return DECLINED;
    }
    if (!certinext_core) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "certinext: SetHandler certinext needs CertInextStore in the server config");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* The path relative to the <Location>: "/certinext/api/v1/x" -> "/api/v1/x".
     * The innermost section's path is core's per-dir "d" (our own per-dir
     * configuration only exists where one of our directives is used). */
    core = ap_get_core_module_config(r->per_dir_config);
    mount = core && core->d ? core->d : "";
    mlen = strlen(mount);
    while (mlen && mount[mlen - 1] == '/') {
        mlen--;
    }
    if (strncmp(r->uri, mount, mlen) != 0 || (r->uri[mlen] && r->uri[mlen] != '/')) {
        /* a <LocationMatch> or the like: find the API, else the page file */
        const char *api = strstr(r->uri, "/api/v1");
        const char *slash = strrchr(r->uri, '/');
        mlen = api ? (size_t)(api - r->uri) : slash ? (size_t)(slash - r->uri) : 0;
    }
    path = r->uri + mlen;
    if (!*path) {
        /* "/certinext" -> "/certinext/" so that the page's relative URLs work */
        apr_table_setn(r->headers_out, "Location",
                       apr_pstrcat(r->pool, r->uri, "/", r->args ? "?" : "", r->args, NULL));
        return HTTP_MOVED_PERMANENTLY;
    }
    limit = cin_core_body_limit(certinext_core);
    cl = apr_table_get(r->headers_in, "Content-Length");
    if (cl && apr_atoi64(cl) > (apr_int64_t)limit) {
        return certinext_too_large(r, path);
    }
    rc = certinext_read_body(r, limit, &body, &blen);
    if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return certinext_too_large(r, path);
    }
    if (rc != OK && cin_http_refusal(path, rc, limit, &resp) == 0) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return certinext_write(r, &resp);
    }
    if (rc != OK) {
        /* httpd's own refusal (a malformed chunked body, no length...), as
         * the problem document the core gives that status */
        certinext_fill_request(r, &req, apr_psprintf(r->pool, "/_error/%d", rc));
        cin_http_handle(certinext_core, &req, &resp);
        r->connection->keepalive = AP_CONN_CLOSE;
        return certinext_write(r, &resp);
    }
    certinext_fill_request(r, &req, path);
    req.mount = apr_pstrndup(r->pool, r->uri, mlen); /* for the ACME server's URLs */
    req.body = body;
    req.body_len = blen;
    cin_http_handle(certinext_core, &req, &resp);
    if (resp.declined) {
        cin_response_clear(&resp);
        return DECLINED;
    }
    return certinext_write(r, &resp);
}

static void certinext_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(certinext_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(certinext_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(certinext_post_read_request, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(certinext_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ssl, init_server, certinext_init_server, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_protocol_propose(certinext_protocol_propose, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_protocol_switch(certinext_protocol_switch, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_protocol_get(certinext_protocol_get, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_ssl_answer_challenge(certinext_answer_challenge, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(certinext) = {STANDARD20_MODULE_STUFF,
                                NULL,                      /* create per-dir config */
                                NULL,                      /* merge per-dir config */
                                certinext_create_srv_conf, /* create per-server config */
                                certinext_merge_srv_conf,  /* merge per-server config */
                                certinext_cmds,            /* command table */
                                certinext_register_hooks,
                                0};
