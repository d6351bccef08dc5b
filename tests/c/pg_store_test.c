/* The PostgreSQL store through the C ABI, against a real database: GEARLET_PG_CONNINFO, set by
 * tests/c/run.sh to a private cluster it started (scripts/pg-cluster.sh). Without it the test
 * says it skipped and succeeds, unless GEARLET_REQUIRE_PG is set.
 *
 *  - A server restarted with the same options (so the same server id) gets back the background
 *    jobs it stored, with their bytes and priorities; once they finished, none come back.
 *  - Two live servers share the database under different ids: the jobs of one that is freed
 *    without running them are adopted by the other once its lease expires, and served there.
 *
 * Every run uses tables of its own (named after the process), so the shared, static and
 * sanitizer builds can share one cluster. Every wait is a blocking call with a timeout. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <stdint.h>
#include <unistd.h>

typedef struct {
    const char *function, *unique, *data;
    size_t data_len;
    int priority;
} job_spec;

/* Submission order; the binary workload and the empty unique check that bytes survive bytea. */
static const job_spec specs[] = {
    {"resize", "img-1", "low one", 7, GEARLET_PRIORITY_LOW},
    {"resize", "img-2", "normal two", 10, GEARLET_PRIORITY_NORMAL},
    {"resize", "", "\0bin\xff", 5, GEARLET_PRIORITY_HIGH},
    {"email", "-", "to:x", 4, GEARLET_PRIORITY_NORMAL},
};

static const job_spec adopted[] = {
    {"thumb", "a-1", "first", 5, GEARLET_PRIORITY_NORMAL},
    {"thumb", "a-2", "second", 6, GEARLET_PRIORITY_NORMAL},
};

static char conninfo[1024];
static char table[64];

/* Options for a server with id `id` on this run's table, with a short lease so that adoption
 * happens within the test's timeouts. */
static gearlet_options *pg_options(const char *id, uint32_t lease_ms) {
    gearlet_options *o = NULL;
    OK(gearlet_options_new(&o));
    OK(gearlet_options_set_store_postgres(o, S(conninfo)));
    OK(gearlet_options_set_store_server_id(o, S(id)));
    OK(gearlet_options_set_store_table(o, S(table)));
    OK(gearlet_options_set_store_lease_ms(o, lease_ms));
    OK(gearlet_options_set_store_wait_ms(o, 1000));
    return o;
}

static gearlet_server *start(const gearlet_options *o) {
    gearlet_server *srv = NULL;
    gearlet_status st = gearlet_server_new(o, &srv);
    if (st != GEARLET_STATUS_OK) {
        fprintf(stderr, "gearlet_server_new: %s\n", gearlet_last_error_message());
    }
    OK(st);
    return srv;
}

static uint64_t restored(gearlet_server *srv) {
    gearlet_replay_report r;
    OK(gearlet_server_replay_report(srv, &r));
    CHECK(r.skipped == 0);
    return r.restored;
}

static void submit_bg(gearlet_client *c, const job_spec *j) {
    OK(gearlet_client_submit(c, S(j->function), j->unique, strlen(j->unique), j->data,
                             j->data_len, j->priority, GEARLET_SUBMIT_FLAGS_BACKGROUND, NULL));
}

/* Grabs the next job (waiting up to `timeout_ms`), checks it against `want`, completes it. */
static void grab_expect(gearlet_worker *w, uint32_t timeout_ms, const job_spec *want) {
    gearlet_job *j = NULL;
    OK(gearlet_worker_grab(w, timeout_ms, &j));
    CHECK(slice_eq(gearlet_job_function(j), S(want->function)));
    CHECK(slice_eq(gearlet_job_unique(j), S(want->unique)));
    CHECK(slice_eq(gearlet_job_workload(j), want->data, want->data_len));
    OK(gearlet_job_complete(j, S("done")));
    gearlet_job_free(j);
}

static void expect_no_job(gearlet_worker *w) {
    gearlet_job *none = NULL;
    EXPECT(gearlet_worker_grab(w, 0, &none), GEARLET_STATUS_TIMEOUT);
}

