/* Durable stores through the C ABI: a store written in C (a file rewritten on each flush) keeps
 * background jobs across two embedded servers in one process; a failing add reaches the
 * submitter as GEARLET_STATUS_STORE_FAILED with the store's own text, and the job is not queued;
 * a damaged file and an unopenable SQLite path make gearlet_server_new fail with a message; the
 * built-in SQLite store keeps jobs across servers too. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

/* ---- A file-backed store ------------------------------------------------------------------
 * All rows live in memory; flush rewrites the whole file (to a temporary name, fsync, rename),
 * so the file always holds the last flushed batch, and abort goes back to it by reading it. */

typedef struct {
    char *function, *key, *unique, *workload, *reducer;
    size_t function_len, key_len, unique_len, workload_len, reducer_len;
    int priority, has_reducer, has_schedule;
    uint64_t when;
    gearlet_schedule schedule;
} row;

typedef struct {
    char path[512];
    row *rows;
    size_t n, cap;
    int dirty;
    int fail_adds; /* set by the test thread before a submit; read by gearlet's store thread */
    char error[256];
} file_store;

static int frees; /* how many stores gearlet released */

static char *dup_bytes(const char *p, size_t len) {
    char *d = malloc(len ? len : 1);
    CHECK(d != NULL);
    if (len) {
        memcpy(d, p, len);
    }
    return d;
}

static void row_free(row *r) {
    free(r->function);
    free(r->key);
    free(r->unique);
    free(r->workload);
    free(r->reducer);
}

static void clear_rows(file_store *s) {
    for (size_t i = 0; i < s->n; i++) {
        row_free(&s->rows[i]);
    }
    s->n = 0;
}

static long find_row(file_store *s, const char *f, size_t flen, const char *k, size_t klen) {
    for (size_t i = 0; i < s->n; i++) {
        row *r = &s->rows[i];
        if (r->function_len == flen && r->key_len == klen && memcmp(r->function, f, flen) == 0 &&
            memcmp(r->key, k, klen) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static void push_row(file_store *s, row r) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->rows = realloc(s->rows, s->cap * sizeof *s->rows);
        CHECK(s->rows != NULL);
    }
    s->rows[s->n++] = r;
}

static int fail(file_store *s, const char *what) {
    snprintf(s->error, sizeof s->error, "%s", what);
    return -1;
}

/* The file: per row, each byte field as a u64 length and its bytes, then the numbers. */
static int put(FILE *f, const void *p, size_t len) {
    return fwrite(p, 1, len, f) == len ? 0 : -1;
}

static int put_field(FILE *f, const char *p, size_t len) {
    uint64_t l = len;
    return put(f, &l, sizeof l) || put(f, p, len);
}

static int write_file(file_store *s) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        return fail(s, strerror(errno));
    }
    int bad = 0;
    for (size_t i = 0; i < s->n && !bad; i++) {
        row *r = &s->rows[i];
        bad = put_field(f, r->function, r->function_len) || put_field(f, r->key, r->key_len) ||
              put_field(f, r->unique, r->unique_len) ||
              put_field(f, r->workload, r->workload_len) ||
              put_field(f, r->reducer, r->reducer_len) || put(f, &r->has_reducer, sizeof(int)) ||
              put(f, &r->priority, sizeof(int)) || put(f, &r->when, sizeof r->when) ||
              put(f, &r->has_schedule, sizeof(int)) || put(f, &r->schedule, sizeof r->schedule);
    }
    bad = bad || fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad = (fclose(f) != 0) || bad;
    if (bad || rename(tmp, s->path) != 0) {
        return fail(s, "cannot write the store file");
    }
    return 0;
}

static int get(FILE *f, void *p, size_t len) {
    return fread(p, 1, len, f) == len ? 0 : -1;
}

static int get_field(FILE *f, char **p, size_t *len) {
    uint64_t l;
    if (get(f, &l, sizeof l) || l > (1u << 30)) {
        return -1;
    }
    *len = (size_t)l;
    *p = malloc(l ? l : 1);
    CHECK(*p != NULL);
    return get(f, *p, *len);
}

