/* The C ABI end to end: server life and listeners, in-process client and worker, events, status,
 * admin views, log callback, and misuse (NULL, wrong handles, finished jobs). One thread except
 * for the blocking-call test. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int log_count;
static int log_saw_listen;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_log(gearlet_log_level level, const char *msg, size_t len, void *user) {
    (void)level;
    CHECK(user == (void *)&log_count);
    CHECK(msg[len] == '\0');
    pthread_mutex_lock(&log_lock);
    log_count++;
    if (strstr(msg, "listening on") != NULL) {
        log_saw_listen = 1;
    }
    pthread_mutex_unlock(&log_lock);
}

static void test_version_and_messages(void) {
    CHECK(strcmp(gearlet_version(), GEARLET_VERSION) == 0);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", GEARLET_VERSION_MAJOR, GEARLET_VERSION_MINOR,
             GEARLET_VERSION_PATCH);
    CHECK(strcmp(want, GEARLET_VERSION) == 0);
    CHECK(strcmp(gearlet_status_message(GEARLET_STATUS_OK), "success") == 0);
    CHECK(strcmp(gearlet_status_message(GEARLET_STATUS_TIMEOUT), "timed out") == 0);
    CHECK(strcmp(gearlet_status_message(12345), "unknown status") == 0);
    CHECK(strcmp(gearlet_status_message(-1), "unknown status") == 0);
}

static void test_misuse(void) {
    gearlet_server *srv = (gearlet_server *)0x1;
    EXPECT(gearlet_server_new(NULL, NULL), GEARLET_STATUS_NULL_ARGUMENT);
    gearlet_server_free(NULL);
    gearlet_client_free(NULL);
    gearlet_worker_free(NULL);
    gearlet_job_free(NULL);
    gearlet_event_free(NULL);
    gearlet_options_free(NULL);
    gearlet_buf_free(NULL);
    gearlet_client *c = NULL;
    EXPECT(gearlet_client_new(NULL, &c), GEARLET_STATUS_NULL_ARGUMENT);
    CHECK(c == NULL);
    CHECK(gearlet_event_get_kind(NULL) == GEARLET_EVENT_KIND_NONE);
    CHECK(gearlet_job_workload(NULL).len == 0 && gearlet_job_workload(NULL).data != NULL);

    OK(gearlet_server_new(NULL, &srv));
    gearlet_worker *w = NULL;
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_client_new(srv, &c));
    /* A handle of the wrong type is refused, not misread. */
    EXPECT(gearlet_worker_register((const gearlet_worker *)(const void *)c, S("f"), 0),
           GEARLET_STATUS_INVALID_HANDLE);
    EXPECT(gearlet_client_new((const gearlet_server *)(const void *)w, &c),
           GEARLET_STATUS_INVALID_HANDLE);
    /* Buffers: NULL with a length is refused; NULL with 0 is an empty buffer. */
    EXPECT(gearlet_client_submit(c, NULL, 3, NULL, 0, NULL, 0, GEARLET_PRIORITY_NORMAL, 0, NULL),
           GEARLET_STATUS_NULL_ARGUMENT);
    EXPECT(gearlet_client_submit(c, NULL, 0, NULL, 0, NULL, 0, GEARLET_PRIORITY_NORMAL, 0, NULL),
           GEARLET_STATUS_EMPTY_FUNCTION_NAME);
    EXPECT(gearlet_client_submit(c, S("f"), NULL, 0, NULL, 0, 7, 0, NULL),
           GEARLET_STATUS_INVALID_ARGUMENT);
    EXPECT(gearlet_client_submit(c, S("f"), NULL, 0, NULL, 0, GEARLET_PRIORITY_LOW, 0x80, NULL),
           GEARLET_STATUS_INVALID_ARGUMENT);
    char big_unique[65];
    memset(big_unique, 'u', sizeof big_unique);
    EXPECT(gearlet_client_submit(c, S("f"), big_unique, sizeof big_unique, NULL, 0,
                                 GEARLET_PRIORITY_NORMAL, 0, NULL),
           GEARLET_STATUS_UNIQUE_TOO_LARGE);
    EXPECT(gearlet_client_submit(c, S("nobody"), NULL, 0, NULL, 0, GEARLET_PRIORITY_NORMAL,
                                 GEARLET_SUBMIT_FLAGS_REQUIRE_WORKER, NULL),
           GEARLET_STATUS_NO_WORKER);
    /* Out-params stay untouched when the call fails. */
    gearlet_job *job = (gearlet_job *)0x2;
    EXPECT(gearlet_worker_grab(w, 0, &job), GEARLET_STATUS_TIMEOUT);
    CHECK(job == (gearlet_job *)0x2);
    gearlet_event *ev = (gearlet_event *)0x3;
    EXPECT(gearlet_client_wait(c, S("H:nope:1"), 10, &ev), GEARLET_STATUS_JOB_NOT_FOUND);
    EXPECT(gearlet_client_next_event(c, 10, &ev), GEARLET_STATUS_TIMEOUT);
    CHECK(ev == (gearlet_event *)0x3);
    EXPECT(gearlet_server_admin(srv, S("status\nworkers"), NULL), GEARLET_STATUS_NULL_ARGUMENT);
    gearlet_buf b = {NULL, 0};
    EXPECT(gearlet_server_admin(srv, S("status\nworkers"), &b), GEARLET_STATUS_INVALID_ARGUMENT);
    CHECK(b.data == NULL);
    gearlet_client_free(c);
    gearlet_worker_free(w);
    gearlet_server_free(srv);
    /* A double free is seen (while the memory is not reused) and ignored. */
    gearlet_server *again = NULL;
    OK(gearlet_server_new(NULL, &again));
    gearlet_server_free(again);