static void test_restart_with_the_same_id(void) {
    gearlet_options *o = pg_options("c-restart", 1000);
    gearlet_server *srv = start(o);
    CHECK(restored(srv) == 0);
    gearlet_client *c = NULL;
    OK(gearlet_client_new(srv, &c));
    for (size_t i = 0; i < 4; i++) {
        submit_bg(c, &specs[i]); /* acknowledged: committed to the database */
    }
    size_t count = 0;
    OK(gearlet_server_job_count(srv, &count));
    CHECK(count == 4);
    gearlet_client_free(c);
    gearlet_server_free(srv);

    /* The same options again: the conninfo and the id were copied, not used up. */
    srv = start(o);
    CHECK(restored(srv) == 4);
    gearlet_worker *w = NULL;
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_worker_register(w, S("resize"), 0));
    /* High first, then normal, then low: the priorities came back. */
    grab_expect(w, 0, &specs[2]);
    grab_expect(w, 0, &specs[1]);
    grab_expect(w, 0, &specs[0]);
    expect_no_job(w);
    OK(gearlet_worker_register(w, S("email"), 0));
    grab_expect(w, 0, &specs[3]);
    gearlet_worker_free(w);
    /* Freeing writes the removes of the finished jobs. */
    gearlet_server_free(srv);

    srv = start(o);
    CHECK(restored(srv) == 0);
    gearlet_server_free(srv);
    gearlet_options_free(o);
}

static void test_adoption_by_a_second_server(void) {
    /* The lease of `a` is what `b` waits for: 1 s, renewed every 250 ms while `a` lives. */
    gearlet_options *oa = pg_options("c-a", 1000);
    gearlet_options *ob = pg_options("c-b", 1000);
    gearlet_server *a = start(oa);
    gearlet_client *c = NULL;
    OK(gearlet_client_new(a, &c));
    submit_bg(c, &adopted[0]);
    submit_bg(c, &adopted[1]);
    gearlet_client_free(c);

    gearlet_server *b = start(ob);
    CHECK(restored(b) == 0); /* `a`'s jobs are `a`'s while its lease lives */
    gearlet_worker *w = NULL;
    OK(gearlet_worker_new(b, &w));
    OK(gearlet_worker_register(w, S("thumb"), 0));
    expect_no_job(w);

    /* `a` goes away without running its jobs (its lease is left to expire, as after a crash):
     * `b` adopts them and wakes its waiting worker, in submission order. */
    gearlet_server_free(a);
    grab_expect(w, 20000, &adopted[0]);
    grab_expect(w, 20000, &adopted[1]);
    expect_no_job(w);
    gearlet_worker_free(w);
    gearlet_server_free(b);

    /* Adopted and finished: neither id has anything stored any more. */
    a = start(oa);
    CHECK(restored(a) == 0);
    b = start(ob);
    CHECK(restored(b) == 0);
    gearlet_server_free(b);
    gearlet_server_free(a);
    gearlet_options_free(oa);
    gearlet_options_free(ob);
}

int main(void) {
    const char *ci = getenv("GEARLET_PG_CONNINFO");
    if (ci == NULL || *ci == '\0') {
        const char *req = getenv("GEARLET_REQUIRE_PG");
        if (req != NULL && *req != '\0') {
            fprintf(stderr, "pg_store_test: GEARLET_REQUIRE_PG is set but GEARLET_PG_CONNINFO "
                            "is not (tests/c/run.sh sets it)\n");
            return 1;
        }
        printf("pg_store_test: SKIPPED (no GEARLET_PG_CONNINFO: tests/c/run.sh starts a "
               "PostgreSQL cluster where PostgreSQL is installed)\n");
        return 0;
    }
    CHECK(strlen(ci) < sizeof conninfo);
    strcpy(conninfo, ci);
    snprintf(table, sizeof table, "c_test_%ld", (long)getpid());

    test_restart_with_the_same_id();
    test_adoption_by_a_second_server();
    printf("pg_store_test: ok\n");
    return 0;
}
