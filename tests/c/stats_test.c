/* The statistics snapshot through the C ABI: a scripted workload (submitted, coalesced, started,
 * completed, failed, exceptions, cancelled) read back exactly with gearlet_server_stats(), the
 * summary and per-function accessors, histogram counts and quantiles, and misuse (NULL, index
 * past the end, a snapshot passed as a server). One thread. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

static gearlet_job *grab(gearlet_worker *w, const char *want) {
    gearlet_job *job = NULL;
    OK(gearlet_worker_grab(w, 5000, &job));
    gearlet_slice wl = gearlet_job_workload(job);
    CHECK(slice_eq(wl, want, strlen(want)));
    return job;
}

static void submit(gearlet_client *c, const char *fn, const char *unique, const char *data,
                   int priority, gearlet_buf *handle) {
    OK(gearlet_client_submit(c, S(fn), unique, unique ? strlen(unique) : 0, S(data), priority,
                             GEARLET_SUBMIT_FLAGS_BACKGROUND, handle));
}

int main(void) {
    gearlet_server *server = NULL;
    OK(gearlet_server_new(NULL, &server));
    gearlet_client *c = NULL;
    OK(gearlet_client_new(server, &c));

    submit(c, "f", NULL, "h1", GEARLET_PRIORITY_HIGH, NULL);
    submit(c, "f", NULL, "n1", GEARLET_PRIORITY_NORMAL, NULL);
    submit(c, "f", NULL, "n2", GEARLET_PRIORITY_NORMAL, NULL);
    submit(c, "f", "k", "n3", GEARLET_PRIORITY_NORMAL, NULL);
    submit(c, "f", "k", "n3", GEARLET_PRIORITY_NORMAL, NULL); /* coalesced */
    gearlet_buf cancel = {0};
    submit(c, "f", NULL, "n4", GEARLET_PRIORITY_NORMAL, &cancel);
    OK(gearlet_server_cancel_job(server, cancel.data, cancel.len));
    gearlet_buf_free(&cancel);

    gearlet_worker *w = NULL;
    OK(gearlet_worker_new(server, &w));
    OK(gearlet_worker_register(w, S("f"), 0));
    gearlet_job *j = grab(w, "h1");
    OK(gearlet_job_complete(j, S("ok")));
    gearlet_job_free(j);
    j = grab(w, "n1");
    OK(gearlet_job_fail(j));
    gearlet_job_free(j);
    j = grab(w, "n2");
    OK(gearlet_job_exception(j, S("boom")));
    gearlet_job_free(j);
    j = grab(w, "n3");
    OK(gearlet_job_complete(j, S("ok")));
    gearlet_job_free(j);
    OK(gearlet_server_wait_idle(server, 5000));

    gearlet_stats *st = NULL;
    OK(gearlet_server_stats(server, &st));
    gearlet_stats_summary sum;
    OK(gearlet_stats_get_summary(st, &sum));
    CHECK(sum.functions == 1);
    CHECK(sum.jobs == 0);
    CHECK(sum.totals[GEARLET_PRIORITY_HIGH].submitted == 1);
    CHECK(sum.totals[GEARLET_PRIORITY_NORMAL].submitted == 5);
    CHECK(sum.totals[GEARLET_PRIORITY_NORMAL].coalesced == 1);
    CHECK(sum.sessions.in_process == 2);
    CHECK(sum.workers.in_process == 1);
    CHECK(sum.sessions.tcp == 0 && sum.sessions.unix_socket == 0 && sum.sessions.tls == 0);
    CHECK(sum.sessions_opened.in_process == 2);
    CHECK(sum.store_attached == 0 && sum.store_failed == 0);

    gearlet_function_stats f;
    OK(gearlet_stats_function(st, 0, &f));
    CHECK(slice_eq(f.name, S("f")));
    gearlet_job_counters hi = f.counters[GEARLET_PRIORITY_HIGH];
    CHECK(hi.submitted == 1 && hi.started == 1 && hi.completed == 1 && hi.failed == 0);
    gearlet_job_counters n = f.counters[GEARLET_PRIORITY_NORMAL];
    CHECK(n.submitted == 5 && n.coalesced == 1 && n.started == 3);
    CHECK(n.completed == 1 && n.failed == 1 && n.exceptions == 1 && n.cancelled == 1);
    CHECK(n.retried == 0 && n.dropped == 0);
    CHECK(f.counters[GEARLET_PRIORITY_LOW].submitted == 0);
    CHECK(f.queued[0] == 0 && f.queued[1] == 0 && f.queued[2] == 0);
    CHECK(f.running == 0 && f.delayed == 0 && f.workers == 1);
    CHECK(f.wait.count == 4 && f.run.count == 4);
    uint64_t in_buckets = 0;
    for (size_t i = 0; i <= GEARLET_HISTOGRAM_BUCKETS; i++) {
        in_buckets += f.run.buckets[i];
    }
    CHECK(in_buckets == 4);
    CHECK(f.run.p50 >= 0 && f.run.p50 <= f.run.p90 && f.run.p90 <= f.run.p99);
    CHECK(f.run.sum_seconds >= 0);

    /* Misuse. */
    EXPECT(gearlet_stats_function(st, 1, &f), GEARLET_STATUS_INVALID_ARGUMENT);
    EXPECT(gearlet_stats_function(NULL, 0, &f), GEARLET_STATUS_NULL_ARGUMENT);
    EXPECT(gearlet_stats_get_summary(st, NULL), GEARLET_STATUS_NULL_ARGUMENT);
    EXPECT(gearlet_server_stats(server, NULL), GEARLET_STATUS_NULL_ARGUMENT);
    EXPECT(gearlet_stats_get_summary((const gearlet_stats *)server, &sum),
           GEARLET_STATUS_INVALID_HANDLE);
    gearlet_stats_free(st);
    gearlet_stats_free(NULL);

    /* An empty server: no functions, histograms empty with quantiles -1. */
    gearlet_server *empty = NULL;
    OK(gearlet_server_new(NULL, &empty));
    OK(gearlet_server_stats(empty, &st));
    OK(gearlet_stats_get_summary(st, &sum));
    CHECK(sum.functions == 0 && sum.totals[1].submitted == 0);
    EXPECT(gearlet_stats_function(st, 0, &f), GEARLET_STATUS_INVALID_ARGUMENT);
    gearlet_stats_free(st);
    gearlet_server_free(empty);

    gearlet_worker_free(w);
    gearlet_client_free(c);
    gearlet_server_free(server);
    printf("stats_test: ok\n");
    return 0;
}