#if !defined(__SANITIZE_ADDRESS__)
    /* Reading the freed block is what AddressSanitizer forbids, so only without it. */
    gearlet_server_free(again);
#endif
}

static gearlet_server *make_server(void) {
    gearlet_options *o = NULL;
    OK(gearlet_options_new(&o));
    OK(gearlet_options_set_handle_prefix(o, S("H:ctest")));
    OK(gearlet_options_set_job_retries(o, 0));
    OK(gearlet_options_set_worker_wakeup(o, 0));
    OK(gearlet_options_set_exceptions_default(o, 0));
    OK(gearlet_options_set_max_workload(o, 1 << 20));
    OK(gearlet_options_set_max_packet(o, 2 << 20));
    OK(gearlet_options_set_io_threads(o, 1));
    OK(gearlet_options_set_busy_poll_us(o, 20));
    EXPECT(gearlet_options_set_busy_poll_us(o, 1000001), GEARLET_STATUS_INVALID_ARGUMENT);
    OK(gearlet_options_set_require_worker(o, 0));
    EXPECT(gearlet_options_set_max_packet(o, 3), GEARLET_STATUS_INVALID_ARGUMENT);
    gearlet_server *srv = NULL;
    OK(gearlet_server_new(o, &srv));
    gearlet_options_free(o);
    return srv;
}

static void test_listeners(gearlet_server *srv) {
    OK(gearlet_server_set_log_callback(srv, on_log, &log_count));
    uint16_t port = 0;
    OK(gearlet_server_listen_tcp(srv, S("127.0.0.1"), 0, &port));
    CHECK(port != 0);
    /* The same port again is in use. */
    uint16_t other = 0;
    EXPECT(gearlet_server_listen_tcp(srv, S("127.0.0.1"), port, &other),
           GEARLET_STATUS_ADDRESS_IN_USE);
    CHECK(other == 0);
    EXPECT(gearlet_server_listen_tcp(srv, S("not an address"), 0, NULL),
           GEARLET_STATUS_INVALID_ARGUMENT);
    char path[108];
    snprintf(path, sizeof path, "/tmp/gearlet-ctest-%ld.sock", (long)getpid());
    OK(gearlet_server_listen_unix(srv, path, strlen(path), 0600));
    CHECK(access(path, F_OK) == 0);
    EXPECT(gearlet_server_listen_unix(srv, path, strlen(path), 0), GEARLET_STATUS_ADDRESS_IN_USE);
    pthread_mutex_lock(&log_lock);
    CHECK(log_saw_listen && log_count >= 2);
    pthread_mutex_unlock(&log_lock);
    OK(gearlet_server_close_listeners(srv));
    CHECK(access(path, F_OK) != 0);
    /* Stop, then listen again: the socket layer starts anew. */
    OK(gearlet_server_listen_tcp(srv, S("::1"), 0, &port));
    OK(gearlet_server_stop(srv, 100));
    OK(gearlet_server_listen_tcp(srv, S("localhost"), 0, &port));
    CHECK(port != 0);
    OK(gearlet_server_set_log_callback(srv, NULL, NULL));
}