/* Reads the file into memory (a missing file is an empty store). */
static int read_file(file_store *s) {
    clear_rows(s);
    s->dirty = 0;
    FILE *f = fopen(s->path, "rb");
    if (f == NULL) {
        return errno == ENOENT ? 0 : fail(s, strerror(errno));
    }
    int rc = 0;
    for (;;) {
        int c = fgetc(f);
        if (c == EOF) {
            break;
        }
        ungetc(c, f);
        row r;
        memset(&r, 0, sizeof r);
        int bad = get_field(f, &r.function, &r.function_len) ||
                  get_field(f, &r.key, &r.key_len) || get_field(f, &r.unique, &r.unique_len) ||
                  get_field(f, &r.workload, &r.workload_len) ||
                  get_field(f, &r.reducer, &r.reducer_len) ||
                  get(f, &r.has_reducer, sizeof(int)) || get(f, &r.priority, sizeof(int)) ||
                  get(f, &r.when, sizeof r.when) || get(f, &r.has_schedule, sizeof(int)) ||
                  get(f, &r.schedule, sizeof r.schedule);
        if (bad) {
            row_free(&r);
            rc = fail(s, "the store file is truncated");
            break;
        }
        push_row(s, r);
    }
    fclose(f);
    return rc;
}

static int fs_add(void *user, const gearlet_stored_job *jobs, size_t n) {
    file_store *s = user;
    if (s->fail_adds) {
        return fail(s, "disk full (injected by the test)");
    }
    for (size_t i = 0; i < n; i++) {
        const gearlet_stored_job *j = &jobs[i];
        row r;
        r.function = dup_bytes(j->function, j->function_len);
        r.function_len = j->function_len;
        r.key = dup_bytes(j->key, j->key_len);
        r.key_len = j->key_len;
        r.unique = dup_bytes(j->unique, j->unique_len);
        r.unique_len = j->unique_len;
        r.workload = dup_bytes(j->workload, j->workload_len);
        r.workload_len = j->workload_len;
        r.has_reducer = j->reducer != NULL;
        r.reducer = dup_bytes(j->reducer, j->reducer_len);
        r.reducer_len = j->reducer_len;
        r.priority = j->priority;
        r.when = j->when;
        r.has_schedule = j->has_schedule;
        r.schedule = j->schedule;
        long at = find_row(s, j->function, j->function_len, j->key, j->key_len);
        if (at >= 0) {
            row_free(&s->rows[at]);
            s->rows[at] = r;
        } else {
            push_row(s, r);
        }
    }
    s->dirty = 1;
    return 0;
}

static int fs_remove(void *user, const gearlet_store_key *keys, size_t n) {
    file_store *s = user;
    for (size_t i = 0; i < n; i++) {
        long at = find_row(s, keys[i].function, keys[i].function_len, keys[i].key, keys[i].key_len);
        if (at >= 0) {
            row_free(&s->rows[at]);
            /* Kept in order: replay hands jobs back in the order they were added. */
            memmove(&s->rows[at], &s->rows[at + 1], (s->n - (size_t)at - 1) * sizeof *s->rows);
            s->n--;
        }
    }
    s->dirty = 1;
    return 0;
}

static int fs_flush(void *user) {
    file_store *s = user;
    if (!s->dirty) {
        return 0;
    }
    s->dirty = 0;
    return write_file(s);
}

static void fs_abort(void *user) {
    file_store *s = user;
    /* Back to the last flushed batch; a read error then shows at the next replay. */
    (void)read_file(s);
}

static int fs_replay(void *user, gearlet_replay_emit_fn emit, void *emit_ctx) {
    file_store *s = user;
    if (read_file(s) != 0) {
        return -1;
    }
    for (size_t i = 0; i < s->n; i++) {
        row *r = &s->rows[i];
        gearlet_stored_job j;
        j.function = r->function;
        j.function_len = r->function_len;
        j.key = r->key;
        j.key_len = r->key_len;
        j.unique = r->unique;
        j.unique_len = r->unique_len;
        j.workload = r->workload;
        j.workload_len = r->workload_len;
        j.priority = r->priority;
        j.when = r->when;
        j.reducer = r->has_reducer ? r->reducer : NULL;
        j.reducer_len = r->reducer_len;
        j.has_schedule = r->has_schedule;
        j.schedule = r->schedule;
        if (emit(emit_ctx, &j) != GEARLET_STATUS_OK) {
            return fail(s, "gearlet refused a stored job");
        }
    }
    return 0;
}

static const char *fs_last_error(void *user) {
    return ((file_store *)user)->error;
}

static void fs_free(void *user) {
    file_store *s = user;
    clear_rows(s);
    free(s->rows);
    free(s);
    frees++;
}

static file_store *new_store(const char *path) {
    file_store *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    snprintf(s->path, sizeof s->path, "%s", path);
    return s;
}

