/*
 * ngx_http_certinext_module - certinext for NGINX.
 *
 * Thin glue over the certinext core (common/): it copies requests into the
 * core's cin_request and the core's answers back out, installs the core's
 * certificate callback on the SSL contexts of servers with `certinext_ssl
 * on`, keeps each worker's certificate index fresh from a timer, and runs
 * the issuance agent in a thread of worker 0.
 *
 * Directives:
 *   certinext_store PATH;        http   the control store (PATH.key beside it)
 *   certinext;                   location  API and web page mounted here
 *   certinext_ssl on|off;        server serve store certificates by SNI
 *   certinext_agent on|off;      http   run the issuance agent in one worker
 *   certinext_cache_size N;      http   parsed certificates kept per worker
 *                                       (default: a quarter of the host's
 *                                       memory over the workers)
 *   certinext_shared_cache SIZE; http   the host's shared cache of what misses read (256m; 0: off)
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "cin_agent.h"
#include "cin_ca.h"
#include "cin_core.h"
#include "cin_http.h"
#include "cin_metrics.h"
#include "cin_mirror.h"
#include "cin_tls.h"

/* config refuses such an nginx at configure time; this says it to a build
 * that bypassed config */
#if !(NGX_THREADS)
#error ngx_http_certinext_module needs nginx configured --with-threads
#endif
#if !(NGX_HTTP_SSL)
#error ngx_http_certinext_module needs nginx configured --with-http_ssl_module
#endif

#define CERTINEXT_REFRESH_MS 200 /* index refresh timer */
#define CERTINEXT_AGENT_MS   200 /* agent poll interval */

typedef struct {
    ngx_str_t               store;
    ngx_str_t               key_file;
    ngx_str_t               state_dir;
    /* every certinext_metrics_allow address, space-separated */
    ngx_str_t               metrics_allow;
    /* issue 14: the dns-01 hook, only ever from this file */
    ngx_str_t               dns_hook;
    ngx_flag_t              agent;
    ngx_int_t               cache_size;
    size_t                  shared_cache;
    cin_core               *core;
    ngx_pool_cleanup_t     *core_cleanup;
    cin_tls                *tls;        /* this worker's (init_process) */
    ngx_event_t             refresh;
    pthread_t               agent_thread;
    int                     agent_running;
    volatile int            agent_stop;
    /* a central store: keeps this host's mirror in step */
    pthread_t               syncer_thread;
    int                     syncer_running;
} ngx_http_certinext_main_conf_t;

typedef struct {
    ngx_flag_t ssl;
} ngx_http_certinext_srv_conf_t;

typedef struct {
    ngx_flag_t         enable;
    ngx_thread_pool_t *thread_pool;
} ngx_http_certinext_loc_conf_t;

/* What crosses into the thread pool: plain C data only. */
typedef struct {
    ngx_http_request_t *request;
    cin_core           *core;
    cin_request         req;
    cin_response        resp;
    char              **hnames;
    char              **hvalues;
    ngx_uint_t          nheaders;
} ngx_http_certinext_task_ctx_t;