static void test_events_and_payloads(gearlet_server *srv) {
    gearlet_client *c = NULL;
    gearlet_worker *w = NULL;
    OK(gearlet_client_new(srv, &c));
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_worker_set_id(w, S("c-worker")));
    OK(gearlet_worker_register(w, S("rev"), 0));

    /* Foreground job with a unique id and a workload holding a NUL. */
    gearlet_buf h = {NULL, 0};
    const char workload[] = {'a', '\0', 'b'};
    OK(gearlet_client_submit(c, S("rev"), S("u-1"), workload, sizeof workload,
                             GEARLET_PRIORITY_NORMAL, GEARLET_SUBMIT_FLAGS_NONE, &h));
    CHECK(h.data != NULL && h.len > 8 && memcmp(h.data, "H:ctest:", 8) == 0);
    CHECK(h.data[h.len] == '\0');

    gearlet_job *job = NULL;
    OK(gearlet_worker_grab(w, 1000, &job));
    CHECK(slice_eq(gearlet_job_function(job), S("rev")));
    CHECK(slice_eq(gearlet_job_unique(job), S("u-1")));
    CHECK(slice_eq(gearlet_job_workload(job), workload, sizeof workload));
    CHECK(slice_eq(gearlet_job_handle(job), h.data, h.len));

    gearlet_job_status st;
    memset(&st, 0xff, sizeof st);
    OK(gearlet_job_send_data(job, "d\0d", 3));
    OK(gearlet_job_send_warning(job, S("careful")));
    OK(gearlet_job_send_status(job, 1, 2));
    OK(gearlet_client_status(c, h.data, h.len, &st));
    CHECK(st.known && st.running && st.numerator == 1 && st.denominator == 2 && st.waiting == 1);
    OK(gearlet_client_status_unique(c, S("u-1"), &st));
    CHECK(st.known && st.running);

    /* Streamed events arrive in order, then the result. */
    gearlet_event *ev = NULL;
    OK(gearlet_client_next_event(c, 1000, &ev));
    CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_DATA);
    CHECK(slice_eq(gearlet_event_data(ev), "d\0d", 3));
    CHECK(slice_eq(gearlet_event_handle(ev), h.data, h.len));
    gearlet_event_free(ev);
    OK(gearlet_client_next_event_of(c, h.data, h.len, 1000, &ev));
    CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_WARNING);
    CHECK(slice_eq(gearlet_event_data(ev), S("careful")));
    gearlet_event_free(ev);
    OK(gearlet_client_next_event(c, 1000, &ev));
    CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_STATUS);
    CHECK(gearlet_event_numerator(ev) == 1 && gearlet_event_denominator(ev) == 2);
    gearlet_event_free(ev);

    OK(gearlet_job_complete(job, "x\0y", 3));
    EXPECT(gearlet_job_complete(job, S("again")), GEARLET_STATUS_JOB_FINISHED);
    EXPECT(gearlet_job_send_data(job, S("late")), GEARLET_STATUS_JOB_FINISHED);
    /* Still readable after it finished. */
    CHECK(slice_eq(gearlet_job_workload(job), workload, sizeof workload));
    gearlet_job_free(job);

    OK(gearlet_client_wait(c, h.data, h.len, 1000, &ev));
    CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_COMPLETE);
    CHECK(slice_eq(gearlet_event_data(ev), "x\0y", 3));
    gearlet_event_free(ev);
    OK(gearlet_client_status(c, h.data, h.len, &st));
    CHECK(!st.known);
    gearlet_buf_free(&h);
    CHECK(h.data == NULL && h.len == 0);
    gearlet_buf_free(&h);

    /* Intermediate events are skipped by wait; exception and fail are terminal events. */
    OK(gearlet_client_submit(c, S("rev"), NULL, 0, S("e"), GEARLET_PRIORITY_NORMAL, 0, &h));
    OK(gearlet_worker_grab(w, 1000, &job));
    OK(gearlet_job_send_data(job, S("skipped")));
    OK(gearlet_job_exception(job, S("boom")));
    gearlet_job_free(job);
    OK(gearlet_client_wait(c, h.data, h.len, 1000, &ev));
    CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_EXCEPTION);
    CHECK(slice_eq(gearlet_event_data(ev), S("boom")));
    gearlet_event_free(ev);
    gearlet_buf_free(&h);

    OK(gearlet_client_submit(c, S("rev"), NULL, 0, S("f"), GEARLET_PRIORITY_NORMAL, 0, &h));
    OK(gearlet_worker_grab(w, 1000, &job));
    OK(gearlet_job_fail(job));
    EXPECT(gearlet_job_fail(job), GEARLET_STATUS_JOB_FINISHED);
    gearlet_job_free(job);
    OK(gearlet_client_wait(c, h.data, h.len, 1000, &ev));
    CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_FAIL);
    CHECK(gearlet_event_data(ev).len == 0);
    gearlet_event_free(ev);
    gearlet_buf_free(&h);

    /* Timeout: the job is left queued. */
    OK(gearlet_client_submit(c, S("rev"), NULL, 0, S("t"), GEARLET_PRIORITY_NORMAL, 0, &h));
    ev = NULL;
    EXPECT(gearlet_client_wait(c, h.data, h.len, 20, &ev), GEARLET_STATUS_TIMEOUT);
    CHECK(ev == NULL);
    /* An unfinished job freed goes back to the queue. */
    OK(gearlet_worker_grab(w, 1000, &job));
    gearlet_job_free(job);
    OK(gearlet_worker_grab(w, 1000, &job));
    CHECK(slice_eq(gearlet_job_workload(job), S("t")));
    OK(gearlet_job_complete(job, S("T")));
    gearlet_job_free(job);
    OK(gearlet_client_wait(c, h.data, h.len, 1000, &ev));
    CHECK(slice_eq(gearlet_event_data(ev), S("T")));
    gearlet_event_free(ev);
    gearlet_buf_free(&h);

    /* Background jobs by priority: served high, normal, low. */
    OK(gearlet_client_submit(c, S("rev"), NULL, 0, S("low"), GEARLET_PRIORITY_LOW,
                             GEARLET_SUBMIT_FLAGS_BACKGROUND, NULL));
    OK(gearlet_client_submit(c, S("rev"), NULL, 0, S("normal"), GEARLET_PRIORITY_NORMAL,
                             GEARLET_SUBMIT_FLAGS_BACKGROUND, NULL));
    OK(gearlet_client_submit(c, S("rev"), S("bg-high"), S("high"), GEARLET_PRIORITY_HIGH,
                             GEARLET_SUBMIT_FLAGS_BACKGROUND, &h));
    OK(gearlet_client_status_unique(c, S("bg-high"), &st));
    CHECK(st.known && !st.running && st.waiting == 0);
    gearlet_buf_free(&h);
    const char *order[] = {"high", "normal", "low"};
    for (int i = 0; i < 3; i++) {
        OK(gearlet_worker_grab(w, 0, &job));
        CHECK(slice_eq(gearlet_job_workload(job), order[i], strlen(order[i])));
        OK(gearlet_job_complete(job, NULL, 0));
        gearlet_job_free(job);
    }
    size_t n = 99;
    OK(gearlet_server_job_count(srv, &n));
    CHECK(n == 0);

    /* The admin views, byte for byte as a socket peer sees them. */
    gearlet_buf a = {NULL, 0};
    OK(gearlet_server_admin(srv, S("status"), &a));
    CHECK(buf_eq(a, S("rev\t0\t0\t1\n.\n")));
    gearlet_buf_free(&a);
    OK(gearlet_server_admin(srv, S("workers"), &a));
    CHECK(strstr(a.data, "c-worker : rev\n") != NULL);
    gearlet_buf_free(&a);
    OK(gearlet_server_admin(srv, S("bogus"), &a));
    CHECK(buf_eq(a, S("ERR UNKNOWN_COMMAND Unknown+server+commandbogus\r\n")));
    gearlet_buf_free(&a);
    OK(gearlet_client_submit(c, S("rev"), NULL, 0, S("q"), GEARLET_PRIORITY_NORMAL,
                             GEARLET_SUBMIT_FLAGS_BACKGROUND, &h));
    OK(gearlet_server_admin(srv, S("show jobs"), &a));
    CHECK(strstr(a.data, h.data) != NULL);
    gearlet_buf_free(&a);
    OK(gearlet_server_cancel_job(srv, h.data, h.len));
    EXPECT(gearlet_server_cancel_job(srv, h.data, h.len), GEARLET_STATUS_JOB_NOT_FOUND);
    gearlet_buf_free(&h);

    /* Reset drops everything; wait_idle sees it. */
    OK(gearlet_client_submit(c, S("rev"), NULL, 0, S("r"), GEARLET_PRIORITY_NORMAL,
                             GEARLET_SUBMIT_FLAGS_BACKGROUND, NULL));
    EXPECT(gearlet_server_wait_idle(srv, 10), GEARLET_STATUS_TIMEOUT);
    OK(gearlet_server_reset(srv));
    OK(gearlet_server_wait_idle(srv, 1000));
    OK(gearlet_server_admin(srv, S("status"), &a));
    CHECK(buf_eq(a, S(".\n")));
    gearlet_buf_free(&a);

    gearlet_worker_free(w);
    gearlet_client_free(c);
}