/* A server whose store is `s` (gearlet owns it from here on). */
static gearlet_status start(file_store *s, gearlet_server **out) {
    gearlet_store_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.user = s;
    cb.add = fs_add;
    cb.remove = fs_remove;
    cb.flush = fs_flush;
    cb.abort = fs_abort;
    cb.replay = fs_replay;
    cb.last_error = fs_last_error;
    cb.free = fs_free;
    gearlet_options *o = NULL;
    OK(gearlet_options_new(&o));
    OK(gearlet_options_set_store_callbacks(o, &cb));
    gearlet_status st = gearlet_server_new(o, out);
    gearlet_options_free(o);
    return st;
}

static uint64_t restored(gearlet_server *srv) {
    gearlet_replay_report r;
    OK(gearlet_server_replay_report(srv, &r));
    CHECK(r.skipped == 0);
    return r.restored;
}

/* ---- The tests ----------------------------------------------------------------------------- */

typedef struct {
    const char *function, *unique, *data;
    size_t data_len;
    int priority;
} job_spec;

/* Submission order; the binary workload checks that bytes survive the file as they are. */
static const job_spec specs[] = {
    {"resize", "img-1", "low one", 7, GEARLET_PRIORITY_LOW},
    {"resize", "img-2", "normal two", 10, GEARLET_PRIORITY_NORMAL},
    {"resize", "", "\0bin\xff", 5, GEARLET_PRIORITY_HIGH},
    {"email", "-", "to:x", 4, GEARLET_PRIORITY_NORMAL},
    {"resize", "img-3", "normal three", 12, GEARLET_PRIORITY_NORMAL},
};

static void submit_bg(gearlet_client *c, const job_spec *j, gearlet_status want) {
    EXPECT(gearlet_client_submit(c, S(j->function), j->unique, strlen(j->unique), j->data,
                                 j->data_len, j->priority, GEARLET_SUBMIT_FLAGS_BACKGROUND, NULL),
           want);
}

/* Grabs the next job (one must be queued now) and checks it against `want`, then completes it. */
static void grab_expect(gearlet_worker *w, const job_spec *want) {
    gearlet_job *j = NULL;
    OK(gearlet_worker_grab(w, 0, &j));
    CHECK(slice_eq(gearlet_job_function(j), S(want->function)));
    CHECK(slice_eq(gearlet_job_unique(j), S(want->unique)));
    CHECK(slice_eq(gearlet_job_workload(j), want->data, want->data_len));
    OK(gearlet_job_complete(j, S("done")));
    gearlet_job_free(j);
}

static void test_first_server(const char *path) {
    file_store *s = new_store(path);
    gearlet_server *srv = NULL;
    OK(start(s, &srv));
    CHECK(restored(srv) == 0);
    gearlet_client *c = NULL;
    OK(gearlet_client_new(srv, &c));
    for (size_t i = 0; i < 4; i++) {
        submit_bg(c, &specs[i], GEARLET_STATUS_OK);
    }
    /* Acknowledged means flushed: the store holds the four, with their priorities. (Reading it
     * here is safe: gearlet's store thread finished with it before the submit returned.) */
    CHECK(s->n == 4);
    for (size_t i = 0; i < 4; i++) {
        CHECK(s->rows[i].priority == specs[i].priority);
        CHECK(s->rows[i].has_reducer == 0 && s->rows[i].has_schedule == 0);
    }

    /* A failing add: the submitter gets STORE_FAILED with the store's words; nothing queued. */
    s->fail_adds = 1;
    job_spec lost = {"resize", "img-9", "lost", 4, GEARLET_PRIORITY_NORMAL};
    submit_bg(c, &lost, GEARLET_STATUS_STORE_FAILED);
    CHECK(strstr(gearlet_last_error_message(), "disk full (injected by the test)") != NULL);
    size_t count = 0;
    OK(gearlet_server_job_count(srv, &count));
    CHECK(count == 4);
    gearlet_job_status st;
    OK(gearlet_client_status_unique(c, S("img-9"), &st));
    CHECK(st.known == 0);
    s->fail_adds = 0;

    /* The server keeps serving: the next background job is stored, a foreground job runs. */
    submit_bg(c, &specs[4], GEARLET_STATUS_OK);
    CHECK(s->n == 5);
    gearlet_worker *w = NULL;
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_worker_register(w, S("echo"), 0));
    gearlet_buf h = {NULL, 0};
    OK(gearlet_client_submit(c, S("echo"), NULL, 0, S("hi"), GEARLET_PRIORITY_NORMAL, 0, &h));
    gearlet_job *j = NULL;
    OK(gearlet_worker_grab(w, 0, &j));
    OK(gearlet_job_complete(j, S("HI")));
    gearlet_job_free(j);
    gearlet_event *ev = NULL;
    OK(gearlet_client_wait(c, h.data, h.len, 5000, &ev));
    CHECK(gearlet_event_get_kind(ev) == GEARLET_EVENT_KIND_COMPLETE);
    CHECK(slice_eq(gearlet_event_data(ev), S("HI")));
    gearlet_event_free(ev);
    gearlet_buf_free(&h);
    CHECK(s->n == 5); /* foreground jobs are not stored */

    gearlet_worker_free(w);
    gearlet_client_free(c);
    gearlet_server_free(srv);
    CHECK(frees == 1);
    CHECK(access(path, F_OK) == 0);
}