static void *ngx_http_certinext_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_certinext_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_certinext_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_certinext_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_certinext_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_certinext_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_certinext(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_certinext_metrics_allow(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_certinext_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_certinext_init_process(ngx_cycle_t *cycle);
static void ngx_http_certinext_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_certinext_challenge_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_certinext_content_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_certinext_error_pages(ngx_conf_t *cf,
    ngx_http_core_loc_conf_t *clcf);

/* parsed certificates kept per worker: a number (no k or m suffix), bounded */
static char *ngx_http_certinext_check_cache_size(ngx_conf_t *cf, void *post,
    void *data);

static char *ngx_http_certinext_check_shared_cache(ngx_conf_t *cf, void *post,
    void *data);

static ngx_conf_post_t  ngx_http_certinext_shared_cache_post = {
    ngx_http_certinext_check_shared_cache
};

static ngx_conf_post_t  ngx_http_certinext_cache_size_post = {
    ngx_http_certinext_check_cache_size
};

static ngx_command_t  ngx_http_certinext_commands[] = {

    { ngx_string("certinext_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_certinext_main_conf_t, key_file),
      NULL },

    { ngx_string("certinext_state_dir"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_certinext_main_conf_t, state_dir),
      NULL },

    { ngx_string("certinext_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_certinext_main_conf_t, store),
      NULL },

    { ngx_string("certinext"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_certinext,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certinext_ssl"),
      NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_certinext_srv_conf_t, ssl),
      NULL },

    { ngx_string("certinext_agent"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_certinext_main_conf_t, agent),
      NULL },

    { ngx_string("certinext_metrics_allow"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_certinext_metrics_allow,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certinext_dns_hook"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_certinext_main_conf_t, dns_hook),
      NULL },

    { ngx_string("certinext_cache_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_certinext_main_conf_t, cache_size),
      &ngx_http_certinext_cache_size_post },

    { ngx_string("certinext_shared_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_certinext_main_conf_t, shared_cache),
      &ngx_http_certinext_shared_cache_post },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_certinext_module_ctx = {
    NULL,                                 /* preconfiguration */
    ngx_http_certinext_postconfiguration, /* postconfiguration */
    ngx_http_certinext_create_main_conf,  /* create main configuration */
    ngx_http_certinext_init_main_conf,    /* init main configuration */
    ngx_http_certinext_create_srv_conf,   /* create server configuration */
    ngx_http_certinext_merge_srv_conf,    /* merge server configuration */
    ngx_http_certinext_create_loc_conf,   /* create location configuration */
    ngx_http_certinext_merge_loc_conf     /* merge location configuration */
};

ngx_module_t  ngx_http_certinext_module = {
    NGX_MODULE_V1,
    &ngx_http_certinext_module_ctx,      /* module context */
    ngx_http_certinext_commands,         /* module directives */
    NGX_HTTP_MODULE,                     /* module type */
    NULL,                                /* init master */
    NULL,                                /* init module */
    ngx_http_certinext_init_process,     /* init process */
    NULL,                                /* init thread */
    NULL,                                /* exit thread */
    ngx_http_certinext_exit_process,     /* exit process */
    NULL,                                /* exit master */
    NGX_MODULE_V1_PADDING
};

static pthread_t ngx_http_certinext_event_thread;

/* ---- services handed to the core ---- */


static void
ngx_http_certinext_log(void *ud, int level, const char *msg)
{
    static const ngx_uint_t   levels[] = {
        NGX_LOG_ERR, NGX_LOG_WARN, NGX_LOG_INFO, NGX_LOG_DEBUG
    };
    static const char *const  names[] = { "error", "warn", "info", "debug" };

    (void) ud;
    if (level < 0 || level > 3) {
        level = 0;
    }
    if (ngx_cycle && ngx_cycle->log
        && pthread_equal(pthread_self(), ngx_http_certinext_event_thread))
    {
        ngx_log_error(levels[level], ngx_cycle->log, 0, "certinext: %s", msg);
        return;
    }
    /* the agent thread may not call nginx: stderr is the error log in a
     * worker */
    if (level <= CIN_LOG_INFO) {
        dprintf(2, "[%s] %d: certinext agent: %s\n", names[level],
            (int) getpid(), msg);
    }
}

static const cin_services ngx_http_certinext_services = {
    ngx_http_certinext_log, NULL, NULL
};

/* ---- configuration ---- */


static void *
ngx_http_certinext_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_certinext_main_conf_t *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_certinext_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }
    mcf->agent = NGX_CONF_UNSET;
    mcf->cache_size = NGX_CONF_UNSET;
    mcf->shared_cache = NGX_CONF_UNSET_SIZE;
    return mcf;
}


static char *
ngx_http_certinext_check_cache_size(ngx_conf_t *cf, void *post, void *data)
{
    ngx_int_t *np = data;

    if (*np < 1 || *np > CIN_TLS_CACHE_MAX) {
        return "must be a number of certificates from 1 to 10000000";
    }
    return NGX_CONF_OK;
}


static char *
ngx_http_certinext_check_shared_cache(ngx_conf_t *cf, void *post, void *data)
{
    size_t *sp = data;

    if (*sp != 0
        && (*sp < CIN_SHARED_CACHE_MIN || *sp > CIN_SHARED_CACHE_MAX))
    {
        return "must be 0 (off) or a size from 64k to 65536m (64 GiB)";
    }
    return NGX_CONF_OK;
}


static void
ngx_http_certinext_core_cleanup(void *data)
{
    cin_core_free(data);
}


static char *
ngx_http_certinext_cstr_conf(ngx_conf_t *cf, ngx_str_t *s)
{
    char *p;

    if (s->len == 0) {
        return NULL;
    }
    p = ngx_pcalloc(cf->pool, s->len + 1);
    if (p != NULL) {
        ngx_memcpy(p, s->data, s->len);
    }
    return p;
}


static char *
ngx_http_certinext_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_certinext_main_conf_t *mcf = conf;
    ngx_core_conf_t                *ccf;
    ngx_pool_cleanup_t             *cln;
    cin_core_config                 cfg;
    char                           *err = NULL, *path, *shown;

    ngx_conf_init_value(mcf->agent, 0);
    ngx_conf_init_value(mcf->cache_size, 0); /* 0: the core's default */
    ngx_conf_init_size_value(mcf->shared_cache, CIN_SHARED_CACHE_DEFAULT);
    if (mcf->store.len == 0) {
        return NGX_CONF_OK;
    }
    path = ngx_http_certinext_cstr_conf(cf, &mcf->store);
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }
    ngx_memzero(&cfg, sizeof(cfg));
    cfg.store_path = path;
    cfg.key_file = ngx_http_certinext_cstr_conf(cf, &mcf->key_file);
    cfg.state_dir = ngx_http_certinext_cstr_conf(cf, &mcf->state_dir);
    cfg.metrics_allow = ngx_http_certinext_cstr_conf(cf, &mcf->metrics_allow);
    /* the host's mirror belongs to the user the workers run as */
    ccf =
        (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx, ngx_core_module);
    if (ccf != NULL && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        cfg.worker_ids = 1;
        cfg.worker_uid = (unsigned) ccf->user;
        cfg.worker_gid = (unsigned) ccf->group;
    }
    /* the parent reads the key file now, before workers drop privileges */
    cfg.load_kek = 1;
    /* made here, in the master, so that every worker shares it */
    cfg.shared_cache = mcf->shared_cache;
    if (cin_core_create(&cfg, &ngx_http_certinext_services, &mcf->core, &err)
        != CIN_OK)
    {
        shown = cin_store_display_name(path);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "certinext_store \"%s\": %s",
            shown ? shown : "(the store)", err ? err : "cannot be used");
        free(shown);
        free(err);
        return NGX_CONF_ERROR;
    }
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        cin_core_free(mcf->core);
        return NGX_CONF_ERROR;
    }
    cln->handler = ngx_http_certinext_core_cleanup;
    cln->data = mcf->core;
    mcf->core_cleanup = cln;
    return NGX_CONF_OK;
}


static void *
ngx_http_certinext_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_certinext_srv_conf_t *scf;

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_http_certinext_srv_conf_t));
    if (scf == NULL) {
        return NULL;
    }
    scf->ssl = NGX_CONF_UNSET;
    return scf;
}


