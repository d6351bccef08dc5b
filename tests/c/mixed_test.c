/* Mixed workload for the sanitizer build: a server embedded in this program, an in-process worker
 * and in-process clients on several threads, plus real network peers (Debian's `gearman` CLI, a
 * libgearman program) as client and as worker over TCP. Run with ASan and UBSan: any report fails. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <pthread.h>
#include <unistd.h>

static volatile int stop_worker;
static gearlet_server *srv;

/* In-process worker: reverses workloads until told to stop. */
static void *reverse_worker(void *arg) {
    (void)arg;
    gearlet_worker *w = NULL;
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_worker_register(w, S("reverse"), 0));
    OK(gearlet_worker_register(w, S("bg"), 0));
    while (!__atomic_load_n(&stop_worker, __ATOMIC_SEQ_CST)) {
        gearlet_job *job = NULL;
        gearlet_status s = gearlet_worker_grab(w, 50, &job);
        if (s == GEARLET_STATUS_TIMEOUT) {
            continue;
        }
        OK(s);
        gearlet_slice in = gearlet_job_workload(job);
        char *out = malloc(in.len + 1);
        CHECK(out != NULL);
        for (size_t i = 0; i < in.len; i++) {
            out[i] = in.data[in.len - 1 - i];
        }
        OK(gearlet_job_send_status(job, 1, 1));
        OK(gearlet_job_complete(job, out, in.len));
        free(out);
        gearlet_job_free(job);
    }
    gearlet_worker_free(w);
    return NULL;
}

/* In-process client: background and foreground jobs while the network peers run. */
static void *local_client(void *arg) {
    (void)arg;
    gearlet_client *c = NULL;
    OK(gearlet_client_new(srv, &c));
    for (int i = 0; i < 200; i++) {
        char data[32];
        int n = snprintf(data, sizeof data, "job-%d", i);
        OK(gearlet_client_submit(c, S("bg"), NULL, 0, data, (size_t)n, i % 3,
                                 GEARLET_SUBMIT_FLAGS_BACKGROUND, NULL));
        gearlet_event *ev = NULL;
        OK(gearlet_client_call(c, S("reverse"), data, (size_t)n, 10000, &ev));
        CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_COMPLETE);
        CHECK(gearlet_event_data(ev).len == (size_t)n);
        gearlet_event_free(ev);
    }
    gearlet_client_free(c);
    return NULL;
}

/* Runs a command and returns its whole stdout (malloc'd). */
static char *run(const char *cmd) {
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    CHECK(out != NULL);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            out = realloc(out, cap);
            CHECK(out != NULL);
        }
    }
    out[len] = '\0';
    int rc = pclose(p);
    if (rc != 0) {
        fprintf(stderr, "mixed_test: `%s` exited with %d, output: %s\n", cmd, rc, out);
        exit(1);
    }
    return out;
}

int main(void) {
    OK(gearlet_server_new(NULL, &srv));
    uint16_t port = 0;
    OK(gearlet_server_listen_tcp(srv, S("127.0.0.1"), 0, &port));
    pthread_t worker, client;
    CHECK(pthread_create(&worker, NULL, reverse_worker, NULL) == 0);
    CHECK(pthread_create(&client, NULL, local_client, NULL) == 0);

    /* A network client (the gearman CLI) calls the in-process worker. */
    char cmd[512];
    for (int i = 0; i < 5; i++) {
        snprintf(cmd, sizeof cmd, "gearman -t 10000 -h 127.0.0.1 -p %u -f reverse hello",
                 (unsigned)port);
        char *out = run(cmd);
        if (strncmp(out, "olleh", 5) != 0) {
            fprintf(stderr, "mixed_test: gearman client got '%s'\n", out);
            return 1;
        }
        free(out);
    }

    /* A network worker (the gearman CLI running `tr`) serves in-process client calls. */
    snprintf(cmd, sizeof cmd,
             "gearman -w -c 3 -t 10000 -h 127.0.0.1 -p %u -f upper -- tr a-z A-Z", (unsigned)port);
    FILE *net_worker = popen(cmd, "r");
    CHECK(net_worker != NULL);
    gearlet_client *c = NULL;
    OK(gearlet_client_new(srv, &c));
    for (int i = 0; i < 3; i++) {
        gearlet_event *ev = NULL;
        OK(gearlet_client_call(c, S("upper"), S("shout"), 10000, &ev));
        CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_COMPLETE);
        CHECK(slice_eq(gearlet_event_data(ev), S("SHOUT")));
        gearlet_event_free(ev);
    }
    CHECK(pclose(net_worker) == 0);

    /* The admin view over the socket and in-process agree on the format. */
    gearlet_buf a = {NULL, 0};
    OK(gearlet_server_admin(srv, S("status"), &a));
    CHECK(strstr(a.data, "reverse\t") != NULL);
    gearlet_buf_free(&a);

    CHECK(pthread_join(client, NULL) == 0);
    OK(gearlet_server_wait_idle(srv, 10000));
    __atomic_store_n(&stop_worker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(worker, NULL) == 0);
    gearlet_client_free(c);
    OK(gearlet_server_stop(srv, 1000));
    gearlet_server_free(srv);
    printf("mixed_test: ok\n");
    return 0;
}
