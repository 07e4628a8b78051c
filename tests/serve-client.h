// serve-client.h — shared by the `vlm serve` tests (header-only): start the server on a
// free loopback port ($VLM_CLI serve --port 0, the URL read from its stdout), a minimal
// HTTP/1.1 client on plain sockets, and stopping the server.
#ifndef VLM_TEST_SERVE_CLIENT_H
#define VLM_TEST_SERVE_CLIENT_H
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct serve_proc {
    pid_t pid;
    int   port;
    char  url[64];
};

static inline double serve_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// Starts `cli serve ARGS... --port 0 --host 127.0.0.1`; waits up to 120 s for its URL line.
// argv: NULL-terminated extra arguments. stderr goes to log_path (or inherited if NULL).
// Returns false (server stopped) on failure.
static inline bool serve_start(const char * cli, const char * const * args, const char * log_path, struct serve_proc * p) {
    int fd[2];
    if (pipe(fd) != 0) return false;
    const char * argv[64];
    int n = 0;
    argv[n++] = cli;
    argv[n++] = "serve";
    for (int i = 0; args[i] && n < 58; i++) argv[n++] = args[i];
    argv[n++] = "--host";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);   // no orphaned server if the test dies
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        if (log_path) {
            FILE * f = freopen(log_path, "w", stderr);
            (void)f;
        }
        execv(cli, (char * const *)argv);
        _exit(127);
    }
    close(fd[1]);
    p->pid = pid;
    p->port = 0;
    char buf[4096];
    size_t got = 0;
    double t0 = serve_now_ms();
    while (serve_now_ms() - t0 < 120000 && got < sizeof buf - 1) {
        struct pollfd pf = { .fd = fd[0], .events = POLLIN };
        if (poll(&pf, 1, 1000) <= 0) continue;
        ssize_t k = read(fd[0], buf + got, sizeof buf - 1 - got);
        if (k <= 0) break;
        got += (size_t)k;
        buf[got] = 0;
        const char * u = strstr(buf, "http://127.0.0.1:");
        if (u && strchr(u, '\n')) {
            p->port = atoi(u + strlen("http://127.0.0.1:"));
            break;
        }
    }
    // the pipe's read end stays open, so that later prints never get SIGPIPE
    if (p->port <= 0) {
        fprintf(stderr, "server did not print its URL; output: %.*s\n", (int)got, buf);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        close(fd[0]);
        return false;
    }
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:%d/", p->port);
    return true;
}

// Stops the server (SIGTERM, then SIGKILL after 10 s); returns its exit status (or -1).
static inline int serve_stop(struct serve_proc * p) {
    if (p->pid <= 0) return -1;
    kill(p->pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; i++) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        usleep(100000);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    p->pid = 0;
    return -1;
}

static inline int serve_connect(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = { .tv_sec = 120 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

// One request on a fresh connection (Connection: close). Returns the HTTP status (-1 on a
// transport failure); *body (malloc'd, NUL-terminated) receives the response body.
static inline int serve_http(int port, const char * method, const char * path, const void * data, size_t n,
                             const char * ctype, char ** body, size_t * body_n) {
    *body = NULL;
    if (body_n) *body_n = 0;
    int s = serve_connect(port);
    if (s < 0) return -1;
    char hdr[1024];
    int hl = snprintf(hdr, sizeof hdr,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\nContent-Type: %s\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, port, ctype ? ctype : "application/json", n);
    bool ok = send(s, hdr, (size_t)hl, MSG_NOSIGNAL) == hl;
    for (size_t off = 0; ok && off < n;) {
        ssize_t k = send(s, (const char *)data + off, n - off, MSG_NOSIGNAL);
        if (k <= 0) break;   // the server may answer (413) before reading everything
        off += (size_t)k;
    }
    size_t cap = 65536, got = 0;
    char * buf = malloc(cap);
    while (buf) {
        if (got + 1 >= cap) {
            char * b = realloc(buf, cap * 2);
            if (!b) break;
            buf = b;
            cap *= 2;
        }
        ssize_t k = recv(s, buf + got, cap - 1 - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(s);
    if (!buf) return -1;
    buf[got] = 0;
    int status = -1;
    char * sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        free(buf);
        return -1;
    }
    size_t off = (size_t)(sep + 4 - buf);
    // Content-Length, when given, must match what came
    const char * cl = NULL;
    for (const char * q = buf; q < sep && !cl; q++)
        if (!strncasecmp(q, "\r\ncontent-length:", 17)) cl = q;
    if (cl) {
        size_t want = (size_t)strtoull(cl + 17, NULL, 10);
        if (got - off != want) {
            free(buf);
            return -1;
        }
    }
    memmove(buf, buf + off, got - off + 1);
    *body = buf;
    if (body_n) *body_n = got - off;
    return status;
}
#endif