static char *
ngx_http_certinext_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_certinext_srv_conf_t *prev = parent;
    ngx_http_certinext_srv_conf_t *conf = child;

    ngx_conf_merge_value(conf->ssl, prev->ssl, 0);
    return NGX_CONF_OK;
}


static void *
ngx_http_certinext_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_certinext_loc_conf_t *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_certinext_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }
    lcf->enable = NGX_CONF_UNSET;
    return lcf;
}


static char *
ngx_http_certinext_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_certinext_loc_conf_t *prev = parent;
    ngx_http_certinext_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    if (conf->thread_pool == NULL) {
        conf->thread_pool = prev->thread_pool;
    }
    return NGX_CONF_OK;
}


/*
 * Every error under the mount is a problem document: nginx's own refusals in
 * this location (a body over the limit, a malformed chunked body, a timeout)
 * are redirected to "<location>_error/STATUS", which the core answers.
 */
static ngx_int_t
ngx_http_certinext_error_pages(ngx_conf_t *cf, ngx_http_core_loc_conf_t *clcf)
{
    static const ngx_int_t statuses[] = {
        400, 408, 411, 413, 414, 494, 500, 502, 503, 504
    };
    ngx_http_err_page_t   *err;
    ngx_uint_t             i;
    u_char                *p;
    size_t                 len;

    if (clcf->error_pages == NULL) {
        clcf->error_pages =
            ngx_array_create(cf->pool, 10, sizeof(ngx_http_err_page_t));
        if (clcf->error_pages == NULL) {
            return NGX_ERROR;
        }
    }
    for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        err = ngx_array_push(clcf->error_pages);
        if (err == NULL) {
            return NGX_ERROR;
        }
        ngx_memzero(err, sizeof(*err));
        len = clcf->name.len + sizeof("/_error/000") - 1;
        p = ngx_pnalloc(cf->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }
        err->status = statuses[i];
        err->overwrite = -1; /* keep the status */
        err->value.value.data = p;
        p = ngx_cpymem(p, clcf->name.data, clcf->name.len);
        if (clcf->name.len == 0 || clcf->name.data[clcf->name.len - 1] != '/') {
            *p++ = '/';
        }
        p = ngx_sprintf(p, "_error/%03i", statuses[i]);
        err->value.value.len = p - err->value.value.data;
        ngx_str_null(&err->args);
    }
    return NGX_OK;
}


/* certinext_metrics_allow ADDRESS|CIDR ...; (repeatable): who may scrape
 * <mount>metrics without a token. */
static char *
ngx_http_certinext_metrics_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certinext_main_conf_t *mcf = conf;
    ngx_str_t                      *value = cf->args->elts;
    ngx_uint_t                      i;
    size_t                          len = mcf->metrics_allow.len;
    u_char                         *p, *buf;
    char                           *err = NULL, *one;

    (void) cmd;
    for (i = 1; i < cf->args->nelts; i++) {
        one = ngx_http_certinext_cstr_conf(cf, &value[i]);
        if (one == NULL || cin_metrics_allow_valid(one, &err) != CIN_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                "certinext_metrics_allow: %s", err ? err : "out of memory");
            free(err);
            return NGX_CONF_ERROR;
        }
        len += value[i].len + 1;
    }
    buf = ngx_pnalloc(cf->pool, len);
    if (buf == NULL) {
        return NGX_CONF_ERROR;
    }
    p = ngx_cpymem(buf, mcf->metrics_allow.data, mcf->metrics_allow.len);
    for (i = 1; i < cf->args->nelts; i++) {
        if (p != buf) {
            *p++ = ' ';
        }
        p = ngx_cpymem(p, value[i].data, value[i].len);
    }
    mcf->metrics_allow.data = buf;
    mcf->metrics_allow.len = p - buf;
    return NGX_CONF_OK;
}