/* A registered timeout takes a held job back; the late result is refused. */
static void test_worker_timeout(gearlet_server *srv) {
    gearlet_client *c = NULL;
    gearlet_worker *w = NULL;
    OK(gearlet_client_new(srv, &c));
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_worker_register(w, S("slow"), 50));
    OK(gearlet_client_submit(c, S("slow"), NULL, 0, S("z"), GEARLET_PRIORITY_NORMAL,
                             GEARLET_SUBMIT_FLAGS_BACKGROUND, NULL));
    gearlet_job *job = NULL;
    OK(gearlet_worker_grab(w, 1000, &job));
    /* A second worker blocks until the timeout gives the job back (no sleep: the grab is the
     * wait, bounded at 5 s). */
    gearlet_worker *w2 = NULL;
    OK(gearlet_worker_new(srv, &w2));
    OK(gearlet_worker_register(w2, S("slow"), 0));
    gearlet_job *again = NULL;
    OK(gearlet_worker_grab(w2, 5000, &again));
    EXPECT(gearlet_job_complete(job, S("late")), GEARLET_STATUS_JOB_NOT_FOUND);
    gearlet_job_free(job);
    OK(gearlet_job_complete(again, S("in time")));
    gearlet_job_free(again);
    gearlet_worker_free(w2);
    OK(gearlet_worker_unregister(w, S("slow")));
    OK(gearlet_worker_unregister_all(w));
    gearlet_worker_free(w);
    gearlet_client_free(c);
}