static void test_second_server(const char *path) {
    gearlet_server *srv = NULL;
    OK(start(new_store(path), &srv));
    CHECK(restored(srv) == 5);
    gearlet_worker *w = NULL;
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_worker_register(w, S("resize"), 0));
    /* High first, then normal in submission order, then low: priorities came back. */
    grab_expect(w, &specs[2]);
    grab_expect(w, &specs[1]);
    grab_expect(w, &specs[4]);
    grab_expect(w, &specs[0]);
    gearlet_job *none = NULL;
    EXPECT(gearlet_worker_grab(w, 0, &none), GEARLET_STATUS_TIMEOUT);
    OK(gearlet_worker_register(w, S("email"), 0));
    grab_expect(w, &specs[3]);
    gearlet_worker_free(w);
    /* Freeing writes the removes of the finished jobs before the store is released. */
    gearlet_server_free(srv);
    CHECK(frees == 2);

    OK(start(new_store(path), &srv));
    CHECK(restored(srv) == 0);
    gearlet_server_free(srv);
    CHECK(frees == 3);
}

static void test_open_failures(const char *dir, const char *path) {
    /* A damaged file: the replay fails, and so does gearlet_server_new, with the store's text. */
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite("\x05\0\0", 1, 3, f) == 3);
    CHECK(fclose(f) == 0);
    gearlet_server *srv = NULL;
    EXPECT(start(new_store(path), &srv), GEARLET_STATUS_STORE_FAILED);
    CHECK(srv == NULL);
    CHECK(strstr(gearlet_last_error_message(), "truncated") != NULL);
    CHECK(frees == 4); /* released by the failed gearlet_server_new */
    CHECK(unlink(path) == 0);

    /* A SQLite file that cannot be created: the text names the file. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/missing-dir/q.db", dir);
    gearlet_options *o = NULL;
    OK(gearlet_options_new(&o));
    OK(gearlet_options_set_store_path(o, S(bad)));
    EXPECT(gearlet_server_new(o, &srv), GEARLET_STATUS_STORE_FAILED);
    CHECK(strstr(gearlet_last_error_message(), bad) != NULL);
    EXPECT(gearlet_options_set_store_path(o, S("")), GEARLET_STATUS_INVALID_ARGUMENT);
    EXPECT(gearlet_options_set_store_durability(o, 5), GEARLET_STATUS_INVALID_ARGUMENT);
    gearlet_options_free(o);
}

static void test_sqlite(const char *dir) {
    char db[600];
    snprintf(db, sizeof db, "%s/q.db", dir);
    gearlet_options *o = NULL;
    OK(gearlet_options_new(&o));
    OK(gearlet_options_set_store_path(o, S(db)));
    OK(gearlet_options_set_store_durability(o, GEARLET_STORE_DURABILITY_OS));
    gearlet_server *srv = NULL;
    OK(gearlet_server_new(o, &srv));
    gearlet_client *c = NULL;
    OK(gearlet_client_new(srv, &c));
    submit_bg(c, &specs[0], GEARLET_STATUS_OK);
    submit_bg(c, &specs[2], GEARLET_STATUS_OK);
    gearlet_client_free(c);
    gearlet_server_free(srv);

    /* The same options make the next server: a path is copied, not used up. */
    OK(gearlet_server_new(o, &srv));
    gearlet_options_free(o);
    CHECK(restored(srv) == 2);
    gearlet_worker *w = NULL;
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_worker_register(w, S("resize"), 0));
    grab_expect(w, &specs[2]);
    grab_expect(w, &specs[0]);
    gearlet_worker_free(w);
    gearlet_server_free(srv);

    char side[700];
    CHECK(unlink(db) == 0);
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
}

int main(void) {
    char dir[] = "/tmp/gearlet-store-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/jobs.store", dir);

    test_first_server(path);
    test_second_server(path);
    CHECK(unlink(path) == 0);
    test_open_failures(dir, path);
    test_sqlite(dir);

    CHECK(rmdir(dir) == 0);
    printf("store_test: ok\n");
    return 0;
}