static char *
ngx_http_certinext(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certinext_loc_conf_t *lcf = conf;
    ngx_http_core_loc_conf_t      *clcf;

    if (lcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }
    lcf->enable = 1;
    /* API calls may wait on the store or hash a password: never in the event
     * loop */
    lcf->thread_pool = ngx_thread_pool_add(cf, NULL);
    if (lcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_certinext_content_handler;
    /* the body limit of API.md, and nginx's own refusals as problem
     * documents */
    if (clcf->client_max_body_size == NGX_CONF_UNSET) {
        clcf->client_max_body_size = CIN_DEFAULT_BODY_LIMIT;
    }
    if (ngx_http_certinext_error_pages(cf, clcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    /* "/certinext" -> 301 "/certinext/", as for proxy_pass locations */
    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] == '/') {
        clcf->auto_redirect = 1;
    }
    return NGX_CONF_OK;
}

/* nginx's own protocol list (ngx_http_ssl_module.c, NGX_HTTP_ALPN_PROTOS) */
#define CERTINEXT_NGX_ALPN_PROTOS "\x08http/1.1\x08http/1.0\x08http/0.9"


/*
 * The ALPN callback of every certinext_ssl context.  A client offering only
 * acme-tls/1 for a name with a pending tls-alpn-01 challenge gets acme-tls/1
 * and the challenge certificate; every other client gets exactly nginx's
 * choice (ngx_http_ssl_alpn_select: h2 first where the listen has "http2",
 * then http/1.1, 1.0, 0.9; a fatal alert when nothing matches).  nginx's
 * callback is static, and OpenSSL 3.0 has no getter to wrap it by.
 */
static int
ngx_http_certinext_alpn_select(ngx_ssl_conn_t *ssl_conn,
    const unsigned char **out, unsigned char *outlen, const unsigned char *in,
    unsigned int inlen, void *arg)
{
    ngx_http_certinext_main_conf_t *mcf = arg;
    unsigned int                    srvlen;
    unsigned char                  *srv;
#if (NGX_HTTP_V2)
    ngx_connection_t               *c = ngx_ssl_get_connection(ssl_conn);
    ngx_http_connection_t          *hc = c->data;
#endif

    if (cin_tls_alpn_challenge(mcf->core, ssl_conn, in, inlen)) {
        *out = in + 1; /* the client's own "acme-tls/1" */
        *outlen = in[0];
        return SSL_TLSEXT_ERR_OK;
    }
#if (NGX_HTTP_V2)
    if (hc->addr_conf->http2) {
        srv =
            (unsigned char *) NGX_HTTP_V2_ALPN_PROTO CERTINEXT_NGX_ALPN_PROTOS;
        srvlen = sizeof(NGX_HTTP_V2_ALPN_PROTO CERTINEXT_NGX_ALPN_PROTOS) - 1;
    } else
#endif
    {
        srv = (unsigned char *) CERTINEXT_NGX_ALPN_PROTOS;
        srvlen = sizeof(CERTINEXT_NGX_ALPN_PROTOS) - 1;
    }
    if (SSL_select_next_proto((unsigned char **) out, outlen, srv, srvlen,
                              in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
    {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}


/* The dns-01 hook: named only here, in root-owned configuration; checked
 * now (root-owned, not group/other writable), cleared when not named. */
static ngx_int_t
ngx_http_certinext_dns_hook(ngx_conf_t *cf, ngx_http_certinext_main_conf_t *mcf)
{
    char *path = NULL, *err = NULL;
    int   rc;

    if (mcf->dns_hook.len) {
        path = ngx_pcalloc(cf->pool, mcf->dns_hook.len + 1);
        if (path == NULL) {
            return NGX_ERROR;
        }
        ngx_memcpy(path, mcf->dns_hook.data, mcf->dns_hook.len);
    }
    rc = cin_dns_hook_set(path, &err);
    if (rc != CIN_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "certinext_dns_hook: %s",
            err ? err : "cannot be used");
        free(err);
        return NGX_ERROR;
    }
    return NGX_OK;
}


static ngx_int_t
ngx_http_certinext_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_certinext_main_conf_t *mcf;
    ngx_http_certinext_srv_conf_t  *scf;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_core_srv_conf_t      **cscfp;
    ngx_http_ssl_srv_conf_t        *sscf;
    ngx_http_conf_ctx_t            *ctx;
    ngx_http_handler_pt            *h;
    ngx_uint_t                      s;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_certinext_module);
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    if (ngx_http_certinext_dns_hook(cf, mcf) != NGX_OK) {
        return NGX_ERROR;
    }
    cscfp = cmcf->servers.elts;
    for (s = 0; s < cmcf->servers.nelts; s++) {
        ctx = cscfp[s]->ctx;
        scf = ctx->srv_conf[ngx_http_certinext_module.ctx_index];
        if (!scf->ssl) {
            continue;
        }
        if (mcf->core == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                "certinext_ssl needs certinext_store in the http block");
            return NGX_ERROR;
        }
        sscf = ctx->srv_conf[ngx_http_ssl_module.ctx_index];
        if (sscf == NULL || sscf->ssl.ctx == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                "certinext_ssl is on in a server without TLS: configure "
                "\"listen ... ssl\" and a fallback ssl_certificate");
            return NGX_ERROR;
        }
        /* every handshake of this server asks the core for its certificate;
         * without a match the server's own ssl_certificate is served */
        SSL_CTX_set_cert_cb(sscf->ssl.ctx, cin_tls_cert_cb, &mcf->tls);
        /* tls-alpn-01 answered in the handshake, nginx's choice otherwise */
        SSL_CTX_set_alpn_select_cb(sscf->ssl.ctx,
                                   ngx_http_certinext_alpn_select, mcf);
    }
    if (mcf->core == NULL) {
        return NGX_OK;
    }
    /* challenge answers come before location matching, on every server */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_SERVER_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_certinext_challenge_handler;
    return NGX_OK;
}