/* Blocking calls across threads: a worker thread serves `upper` while the client calls it. */
static void *upper_worker(void *arg) {
    gearlet_worker *w = arg;
    for (int served = 0; served < 20;) {
        gearlet_job *job = NULL;
        gearlet_status s = gearlet_worker_grab(w, 2000, &job);
        if (s == GEARLET_STATUS_TIMEOUT) {
            continue;
        }
        CHECK(s == GEARLET_STATUS_OK);
        gearlet_slice in = gearlet_job_workload(job);
        char out[64];
        CHECK(in.len < sizeof out);
        for (size_t i = 0; i < in.len; i++) {
            char ch = in.data[i];
            out[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
        }
        OK(gearlet_job_complete(job, out, in.len));
        gearlet_job_free(job);
        served++;
    }
    return NULL;
}

static void test_threads(gearlet_server *srv) {
    gearlet_worker *w = NULL;
    gearlet_client *c = NULL;
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_worker_register(w, S("upper"), 0));
    OK(gearlet_client_new(srv, &c));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, upper_worker, w) == 0);
    for (int i = 0; i < 20; i++) {
        gearlet_event *ev = NULL;
        OK(gearlet_client_call(c, S("upper"), S("hello"), 5000, &ev));
        CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_COMPLETE);
        CHECK(slice_eq(gearlet_event_data(ev), S("HELLO")));
        gearlet_event_free(ev);
    }
    CHECK(pthread_join(t, NULL) == 0);
    gearlet_client_free(c);
    gearlet_worker_free(w);
}

int main(void) {
    test_version_and_messages();
    test_misuse();
    gearlet_server *srv = make_server();
    test_listeners(srv);
    test_events_and_payloads(srv);
    test_worker_timeout(srv);
    test_threads(srv);
    OK(gearlet_server_stop(srv, 1000));
    gearlet_server_free(srv);
    printf("api_test: ok\n");
    return 0;
}