/* ---- per worker: index, refresh timer, agent ---- */


static void
ngx_http_certinext_refresh_handler(ngx_event_t *ev)
{
    ngx_http_certinext_main_conf_t *mcf = ev->data;

    if (mcf->tls) {
        cin_tls_refresh(mcf->tls);
    }
    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, CERTINEXT_REFRESH_MS);
    }
}


static void *
ngx_http_certinext_agent_main(void *arg)
{
    ngx_http_certinext_main_conf_t *mcf = arg;
    char                            holder[160];
    struct timespec                 ts = { 0, CERTINEXT_AGENT_MS * 1000000L };
    cin_store                      *st;

    cin_agent_holder(cin_core_host_id(mcf->core), holder, sizeof(holder));
    while (!mcf->agent_stop) {
        st = cin_core_store(mcf->core); /* this thread's own connection */
        if (st && cin_agent_work_due(st)) {
            cin_agent_run_once(st, holder, NULL);
        }
        nanosleep(&ts, NULL);
    }
    return NULL;
}


/* A central store: every worker offers to keep the host's mirror in step;
 * one of the host's server processes does (cin_mirror.h). */
static void *
ngx_http_certinext_syncer_main(void *arg)
{
    ngx_http_certinext_main_conf_t *mcf = arg;

    while (!mcf->agent_stop) {
        cin_mirror_step(mcf->core, 500, NULL);
    }
    return NULL;
}


static ngx_int_t
ngx_http_certinext_init_process(ngx_cycle_t *cycle)
{

    ngx_http_certinext_main_conf_t *mcf;
    ngx_core_conf_t                *ccf;
    sigset_t                        all, old;
    char                           *err = NULL;
    size_t                          cache_size;
    ngx_uint_t                      workers;
    char                            why[160];

    ngx_http_certinext_event_thread = pthread_self();
    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_certinext_module);
    if (mcf == NULL || mcf->core == NULL) {
        return NGX_OK;
    }
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
        /* the cache manager and loader (proxy_cache_path) serve no
         * handshake and run no agent: their ngx_worker is 0 too */
        return NGX_OK;
    }
    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    workers = ngx_process == NGX_PROCESS_WORKER && ccf != NULL
              && ccf->worker_processes > 0
              ? (ngx_uint_t) ccf->worker_processes : 1;
    cache_size = (size_t) mcf->cache_size;
    if (cache_size == 0) {
        /* a share of the host's memory, divided among the workers */
        cache_size = cin_tls_default_cache((unsigned) workers, why,
                                           sizeof(why));
    } else {
        ngx_cpystrn((u_char *) why, (u_char *) "certinext_cache_size",
                    sizeof(why));
    }
    if (ngx_worker == 0) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
            "certinext: each worker keeps up to %uz parsed certificates (%s)",
            cache_size, why);
    }
    if (cin_tls_create(mcf->core, cache_size, &mcf->tls, &err)
        != CIN_OK)
    {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
            "certinext: %s; serving fallback certificates only",
            err ? err : "?");
        free(err);
        mcf->tls = NULL;
    }
    mcf->refresh.handler = ngx_http_certinext_refresh_handler;
    mcf->refresh.data = mcf;
    mcf->refresh.log = cycle->log;
    mcf->refresh.cancelable = 1;
    ngx_add_timer(&mcf->refresh, CERTINEXT_REFRESH_MS);
    mcf->agent_stop = 0;
    if (cin_core_is_central(mcf->core)) {
        /* like the agent, the syncer takes no signal meant for nginx */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        if (pthread_create(&mcf->syncer_thread, NULL,
                           ngx_http_certinext_syncer_main, mcf)
            == 0)
        {
            mcf->syncer_running = 1;
        } else {
            ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                "certinext: syncer not started");
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (mcf->agent && ngx_worker == 0) {

        /* the thread runs only core code; it takes no signal meant for nginx */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        mcf->agent_stop = 0;
        if (pthread_create(&mcf->agent_thread, NULL,
                           ngx_http_certinext_agent_main, mcf)
            == 0)
        {
            mcf->agent_running = 1;
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                "certinext: agent started in worker 0");
        } else {
            ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                "certinext: agent not started");
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return NGX_OK;
}


static void
ngx_http_certinext_exit_process(ngx_cycle_t *cycle)
{
    int                             left;
    ngx_http_certinext_main_conf_t *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_certinext_module);
    if (mcf == NULL) {
        return;
    }
    mcf->agent_stop = 1;
    if (mcf->agent_running) {
        pthread_join(mcf->agent_thread, NULL);
        mcf->agent_running = 0;
    }
    if (mcf->syncer_running) {
        pthread_join(mcf->syncer_thread, NULL);
        mcf->syncer_running = 0;
        cin_mirror_stop(mcf->core);
    }
    /*
     * The thread pool module has let its threads go (its exit runs before
     * ours) but does not join them: a pool thread may still be closing its
     * store connection and freeing OpenSSL's state for it while this thread
     * goes on to exit(), whose OPENSSL_cleanup() frees what that thread's
     * cleanup reads (a worker died of SIGSEGV there). Wait for them.
     */
    if (mcf->core != NULL) {
        left = cin_core_wait_threads(mcf->core, 2000);
        if (left > 0) {
            /* they still count themselves out in the core: it is left to
             * the process's end, not freed under them */
            if (mcf->core_cleanup != NULL) {
                mcf->core_cleanup->data = NULL;
            }
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                "certinext: %d thread(s) still closing their store "
                "connections at exit", left);
        }
    }
    cin_tls_free(mcf->tls);
    mcf->tls = NULL;
}

/* ---- requests ---- */


static char *
ngx_http_certinext_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    char *p = ngx_pnalloc(pool, s->len + 1);

    if (p == NULL) {
        return NULL;
    }
    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';
    return p;
}


static const char *
ngx_http_certinext_header(void *ud, const char *name)
{
    ngx_http_certinext_task_ctx_t *t = ud;
    ngx_uint_t                     i;

    for (i = 0; i < t->nheaders; i++) {
        if (ngx_strcasecmp((u_char *) t->hnames[i], (u_char *) name) == 0) {
            return t->hvalues[i];
        }
    }
    return NULL;
}


/* Copy everything the core needs out of r (in the event loop). */
static ngx_http_certinext_task_ctx_t *
ngx_http_certinext_make_ctx(ngx_http_request_t *r, cin_core *core,
    const char *path)
{
    ngx_http_certinext_task_ctx_t *t;
    ngx_list_part_t               *part;
    ngx_table_elt_t               *h;
    ngx_uint_t                     i, n = 0;

    t = ngx_pcalloc(r->pool, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }
    t->hnames = ngx_pcalloc(r->pool, (n + 1) * sizeof(char *));
    t->hvalues = ngx_pcalloc(r->pool, (n + 1) * sizeof(char *));
    if (t->hnames == NULL || t->hvalues == NULL) {
        return NULL;
    }
    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            t->hnames[t->nheaders] =
                ngx_http_certinext_cstr(r->pool, &h[i].key);
            t->hvalues[t->nheaders] =
                ngx_http_certinext_cstr(r->pool, &h[i].value);
            if (t->hnames[t->nheaders] == NULL
                || t->hvalues[t->nheaders] == NULL)
            {
                return NULL;
            }
            t->nheaders++;
        }
    }
    t->request = r;
    t->core = core;
    t->req.method = ngx_http_certinext_cstr(r->pool, &r->method_name);
    t->req.path = path;
    t->req.query =
        r->args.len ? ngx_http_certinext_cstr(r->pool, &r->args) : NULL;
    t->req.header = ngx_http_certinext_header;
    t->req.header_ud = t;
    t->req.peer = ngx_http_certinext_cstr(r->pool, &r->connection->addr_text);
#if (NGX_HTTP_SSL)
    t->req.tls = r->connection->ssl != NULL;
    if (r->connection->ssl) {
        ngx_str_t verify, pem;

        /* a client certificate only when nginx verified it: "SUCCESS",
         * never with ssl_verify_client optional_no_ca's failures */
        if (ngx_ssl_get_client_verify(r->connection, r->pool, &verify) == NGX_OK
            && verify.len == 7 && ngx_strncmp(verify.data, "SUCCESS", 7) == 0
            && ngx_ssl_get_raw_certificate(r->connection, r->pool, &pem)
                == NGX_OK
            && pem.len)
        {
            t->req.client_cert_pem = ngx_http_certinext_cstr(r->pool, &pem);
        }
    }
#endif
    if (t->req.method == NULL || t->req.peer == NULL) {
        return NULL;
    }
    return t;
}


static void
ngx_http_certinext_response_cleanup(void *data)
{
    cin_response_clear(data);
}


/* Write the core's response (in the event loop); returns what to finalize
 * with. */
static ngx_int_t
ngx_http_certinext_send(ngx_http_request_t *r, cin_response *resp)
{
    ngx_pool_cleanup_t *cln;
    ngx_table_elt_t    *h;
    ngx_chain_t         out;
    ngx_buf_t          *b;
    ngx_int_t           rc;
    size_t              i;

    /* the response's memory lives until the request's pool goes */
    cln = ngx_pool_cleanup_add(r->pool, sizeof(cin_response));
    if (cln == NULL) {
        cin_response_clear(resp);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_memcpy(cln->data, resp, sizeof(cin_response));
    ngx_memzero(resp, sizeof(cin_response));
    resp = cln->data;
    cln->handler = ngx_http_certinext_response_cleanup;

    r->headers_out.status = resp->status;
    r->headers_out.content_length_n = resp->body_len;
    if (resp->content_type) {
        r->headers_out.content_type.data = (u_char *) resp->content_type;
        r->headers_out.content_type.len = ngx_strlen(resp->content_type);
        r->headers_out.content_type_len = r->headers_out.content_type.len;
    }
    for (i = 0; i < resp->nheaders; i++) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        h->hash = 1;
        h->key.data = (u_char *) resp->header_names[i];
        h->key.len = ngx_strlen(resp->header_names[i]);
        h->value.data = (u_char *) resp->header_values[i];
        h->value.len = ngx_strlen(resp->header_values[i]);
        if (ngx_strcasecmp(h->key.data, (u_char *) "ETag") == 0) {
            r->headers_out.etag = h;
        }
    }
    if (resp->body_len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
        if (resp->status == 204 || resp->status == 304) {
            r->headers_out.content_length_n = -1;
        }
        return ngx_http_send_header(r);
    }
    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->pos = (u_char *) resp->body;
    b->last = b->pos + resp->body_len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    out.buf = b;
    out.next = NULL;
    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }
    return ngx_http_output_filter(r, &out);
}


/* ACME and pki-validation answers, before location matching. */
static ngx_int_t
ngx_http_certinext_challenge_handler(ngx_http_request_t *r)
{
    ngx_http_certinext_main_conf_t *mcf;
    ngx_http_certinext_task_ctx_t  *t;
    static const char               prefix[] = "/.well-known/";
    char                           *path;

    if (r->uri.len <= sizeof(prefix) - 1
        || ngx_strncmp(r->uri.data, prefix, sizeof(prefix) - 1) != 0
        || r != r->main)
    {
        return NGX_DECLINED;
    }
    mcf = ngx_http_get_module_main_conf(r, ngx_http_certinext_module);
    if (mcf->core == NULL) {
        return NGX_DECLINED;
    }
    path = ngx_http_certinext_cstr(r->pool, &r->uri);
    if (path == NULL || !cin_http_is_challenge_path(path)) {
        return NGX_DECLINED;
    }
    t = ngx_http_certinext_make_ctx(r, mcf->core, path);
    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    /* one indexed store read: cheap enough for the event loop */
    cin_http_handle(mcf->core, &t->req, &t->resp);
    if (t->resp.declined) {
        cin_response_clear(&t->resp);
        /* not ours: a certbot webroot or another CA's file */
        return NGX_DECLINED;
    }
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        cin_response_clear(&t->resp);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_certinext_send(r, &t->resp);
}


static void
ngx_http_certinext_thread_handler(void *data, ngx_log_t *log)
{
    ngx_http_certinext_task_ctx_t *t = data;

    (void) log;
    cin_http_handle(t->core, &t->req, &t->resp);
}


static void
ngx_http_certinext_thread_done(ngx_event_t *ev)
{
    ngx_http_certinext_task_ctx_t *t = ev->data;
    ngx_http_request_t            *r = t->request;
    ngx_connection_t              *c = r->connection;

    ngx_http_set_log_request(c->log, r);
    r->main->blocked--;
    r->aio = 0;
    ngx_http_finalize_request(r, ngx_http_certinext_send(r, &t->resp));
    ngx_http_run_posted_requests(c);
}


/* The whole body as one buffer of pool memory (it may have gone to a temp
 * file). */
static ngx_int_t
ngx_http_certinext_body(ngx_http_request_t *r, ngx_http_certinext_task_ctx_t *t)
{
    ngx_chain_t *cl;
    size_t       len = 0;
    ssize_t      n;
    u_char      *p;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }
    if (len == 0) {
        return NGX_OK;
    }
    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }
    t->req.body = (const char *) p;
    t->req.body_len = len;
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            n = ngx_read_file(cl->buf->file, p,
                (size_t) (cl->buf->file_last - cl->buf->file_pos),
                cl->buf->file_pos);
            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }
            p += n;
        } else {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }
    return NGX_OK;
}


static void
ngx_http_certinext_body_handler(ngx_http_request_t *r)
{
    ngx_http_certinext_main_conf_t *mcf;
    ngx_http_certinext_loc_conf_t  *lcf;
    ngx_http_certinext_task_ctx_t  *t, *tc;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_thread_task_t              *task;
    char                           *path;
    size_t                          skip;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_certinext_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_certinext_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* the path relative to the mount: "/certinext/api/v1/x" -> "/api/v1/x" */
    skip = clcf->name.len;
    if (skip && clcf->name.data[skip - 1] == '/') {
        skip--;
    }
    if (r->uri.len < skip) {
        skip = r->uri.len;
    }
    if (r->uri.len == skip && skip > 0) {
        /* "/certinext" -> "/certinext/" so that the page's relative URLs
         * work */
        ngx_table_elt_t *loc = ngx_list_push(&r->headers_out.headers);
        u_char          *p;

        if (loc == NULL || (p = ngx_pnalloc(r->pool, r->uri.len + 1)) == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
        ngx_memcpy(p, r->uri.data, r->uri.len);
        p[r->uri.len] = '/';
        loc->hash = 1;
        ngx_str_set(&loc->key, "Location");
        loc->value.data = p;
        loc->value.len = r->uri.len + 1;
        r->headers_out.location = loc;
        ngx_http_finalize_request(r, NGX_HTTP_MOVED_PERMANENTLY);
        return;
    }
    path = ngx_pnalloc(r->pool, r->uri.len - skip + 1);
    if (path == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    ngx_memcpy(path, r->uri.data + skip, r->uri.len - skip);
    path[r->uri.len - skip] = '\0';

    t = ngx_http_certinext_make_ctx(r, mcf->core, path);
    if (t != NULL) {
        /* the mount, for the absolute URLs of the ACME server */
        t->req.mount =
            ngx_http_certinext_cstr(r->pool, &(ngx_str_t){ skip, r->uri.data });
    }
    if (t == NULL || ngx_http_certinext_body(r, t) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    task =
        ngx_thread_task_alloc(r->pool, sizeof(ngx_http_certinext_task_ctx_t));
    if (task == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    tc = task->ctx;
    ngx_memcpy(tc, t, sizeof(*t));
    tc->req.header_ud = tc;
    task->handler = ngx_http_certinext_thread_handler;
    task->event.data = tc;
    task->event.handler = ngx_http_certinext_thread_done;
    if (ngx_thread_task_post(lcf->thread_pool, task) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }
    r->main->blocked++;
    r->aio = 1;
}


/* The mount-relative path of uri (up to its query), in r's pool. */
static char *
ngx_http_certinext_rel_path(ngx_http_request_t *r, ngx_str_t *uri)
{
    ngx_http_core_loc_conf_t  *clcf;
    size_t                     skip, len;
    char                      *path;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    skip = clcf->name.len;
    if (skip && clcf->name.data[skip - 1] == '/') {
        skip--;
    }
    for (len = 0; len < uri->len && uri->data[len] != '?'; len++) {
        /* the path ends at the query */
    }
    if (len < skip) {
        skip = len;
    }
    path = ngx_pnalloc(r->pool, len - skip + 1);
    if (path == NULL) {
        return NULL;
    }
    if (len > skip) {
        /* an empty raw URI (a request refused before parsing) has no data */
        ngx_memcpy(path, uri->data + skip, len - skip);
    }
    path[len - skip] = '\0';
    return path;
}


/* Is r the internal redirect of an error_page to "<location>_error/NNN"? */
static ngx_int_t
ngx_http_certinext_is_error_page(ngx_http_request_t *r)
{
    ngx_http_core_loc_conf_t *clcf;
    size_t                    skip;

    if (!r->internal) {
        return 0;
    }
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    skip = clcf->name.len;
    if (skip && clcf->name.data[skip - 1] == '/') {
        skip--;
    }
    return r->uri.len > skip + sizeof("/_error/") - 1
           && ngx_strncmp(r->uri.data + skip, "/_error/",
                          sizeof("/_error/") - 1)
              == 0;
}


static ngx_int_t
ngx_http_certinext_error_page(ngx_http_request_t *r,
    ngx_http_certinext_main_conf_t *mcf)
{
    ngx_http_certinext_task_ctx_t *t;
    ngx_http_core_loc_conf_t      *clcf;
    char                          *path, *orig;
    size_t                         skip;
    ngx_int_t                      status;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    skip = clcf->name.len;
    if (skip && clcf->name.data[skip - 1] == '/') {
        skip--;
    }
    path = ngx_pnalloc(r->pool, r->uri.len - skip + 1);
    if (path == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_memcpy(path, r->uri.data + skip, r->uri.len - skip);
    path[r->uri.len - skip] = '\0';
    t = ngx_http_certinext_make_ctx(r, mcf->core, path);
    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    (void) ngx_http_discard_request_body(r);

    /* the request as it came (an internal redirect keeps its raw URI):
     * under <mount>acme/ the refusal is an ACME problem */
    orig = ngx_http_certinext_rel_path(r, &r->unparsed_uri);
    status = ngx_atoi(r->uri.data + r->uri.len - 3, 3);
    if (orig != NULL && status != NGX_ERROR
        && cin_http_refusal(orig, (int) status,
                            cin_core_body_limit(mcf->core), &t->resp)
           == 0)
    {
        r->keepalive = 0;
        return ngx_http_certinext_send(r, &t->resp);
    }
    /* no store and no network: a fixed answer, in the event loop */
    cin_http_handle(mcf->core, &t->req, &t->resp);
    r->keepalive = 0;
    return ngx_http_certinext_send(r, &t->resp);
}


static ngx_int_t
ngx_http_certinext_content_handler(ngx_http_request_t *r)
{
    ngx_http_certinext_main_conf_t *mcf;
    ngx_int_t                       rc;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_certinext_module);
    if (mcf->core == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
            "certinext: the location needs certinext_store in the http block");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ngx_http_certinext_is_error_page(r)) {
        /* a redirect from nginx's own refusal: the body is gone already */
        return ngx_http_certinext_error_page(r, mcf);
    }
    if (r->headers_in.content_length_n
        > (off_t) cin_core_body_limit(mcf->core))
    {
        cin_response   resp;
        char          *path;

        /* refuse early, with the contract's problem (an ACME problem under
         * <mount>acme/), without reading the body */
        path = ngx_http_certinext_rel_path(r, &r->uri);
        if (path == NULL || ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        (void) cin_http_refusal(path, 413, cin_core_body_limit(mcf->core),
                                &resp);
        return ngx_http_certinext_send(r, &resp);
    }
    rc = ngx_http_read_client_request_body(r, ngx_http_certinext_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }
    return NGX_DONE;
}
