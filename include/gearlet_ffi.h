/*
 * gearlet: an embedded Gearman job server. C ABI, generated from src/capi by cbindgen; do not edit
 * (scripts/gen-headers.sh regenerates it, CI fails on any difference).
 *
 * Rules for every function (the README's "C ABI" section says the same):
 *  - Handles are opaque pointers made by a `_new` function and released by its `_free`;
 *    `_free(NULL)` does nothing. Each type's comment says who owns it, whether several threads may
 *    use it at once, and what it must not outlive.
 *  - Fallible functions return a gearlet_status; GEARLET_STATUS_OK is 0 and the numbers never
 *    change. gearlet_status_message() turns one into text. Out-params are written only on
 *    GEARLET_STATUS_OK; on any other status they are left as they were. Right after a failing
 *    call, gearlet_last_error_message() gives its text (per thread; for
 *    GEARLET_STATUS_STORE_FAILED, what the store reported).
 *  - Arguments come in the order: handle, inputs, outputs. Payloads, names and handles are
 *    (const char *data, size_t len): binary-safe, never NUL-terminated on input; data may be NULL
 *    when len is 0.
 *  - Bytes gearlet allocates for the caller come as a gearlet_buf, freed with gearlet_buf_free().
 *    Borrowed views (gearlet_slice) stay valid for as long as the function returning them says.
 *  - Every pointer is checked: NULL gets GEARLET_STATUS_NULL_ARGUMENT, a freed or wrong-type handle
 *    GEARLET_STATUS_INVALID_HANDLE (as long as its memory was not reused: do not rely on it), and
 *    any handle used in a child after fork() GEARLET_STATUS_FORKED (the child must make its own
 *    server). A panic inside gearlet is caught and returned as GEARLET_STATUS_PANIC.
 *  - Every blocking call takes a timeout in milliseconds. No callback runs and no call blocks while
 *    gearlet holds an internal lock.
 *  - gearlet never writes to stdout or stderr: log messages go to gearlet_server_set_log_callback().
 *  - gearlet_version() returns GEARLET_VERSION of the header the library was built with.
 */

// The version as text, equal to what gearlet_version() returns for a matching library.

// Major version of the ABI and of the crate; the shared library's SONAME is
// `libgearlet.so.<GEARLET_VERSION_MAJOR>`. Checked against Cargo.toml by `tests/capi.rs`.

// Minor version.

// Patch version.

// Buckets of a `gearlet_histogram`: `GEARLET_HISTOGRAM_BUCKETS` finite ones (bucket `i` holds
// durations in (2^(i-1), 2^i] µs; bucket 0 up to 1 µs), then one for longer durations.
// (A literal, so that the flat header, which has no macros, still has the array's size.)

// What every fallible function returns. The numbers are fixed and never reused: bindings may
// hard-code them. `gearlet_status_message()` turns one into text.
typedef enum gearlet_status {
  // Success; out-params were written.
  GEARLET_STATUS_OK = 0,
  // A blocking call's timeout passed first (not an error for `grab`, `wait_idle`, events).
  GEARLET_STATUS_TIMEOUT = 1,
  // A required pointer was NULL (or a buffer pointer was NULL with a non-zero length).
  GEARLET_STATUS_NULL_ARGUMENT = 2,
  // An argument was out of its range (unknown priority or flag bits, bad address, ...).
  GEARLET_STATUS_INVALID_ARGUMENT = 3,
  // The handle is not a live handle of that type (freed, or another type).
  GEARLET_STATUS_INVALID_HANDLE = 4,
  // The handle was created before `fork()` and is used in the child process.
  GEARLET_STATUS_FORKED = 5,
  // gearlet panicked inside the call; the call did nothing visible (a bug: please report).
  GEARLET_STATUS_PANIC = 6,
  // The job was already completed, failed or raised an exception through this handle.
  GEARLET_STATUS_JOB_FINISHED = 7,
  // The server was reset or stopped while the call waited.
  GEARLET_STATUS_CLOSED = 8,
  // A function name was empty.
  GEARLET_STATUS_EMPTY_FUNCTION_NAME = 20,
  // A function name was longer than 512 bytes.
  GEARLET_STATUS_FUNCTION_NAME_TOO_LONG = 21,
  // A unique id was longer than 64 bytes.
  GEARLET_STATUS_UNIQUE_TOO_LARGE = 22,
  // A workload or result was larger than the server's maximum workload.
  GEARLET_STATUS_WORKLOAD_TOO_LARGE = 23,
  // The function's queue for that priority is at its `maxqueue` limit.
  GEARLET_STATUS_QUEUE_FULL = 24,
  // The submission asked for a registered worker and there is none.
  GEARLET_STATUS_NO_WORKER = 25,
  // No such job, or not a job this worker holds, or a handle of another server.
  GEARLET_STATUS_JOB_NOT_FOUND = 26,
  // The named function does not exist.
  GEARLET_STATUS_FUNCTION_NOT_FOUND = 27,
  // The function still has workers or jobs.
  GEARLET_STATUS_FUNCTION_IN_USE = 28,
  // An option the server does not know.
  GEARLET_STATUS_UNKNOWN_OPTION = 29,
  // The job ended with WORK_FAIL.
  GEARLET_STATUS_JOB_FAILED = 30,
  // The job ended with WORK_EXCEPTION.
  GEARLET_STATUS_JOB_EXCEPTION = 31,
  // The durable store could not write the job, which was not queued; or, from
  // `gearlet_server_new()`, the store could not be opened or read back.
  // `gearlet_last_error_message()` says why.
  GEARLET_STATUS_STORE_FAILED = 32,
  // A socket operation failed (see the log callback for the OS error text).
  GEARLET_STATUS_IO_ERROR = 40,
  // The address or unix socket path is in use.
  GEARLET_STATUS_ADDRESS_IN_USE = 41,
  // The OS refused the address or path (privileged port, directory permissions).
  GEARLET_STATUS_PERMISSION_DENIED = 42,
} gearlet_status;

// Kinds of client events; `GEARLET_EVENT_KIND_NONE` is only returned for a NULL event.
typedef enum gearlet_event_kind {
  // Not an event (NULL or invalid handle).
  GEARLET_EVENT_KIND_NONE = 0,
  // WORK_DATA: a chunk of streamed output.
  GEARLET_EVENT_KIND_DATA = 1,
  // WORK_WARNING.
  GEARLET_EVENT_KIND_WARNING = 2,
  // WORK_STATUS: progress numerator/denominator.
  GEARLET_EVENT_KIND_STATUS = 3,
  // WORK_COMPLETE with the result. Terminal.
  GEARLET_EVENT_KIND_COMPLETE = 4,
  // WORK_FAIL. Terminal.
  GEARLET_EVENT_KIND_FAIL = 5,
  // WORK_EXCEPTION with its data. Terminal.
  GEARLET_EVENT_KIND_EXCEPTION = 6,
} gearlet_event_kind;

// Severity of a message given to the log callback.
typedef enum gearlet_log_level {
  // Something failed (accept errors).
  GEARLET_LOG_LEVEL_ERROR = 0,
  // Something a peer did wrong (oversized packets).
  GEARLET_LOG_LEVEL_WARNING = 1,
  // Listeners opened and closed.
  GEARLET_LOG_LEVEL_INFO = 2,
} gearlet_log_level;

// Priorities for `gearlet_client_submit()`. Passed as an `int`: a value outside this list gets
// `GEARLET_STATUS_INVALID_ARGUMENT` rather than undefined behaviour.
typedef enum gearlet_priority {
  // SUBMIT_JOB_HIGH(_BG).
  GEARLET_PRIORITY_HIGH = 0,
  // SUBMIT_JOB(_BG).
  GEARLET_PRIORITY_NORMAL = 1,
  // SUBMIT_JOB_LOW(_BG).
  GEARLET_PRIORITY_LOW = 2,
} gearlet_priority;

// Bits of the `flags` argument of `gearlet_client_submit()`; unknown bits are refused so that
// new flags can be added without changing what old programs mean.
typedef enum gearlet_submit_flags {
  // No flag: a foreground job whose events reach this client.
  GEARLET_SUBMIT_FLAGS_NONE = 0,
  // A background job: nobody waits for it, and the client going away does not drop it.
  GEARLET_SUBMIT_FLAGS_BACKGROUND = 1,
  // Fail with `GEARLET_STATUS_NO_WORKER` if no worker has registered the function.
  GEARLET_SUBMIT_FLAGS_REQUIRE_WORKER = 2,
} gearlet_submit_flags;

// What the built-in SQLite store promises when it acknowledges a job. Passed as an `int`.
typedef enum gearlet_store_durability {
  // The job survives a power cut or a kernel crash (fsync per commit). The default.
  GEARLET_STORE_DURABILITY_FULL = 0,
  // The job survives the process dying, not the machine losing power (fsync at checkpoints).
  GEARLET_STORE_DURABILITY_OS = 1,
} gearlet_store_durability;

// An in-process client of a server: submits jobs and receives their events without a socket.
// Owned by the caller (`gearlet_client_new()` / `gearlet_client_free()`). Thread-safe: several
// threads may submit and wait on different jobs of one client at once (events are routed by job).
// It keeps the job core alive, so it may outlive its `gearlet_server`. Freeing it is the client
// going away: its queued foreground jobs that nobody else wants are dropped.
typedef struct gearlet_client gearlet_client;

// One event of a foreground job: streamed data, a warning, a status update, or its end
// (complete, fail, exception). Owned by the caller (`gearlet_event_free()`); immutable, so it may
// be read from any thread; independent of the client and server (it may outlive both).
typedef struct gearlet_event gearlet_event;

// A job held by an in-process worker. Owned by the caller (`gearlet_job_free()`); thread-safe
// (calls on one job are serialised), but must not be freed while another thread uses it. Its
// handle, function, unique and workload stay valid until it is freed, also after it is finished.
// Freeing an unfinished job gives it back to its queue (counted as a lost attempt, as a worker
// crash is). It may outlive its worker: results for a job its worker gave back are refused with
// `GEARLET_STATUS_JOB_NOT_FOUND`.
typedef struct gearlet_job gearlet_job;

// Settings for `gearlet_server_new()`, so that new knobs never change a function's signature.
// Owned by the caller (`gearlet_options_new()` / `gearlet_options_free()`); not thread-safe
// (setters change it in place): use it from one thread at a time. The server copies what it
// needs, so the options may be freed right after `gearlet_server_new()`.
typedef struct gearlet_options gearlet_options;

// An embedded Gearman job server: the job core plus, once a listener is opened, a socket layer
// with its own I/O threads. Owned by the caller (`gearlet_server_new()` /
// `gearlet_server_free()`). Thread-safe: every function may be called from any thread at once.
// Clients and workers made from it keep the job core alive, so they may outlive it (freeing the
// server closes its listeners and network connections; in-process handles keep working together).
typedef struct gearlet_server gearlet_server;

// A statistics snapshot taken by `gearlet_server_stats()`: owned by the caller, freed with
// `gearlet_stats_free()`. Immutable, so it may be read from several threads at once.
typedef struct gearlet_stats gearlet_stats;

// An in-process worker of a server: registers functions and grabs their jobs without a socket.
// Owned by the caller (`gearlet_worker_new()` / `gearlet_worker_free()`). Thread-safe. It keeps
// the job core alive, so it may outlive its `gearlet_server`. Freeing it is the worker going
// away: jobs it still holds go back to their queues (counted as a lost attempt).
typedef struct gearlet_worker gearlet_worker;

// Bytes gearlet allocated and the caller now owns: release them with `gearlet_buf_free()`, and do
// not change `data` or `len` before that. `data` is followed by a NUL byte not counted in `len`
// (handy for handles and admin text); the bytes themselves may contain NULs.
typedef struct gearlet_buf {
  // First byte; NULL after `gearlet_buf_free()`.
  const char *data;
  // Number of bytes.
  size_t len;
} gearlet_buf;

// GET_STATUS's answer, filled by `gearlet_client_status()`: plain data, no ownership.
typedef struct gearlet_job_status {
  // Non-zero if the server has the job.
  int known;
  // Non-zero if a worker holds it.
  int running;
  // Last WORK_STATUS numerator (0 before any).
  uint32_t numerator;
  // Last WORK_STATUS denominator (0 before any).
  uint32_t denominator;
  // Foreground clients waiting for it.
  uint32_t waiting;
} gearlet_job_status;

// A borrowed view of bytes that gearlet keeps alive (how long is said by the function that
// returns it). `data` is never NULL, even when `len` is 0; the bytes are not NUL-terminated in
// general and may contain NULs.
typedef struct gearlet_slice {
  // First byte.
  const char *data;
  // Number of bytes.
  size_t len;
} gearlet_slice;

// The log callback: `level`, the message as `(msg, len)` (also NUL-terminated), and the `user`
// pointer given with it. It may run on any gearlet thread, several at once, and must return
// quickly; it must not free or stop the server it logs for.
typedef void (*gearlet_log_fn)(enum gearlet_log_level level, const char *msg, size_t len, void *user);

// What happened to the jobs of one function and priority (or summed). `submitted` counts every
// accepted submission, `coalesced` those that joined a job already there; a job ends once as
// completed, failed (WORK_FAIL or out of attempts), exceptions, cancelled or dropped (its last
// foreground client left before it ran). `started` counts assignments, `retried` lost attempts
// put back in the queue.
typedef struct gearlet_job_counters {
  // Accepted submissions, coalesced ones included.
  uint64_t submitted;
  // Submissions that joined a job with the same unique.
  uint64_t coalesced;
  // Assignments to a worker.
  uint64_t started;
  // WORK_COMPLETE.
  uint64_t completed;
  // WORK_FAIL and jobs out of attempts.
  uint64_t failed;
  // WORK_EXCEPTION.
  uint64_t exceptions;
  // Lost attempts requeued.
  uint64_t retried;
  // Cancelled.
  uint64_t cancelled;
  // Dropped when their last client left.
  uint64_t dropped;
} gearlet_job_counters;

// A figure per transport.
typedef struct gearlet_per_transport {
  // In-process clients and workers (this library's handles).
  uint64_t in_process;
  // TCP connections.
  uint64_t tcp;
  // Unix socket connections.
  uint64_t unix_socket;
  // TLS connections.
  uint64_t tls;
} gearlet_per_transport;

// The server-wide figures of a snapshot.
typedef struct gearlet_stats_summary {
  // Milliseconds since the server was made.
  uint64_t uptime_ms;
  // Jobs held (queued, running, delayed).
  uint64_t jobs;
  // Functions in the snapshot (`gearlet_stats_function()` indexes 0 .. this).
  size_t functions;
  // Counters summed over every function (those that left the registry included), per
  // priority: 0 high, 1 normal, 2 low.
  struct gearlet_job_counters totals[3];
  // Sessions open now.
  struct gearlet_per_transport sessions;
  // Sessions open now with at least one registered function.
  struct gearlet_per_transport workers;
  // Sessions opened since start.
  struct gearlet_per_transport sessions_opened;
  // 1 if a durable store is attached.
  int32_t store_attached;
  // 1 if the attached store failed for good (background submissions refused).
  int32_t store_failed;
  // Jobs the store holds.
  uint64_t store_jobs;
} gearlet_stats_summary;

// A histogram of durations, with its quantiles worked out (seconds; -1 when empty).
typedef struct gearlet_histogram {
  // Counts per bucket (not cumulative): `GEARLET_HISTOGRAM_BUCKETS` finite ones and the
  // overflow bucket.
  uint64_t buckets[29];
  // Durations recorded.
  uint64_t count;
  // Their sum, in seconds.
  double sum_seconds;
  // Median, in seconds.
  double p50;
  // 90th percentile, in seconds.
  double p90;
  // 99th percentile, in seconds.
  double p99;
} gearlet_histogram;

// One function of a snapshot.
typedef struct gearlet_function_stats {
  // Its name (bytes from peers), valid until the snapshot is freed.
  struct gearlet_slice name;
  // Counters per priority: 0 high, 1 normal, 2 low.
  struct gearlet_job_counters counters[3];
  // Jobs queued now, per priority.
  uint64_t queued[3];
  // Jobs held by workers now.
  uint64_t running;
  // Jobs waiting for their run-at time or the store.
  uint64_t delayed;
  // Sessions that registered it.
  uint64_t workers;
  // Queue wait: from entering the queue to assignment.
  struct gearlet_histogram wait;
  // Run time: from assignment to the worker's result.
  struct gearlet_histogram run;
} gearlet_function_stats;

// A recurring schedule (SUBMIT_JOB_SCHED) as a store keeps it: each field is a value or -1 for
// any. Plain data.
typedef struct gearlet_schedule {
  // 0-59, or -1.
  int minute;
  // 0-23, or -1.
  int hour;
  // 1-31, or -1.
  int day_of_month;
  // 1-12, or -1.
  int month;
  // 0-6 with 0 = Monday (the protocol's convention), or -1.
  int day_of_week;
} gearlet_schedule;

// One background job (or schedule) as a store keeps it: given to a store's `add`, and handed
// back by its `replay` through `emit`. Plain data: the bytes it points to belong to whoever made
// it and are valid only during the call that passes it (a store copies what it keeps). Every
// `(pointer, len)` pair is binary-safe and not NUL-terminated.
typedef struct gearlet_stored_job {
  // The function name.
  const char *function;
  // Its length.
  size_t function_len;
  // What the job is found by, with the function, in `remove`: the unique when the job has
  // one, else a key gearlet made up (16 bytes starting with a NUL byte). Keep it as given.
  const char *key;
  // Its length.
  size_t key_len;
  // The unique as submitted: empty (none), `-` (coalesce on the workload), or the unique.
  const char *unique;
  // Its length.
  size_t unique_len;
  // The job's data.
  const char *workload;
  // Its length.
  size_t workload_len;
  // A `gearlet_priority` (0 high, 1 normal, 2 low).
  int priority;
  // Run-at Unix time of an epoch job; 0 means at once.
  uint64_t when;
  // The reducer of a SUBMIT_REDUCE_JOB_BACKGROUND; NULL when the job has none.
  const char *reducer;
  // Its length.
  size_t reducer_len;
  // Non-zero for a recurring schedule (kept until cancelled); `schedule` is then its times.
  int has_schedule;
  // Meaningful only when `has_schedule` is non-zero.
  struct gearlet_schedule schedule;
} gearlet_stored_job;

// The row of a finished job, given to a store's `remove`: (function, key) as it was added.
typedef struct gearlet_store_key {
  // The function name.
  const char *function;
  // Its length.
  size_t function_len;
  // The key the job was added with.
  const char *key;
  // Its length.
  size_t key_len;
} gearlet_store_key;

// What a store's `replay` calls once per kept job, in the order they were added, with the
// `emit_ctx` it was given: only during that `replay` call and on its thread. The job is copied
// before `emit` returns. Returns `GEARLET_STATUS_OK`, or `GEARLET_STATUS_NULL_ARGUMENT` /
// `GEARLET_STATUS_INVALID_ARGUMENT` for a malformed job (a NULL pointer with a non-zero length,
// a priority or schedule field out of range), which makes the whole replay, and so
// `gearlet_server_new()`, fail: the replay may go on or stop, the outcome is the same. A
// well-formed job the server cannot queue (an empty function name, ...) is left out and counted
// in `gearlet_replay_report.skipped`.
typedef enum gearlet_status (*gearlet_replay_emit_fn)(void *emit_ctx,
                                                      const struct gearlet_stored_job *job);

// A durable store written by the host: a struct of callbacks and the `user` pointer passed to
// each, copied by `gearlet_options_set_store_callbacks()`. Every callback but `free` and
// `abort` returns 0 on success and anything else on failure.
//
// Calls: `replay` runs once, inside `gearlet_server_new()`, before the server serves anyone.
// Then gearlet's store thread writes batches: `add` and `remove` calls in the order the jobs
// were submitted and finished, then `flush`, the durability point: a batch's jobs are
// acknowledged to their submitters only after `flush` succeeds. A failing call fails the whole
// batch: `abort` is called (a transactional store rolls back), the batch's jobs are not queued
// and their submitters get `GEARLET_STATUS_STORE_FAILED`, and its removes are tried again with
// the next batch. Callbacks run one at a time, with no gearlet lock held, but not always on the
// same thread; they may block (that delays acknowledgements, nothing else). They must not free
// the server they store for, nor make a call that waits for its store (a background submit to
// it): that call would wait for the callback that makes it.
//
// Ownership: see `gearlet_options_set_store_callbacks()`; `free(user)` is called exactly once.
typedef struct gearlet_store_callbacks {
  // Passed as is to every callback.
  void *user;
  // Required. Keeps `n` jobs (`jobs[0..n]`); a job whose (function, key) is kept already
  // replaces it.
  int (*add)(void *user, const struct gearlet_stored_job *jobs, size_t n);
  // Required. Forgets the rows of `n` keys; a missing row is not an error.
  int (*remove)(void *user, const struct gearlet_store_key *keys, size_t n);
  // Optional. Makes every add and remove since the last flush durable. Without it, a store is
  // taken to be durable when `add` and `remove` return.
  int (*flush)(void *user);
  // Optional. Discards what the failed batch wrote, if the store can.
  void (*abort)(void *user);
  // Required. Calls `emit(emit_ctx, &job)` for every kept job, in the order they were added.
  int (*replay)(void *user, gearlet_replay_emit_fn emit, void *emit_ctx);
  // Optional. Why the last callback failed, as a NUL-terminated text valid until the next
  // callback (or NULL): called right after a failure, and copied into the error the
  // submitter gets.
  const char *(*last_error)(void *user);
  // Optional. Releases `user`; called exactly once, after every other callback.
  void (*free)(void *user);
} gearlet_store_callbacks;

// What a server's store held when it started, filled by `gearlet_server_replay_report()`.
typedef struct gearlet_replay_report {
  // Jobs and schedules queued again.
  uint64_t restored;
  // Kept jobs the server could not queue (they stay in the store).
  uint64_t skipped;
  // How long the replay took, in microseconds.
  uint64_t elapsed_us;
} gearlet_replay_report;

// The library's version, e.g. "0.1.0": equal to `GEARLET_VERSION` of the header it was built
// with. A static NUL-terminated string; never free it.
const char *gearlet_version(void);

// A static, NUL-terminated English text for a status (an `int`, so any value is safe to pass;
// unknown numbers get "unknown status"). Never free it.
const char *gearlet_status_message(int status);

// Why the last failing gearlet call of this thread failed, as a NUL-terminated UTF-8 text: the
// detail when the call had one (`GEARLET_STATUS_STORE_FAILED` says what the store reported, e.g.
// "job store failed: add: disk full"), else the status's fixed message. Meaningful only right
// after a call returned a status other than `GEARLET_STATUS_OK`: successful calls leave it as it
// was. Owned by gearlet; valid until this thread's next failing gearlet call. Never NULL.
const char *gearlet_last_error_message(void);

// Frees the bytes of a `gearlet_buf` gearlet filled and sets it to `{NULL, 0}`, so freeing it
// twice is harmless. NULL, or a buf whose `data` is NULL, does nothing.
void gearlet_buf_free(struct gearlet_buf *buf);

// Makes an in-process client of `server`.
enum gearlet_status gearlet_client_new(const struct gearlet_server *server,
                                       struct gearlet_client **out);

// Frees a client (the client going away, see `gearlet_client`). NULL does nothing.
void gearlet_client_free(struct gearlet_client *client);

// Submits a job. `unique` may be `(NULL, 0)` for none; `"-"` coalesces on the workload.
// `priority` is a `gearlet_priority`; `flags` is a combination of `gearlet_submit_flags`.
// A foreground job's events reach this client (`gearlet_client_wait()`,
// `gearlet_client_next_event()`). On success the job handle is written to `handle_out` unless it
// is NULL (free it with `gearlet_buf_free()`).
enum gearlet_status gearlet_client_submit(const struct gearlet_client *client,
                                          const char *function,
                                          size_t function_len,
                                          const char *unique,
                                          size_t unique_len,
                                          const char *data,
                                          size_t data_len,
                                          int priority,
                                          uint32_t flags,
                                          struct gearlet_buf *handle_out);

// Waits up to `timeout_ms` for the end of one of this client's foreground jobs, consuming its
// earlier events (as the Rust `Client::wait`). On success `*out` is the terminal event (kind
// COMPLETE, FAIL or EXCEPTION); free it with `gearlet_event_free()`. On timeout
// (`GEARLET_STATUS_TIMEOUT`) the job is left running.
enum gearlet_status gearlet_client_wait(const struct gearlet_client *client,
                                        const char *handle,
                                        size_t handle_len,
                                        uint32_t timeout_ms,
                                        struct gearlet_event **out);

// Submits a normal-priority foreground job and waits up to `timeout_ms` for its end: the submit
// and `gearlet_client_wait()` in one call.
enum gearlet_status gearlet_client_call(const struct gearlet_client *client,
                                        const char *function,
                                        size_t function_len,
                                        const char *data,
                                        size_t data_len,
                                        uint32_t timeout_ms,
                                        struct gearlet_event **out);

// The next event of any of this client's foreground jobs, in the order the workers sent them,
// waiting up to `timeout_ms`. Free it with `gearlet_event_free()`.
enum gearlet_status gearlet_client_next_event(const struct gearlet_client *client,
                                              uint32_t timeout_ms,
                                              struct gearlet_event **out);

// The next event of one foreground job of this client, waiting up to `timeout_ms`.
enum gearlet_status gearlet_client_next_event_of(const struct gearlet_client *client,
                                                 const char *handle,
                                                 size_t handle_len,
                                                 uint32_t timeout_ms,
                                                 struct gearlet_event **out);

// GET_STATUS by handle (any job of this server, not only this client's). An unknown handle is
// success with `known == 0`.
enum gearlet_status gearlet_client_status(const struct gearlet_client *client,
                                          const char *handle,
                                          size_t handle_len,
                                          struct gearlet_job_status *out);

// GET_STATUS_UNIQUE: by unique id, across functions (as gearmand).
enum gearlet_status gearlet_client_status_unique(const struct gearlet_client *client,
                                                 const char *unique,
                                                 size_t unique_len,
                                                 struct gearlet_job_status *out);

// Whether WORK_EXCEPTION reaches this client as an EXCEPTION event (non-zero, the default for
// in-process clients) or as a FAIL.
enum gearlet_status gearlet_client_set_exceptions(const struct gearlet_client *client, int on);

// Frees an event. NULL does nothing.
void gearlet_event_free(struct gearlet_event *event);

// The event's kind; `GEARLET_EVENT_KIND_NONE` for NULL or an invalid handle.
enum gearlet_event_kind gearlet_event_get_kind(const struct gearlet_event *event);

// The job handle the event belongs to (also NUL-terminated). Valid until the event is freed;
// empty for NULL.
struct gearlet_slice gearlet_event_handle(const struct gearlet_event *event);

// The payload of a DATA, WARNING, COMPLETE or EXCEPTION event (binary-safe; empty for the
// others). Valid until the event is freed.
struct gearlet_slice gearlet_event_data(const struct gearlet_event *event);

// A STATUS event's numerator (0 for other kinds).
uint32_t gearlet_event_numerator(const struct gearlet_event *event);

// A STATUS event's denominator (0 for other kinds).
uint32_t gearlet_event_denominator(const struct gearlet_event *event);

// Makes an options object holding gearmand's defaults.
enum gearlet_status gearlet_options_new(struct gearlet_options **out);

// Frees an options object. NULL does nothing.
void gearlet_options_free(struct gearlet_options *options);

// Job handles become `<prefix>:<n>` (default `H:<hostname>`, as gearmand; cut to 40 bytes).
// Must be valid UTF-8.
enum gearlet_status gearlet_options_set_handle_prefix(struct gearlet_options *options,
                                                      const char *prefix,
                                                      size_t prefix_len);

// A job is handed out at most this many times; the last lost attempt fails it. 0 = no limit.
enum gearlet_status gearlet_options_set_job_retries(struct gearlet_options *options,
                                                    uint32_t retries);

// How many sleeping workers one new job wakes; 0 = all (gearmand's default).
enum gearlet_status gearlet_options_set_worker_wakeup(struct gearlet_options *options,
                                                      uint32_t workers);

// Non-zero: network clients get WORK_EXCEPTION without asking (gearmand's `--exceptions`).
// In-process clients always get exceptions (see `gearlet_client_set_exceptions()`).
enum gearlet_status gearlet_options_set_exceptions_default(struct gearlet_options *options, int on);

// Largest workload or result accepted, in bytes (default 64 MiB). Must be > 0.
enum gearlet_status gearlet_options_set_max_workload(struct gearlet_options *options, size_t bytes);

// Largest packet a network peer may send, in bytes (default 64 MiB); a bigger one gets an
// ERROR and the connection is closed. Must be at least 12 (a packet header).
enum gearlet_status gearlet_options_set_max_packet(struct gearlet_options *options, uint32_t bytes);

// Socket-layer threads (default 1; 0 means 1). Started with the first listener.
enum gearlet_status gearlet_options_set_io_threads(struct gearlet_options *options,
                                                   uint32_t threads);

// How long, in microseconds, an I/O thread that runs out of work polls its sockets before it
// sleeps (at most: the spin adapts to the load and stops on an idle server). Default 50; 0
// sleeps at once. Spinning saves the wake-up a sleeping thread costs each packet (large on a
// VM), at the price of CPU time while connections are busy. At most 1,000,000.
enum gearlet_status gearlet_options_set_busy_poll_us(struct gearlet_options *options,
                                                     uint32_t micros);

// Non-zero: a submission for a function no worker has registered fails at once with
// `GEARLET_STATUS_NO_WORKER` (gearmand queues it).
enum gearlet_status gearlet_options_set_require_worker(struct gearlet_options *options, int on);

// Makes a server (no socket yet). `options` may be NULL for the defaults; they are copied, but
// store callbacks are moved into the server (see `gearlet_options_set_store_callbacks()`).
//
// With a store, the jobs it holds are queued again before this returns, and gearlet's store
// thread starts. If the store cannot be opened or read back, the call returns
// `GEARLET_STATUS_STORE_FAILED`, `gearlet_last_error_message()` says why (the file and the
// reason, the database, or what the callbacks reported), and no server is made. A PostgreSQL
// store without a server id is `GEARLET_STATUS_INVALID_ARGUMENT` (see
// `gearlet_options_set_store_server_id()`).
enum gearlet_status gearlet_server_new(const struct gearlet_options *options,
                                       struct gearlet_server **out);

// Stops the listeners and closes network connections at once (use `gearlet_server_stop()` first
// for a graceful stop), then closes the store, if any: its pending writes are made (with
// queue-on-shutdown, every queued background job), and store callbacks get their `free`. Then
// releases the handle. In-process clients and workers stay usable, except that their background
// submissions to a server whose store is closed fail with `GEARLET_STATUS_CLOSED`.
// NULL does nothing. In a forked child it only forgets the handle (the parent's threads and
// sockets are not the child's to stop).
void gearlet_server_free(struct gearlet_server *server);

// Listens on TCP. `host` is an IP address or a name (`"127.0.0.1"`, `"::1"`, `"localhost"`;
// the first address it resolves to is used); `port` 0 picks a free port. On success the bound
// port is written to `bound_port_out` if it is not NULL. Starts the I/O threads on first use.
enum gearlet_status gearlet_server_listen_tcp(const struct gearlet_server *server,
                                              const char *host,
                                              size_t host_len,
                                              uint16_t port,
                                              uint16_t *bound_port_out);

// Listens on TCP with TLS (1.3 and 1.2), as `gearlet_server_listen_tcp()` otherwise.
// `cert_path`: PEM certificate chain, the server's certificate first; `key_path`: its PEM
// private key, refused when readable by every user; `ca_path`: PEM CA certificates that client
// certificates must chain to (mutual TLS), or NULL with `ca_path_len` 0 for no client
// certificates. A missing, unreadable or mismatched file gets `GEARLET_STATUS_INVALID_ARGUMENT`
// and `gearlet_last_error_message()` names the file and the problem. Each connection's handshake
// runs in its own task and must complete within 10 s.
enum gearlet_status gearlet_server_listen_tls(const struct gearlet_server *server,
                                              const char *host,
                                              size_t host_len,
                                              uint16_t port,
                                              const char *cert_path,
                                              size_t cert_path_len,
                                              const char *key_path,
                                              size_t key_path_len,
                                              const char *ca_path,
                                              size_t ca_path_len,
                                              uint16_t *bound_port_out);

// Reads the certificate, key and CA files of every TLS listener again (what the `gearlet`
// binary does on SIGHUP). New connections get the new files; open ones keep their sessions. If
// a file is unusable, that listener keeps its previous settings and the call returns
// `GEARLET_STATUS_INVALID_ARGUMENT` with the reason in `gearlet_last_error_message()`.
enum gearlet_status gearlet_server_reload_tls(const struct gearlet_server *server);

// Listens on a unix-domain socket at `path`, with file permissions `mode` (e.g. 0660) unless it
// is 0. A stale socket file is replaced; a live one gets `GEARLET_STATUS_ADDRESS_IN_USE`.
enum gearlet_status gearlet_server_listen_unix(const struct gearlet_server *server,
                                               const char *path,
                                               size_t path_len,
                                               uint32_t mode);

// Stops accepting on every listener (a unix socket file is removed). Open connections stay.
enum gearlet_status gearlet_server_close_listeners(const struct gearlet_server *server);

// Graceful network stop: stop accepting, wait up to `timeout_ms` until no job is running, then
// close every connection and stop the I/O threads. In-process handles keep working, and a later
// listen starts the socket layer again.
enum gearlet_status gearlet_server_stop(const struct gearlet_server *server, uint32_t timeout_ms);

// Sets (or with NULL removes) the function that receives the server's log messages; without one
// gearlet logs nothing (it never writes to stderr). `user` is passed back as is, and must stay
// valid until the server is freed, even after the callback is replaced (a message may be in
// flight on another thread).
enum gearlet_status gearlet_server_set_log_callback(const struct gearlet_server *server,
                                                    gearlet_log_fn callback,
                                                    void *user);

// Answers one admin text command (`"status"`, `"workers"`, `"show jobs"`, `"maxqueue f 10"`,
// `"cancel job H:x:1"`, ...; no line ending) with exactly the bytes a socket peer would get,
// into `out` (free it with `gearlet_buf_free()`). Runs without a socket and without I/O threads.
enum gearlet_status gearlet_server_admin(const struct gearlet_server *server,
                                         const char *command,
                                         size_t command_len,
                                         struct gearlet_buf *out);

// Drops every job, function and registration (waiting clients get WORK_FAIL; workers holding
// jobs get `GEARLET_STATUS_JOB_NOT_FOUND` for their results). Handles stay valid. For tests.
enum gearlet_status gearlet_server_reset(const struct gearlet_server *server);

// Waits until the server holds no job (queued, running or delayed): `GEARLET_STATUS_OK`, or
// `GEARLET_STATUS_TIMEOUT` after `timeout_ms`.
enum gearlet_status gearlet_server_wait_idle(const struct gearlet_server *server,
                                             uint32_t timeout_ms);

// The number of jobs the server holds (queued, running or delayed).
enum gearlet_status gearlet_server_job_count(const struct gearlet_server *server, size_t *out);

// Cancels a job by handle (as the admin `cancel job`): it leaves at once and its clients get
// WORK_FAIL.
enum gearlet_status gearlet_server_cancel_job(const struct gearlet_server *server,
                                              const char *handle,
                                              size_t handle_len);

// Takes a snapshot of the statistics into `*out` (free it with `gearlet_stats_free()`). Costs
// one brief lock of each function; the job path never waits for it otherwise.
enum gearlet_status gearlet_server_stats(const struct gearlet_server *server,
                                         struct gearlet_stats **out);

// Frees a snapshot. NULL is ignored.
void gearlet_stats_free(struct gearlet_stats *stats);

// The server-wide figures of a snapshot.
enum gearlet_status gearlet_stats_get_summary(const struct gearlet_stats *stats,
                                              struct gearlet_stats_summary *out);

// Function number `index` (0 .. `gearlet_stats_summary.functions`, sorted by name) of a
// snapshot; `GEARLET_STATUS_INVALID_ARGUMENT` past the end. The name points into the snapshot.
enum gearlet_status gearlet_stats_function(const struct gearlet_stats *stats,
                                           size_t index,
                                           struct gearlet_function_stats *out);

// Servers made with these options keep their background jobs in the SQLite file at `path`
// (created if missing; gearmand's `libsqlite3` table, so gearmand's files are read as they are),
// and `gearlet_server_new()` queues the jobs it holds again. Each server opens the file itself:
// two live servers must not share one. Replaces the store chosen before: a PostgreSQL
// database, or store callbacks (calling their `free`). An empty path or one containing a NUL
// byte is `GEARLET_STATUS_INVALID_ARGUMENT`.
enum gearlet_status gearlet_options_set_store_path(struct gearlet_options *options,
                                                   const char *path,
                                                   size_t path_len);

// What the SQLite store of `gearlet_options_set_store_path()` promises: a
// `gearlet_store_durability` (default FULL). PostgreSQL (its own `synchronous_commit`) and store
// callbacks decide this themselves.
enum gearlet_status gearlet_options_set_store_durability(struct gearlet_options *options,
                                                         int durability);

// The most bytes the SQLite file of `gearlet_options_set_store_path()` may grow to; 0 (the
// default) means no limit but the disk's. Past it a write fails as on a full disk: its
// submissions get `GEARLET_STATUS_STORE_FAILED` and the server goes on; space freed by
// finished jobs is reused.
enum gearlet_status gearlet_options_set_store_max_bytes(struct gearlet_options *options,
                                                        uint64_t bytes);

// Non-zero: gearmand's `--store-queue-on-shutdown`. Nothing is written per job (background
// submissions are acknowledged at once, and a crash loses every job not stored before); the
// queued background jobs are written when the server is freed. Jobs read back at start stay
// stored until they finish. Applies to every kind of store.
enum gearlet_status gearlet_options_set_store_queue_on_shutdown(struct gearlet_options *options,
                                                                int on);

// Servers made with these options keep their background jobs in a store written by the caller
// (see `gearlet_store_callbacks`); `add`, `remove` and `replay` must not be NULL. The struct is
// copied. Replaces the store chosen before (a path, a PostgreSQL database, other callbacks).
// NULL removes any store from the options.
//
// Ownership of `callbacks->user`: on `GEARLET_STATUS_OK` it passes to gearlet, which calls
// `free(user)` exactly once: when the options are freed or given another store before a server
// took it, when `gearlet_server_new()` fails after taking it, or when the server that took it is
// freed (after writing its last batch). On any other status the caller keeps it. Only one server
// takes it: `gearlet_server_new()` with the same options again returns
// `GEARLET_STATUS_INVALID_ARGUMENT` until callbacks are set again.
enum gearlet_status gearlet_options_set_store_callbacks(struct gearlet_options *options,
                                                        const struct gearlet_store_callbacks *callbacks);

// What the server's store held when `gearlet_server_new()` read it back (all zeros without a
// store).
enum gearlet_status gearlet_server_replay_report(const struct gearlet_server *server,
                                                 struct gearlet_replay_report *out);

// Servers made with these options keep their background jobs in a PostgreSQL database that
// several servers (in this process or in others, on any machine) may share. `conninfo` is
// libpq's `key=value` form (`host=/run/postgresql dbname=jobs user=app`) or a `postgres://` /
// `postgresql://` URL; it is checked now (a malformed one is `GEARLET_STATUS_INVALID_ARGUMENT`,
// and `gearlet_last_error_message()` names the faulty option or position, never a password)
// and copied, so the same options can make a server again.
//
// Required with it: `gearlet_options_set_store_server_id()`. Optional:
// `gearlet_options_set_store_table()`, `_lease_ms()`, `_wait_ms()`, `_adopt()` and
// `_queue_on_shutdown()`; the SQLite settings (durability, max bytes) do not apply.
//
// `gearlet_server_new()` connects (waiting at most the conninfo's `connect_timeout`, default
// 5 s), creates gearlet's tables if missing, moves in the rows of gearmand's libpq table if
// there is one, takes this server's lease and queues the jobs stored under its id again. Then
// a background job is acknowledged once the transaction holding it commits, the lease is
// renewed every quarter of its length, and the jobs of a server whose lease expired are adopted
// (see `gearlet_options_set_store_adopt()`). A database that cannot be reached there makes
// `gearlet_server_new()` return `GEARLET_STATUS_STORE_FAILED`, with the host, port and
// database (never the password) in `gearlet_last_error_message()`.
//
// Replaces the store chosen before: a SQLite path, or store callbacks (calling their `free`).
enum gearlet_status gearlet_options_set_store_postgres(struct gearlet_options *options,
                                                       const char *conninfo,
                                                       size_t conninfo_len);

// The PostgreSQL store's id for servers made with these options: the owner of the rows they
// write. Required with `gearlet_options_set_store_postgres()` (without it `gearlet_server_new()`
// returns `GEARLET_STATUS_INVALID_ARGUMENT`): a server made again with the same id takes back
// the jobs stored under it, unless another server adopted them after its lease expired. Two
// live servers must never share an id; keep one that is stable across restarts of the same
// server and distinct between servers (`<host>:<port>` is what the `gearlet` binary uses).
// 1 to 200 letters, digits and `_.:@-`; anything else is `GEARLET_STATUS_INVALID_ARGUMENT`.
enum gearlet_status gearlet_options_set_store_server_id(struct gearlet_options *options,
                                                        const char *id,
                                                        size_t id_len);

// The store's table, as gearmand names it. PostgreSQL (default `queue`, gearmand's
// `--libpq-table`): gearlet keeps its jobs in `gearlet_<table>` and its leases in
// `gearlet_<table>_leases`, and moves the rows of gearmand's `<table>` in at start; servers
// that share their jobs use the same table. SQLite (default `gearman_queue`, gearmand's
// `--libsqlite3-table`): the table in the file. Store callbacks have none. 1 to 40 letters, digits and `_`, not starting
// with a digit (a name both stores accept); anything else is `GEARLET_STATUS_INVALID_ARGUMENT`.
enum gearlet_status gearlet_options_set_store_table(struct gearlet_options *options,
                                                    const char *table,
                                                    size_t table_len);

// How long, in milliseconds, a PostgreSQL server's lease lasts without renewal (default 10000,
// at least 100). It is renewed every quarter of it; once it has expired by the database's
// clock, another server sharing the database adopts the jobs stored under its id. Shorter: a
// dead server's jobs are served elsewhere sooner. But a live server cut off from the database
// for longer than its lease may see its jobs adopted while it still holds them, and such a job
// may then run twice (at least once, never lost).
enum gearlet_status gearlet_options_set_store_lease_ms(struct gearlet_options *options,
                                                       uint32_t ms);

// How long, in milliseconds, a batch of PostgreSQL writes is tried again while the database
// cannot be reached (a restart, a cut connection) before its background submissions get
// `GEARLET_STATUS_STORE_FAILED` (default 2000; 0 tries once). Writing a batch twice is
// harmless, so a retry never duplicates a job; the batch after a failed one connects again.
enum gearlet_status gearlet_options_set_store_wait_ms(struct gearlet_options *options, uint32_t ms);

// Non-zero (the default): a PostgreSQL server adopts the stored jobs of servers whose lease
// expired, queueing them as its own. Zero: it never does (its own jobs are still adopted by the
// others if it stops renewing its lease), e.g. for a server that must only run what it was
// given.
enum gearlet_status gearlet_options_set_store_adopt(struct gearlet_options *options, int on);

// Makes an in-process worker of `server`.
enum gearlet_status gearlet_worker_new(const struct gearlet_server *server,
                                       struct gearlet_worker **out);

// Frees a worker (the worker going away, see `gearlet_worker`). NULL does nothing.
void gearlet_worker_free(struct gearlet_worker *worker);

// Registers a function (CAN_DO). With `timeout_ms` > 0 (CAN_DO_TIMEOUT), a job of it held longer
// than that is taken back and counted as a lost attempt. Registering again updates the timeout.
enum gearlet_status gearlet_worker_register(const struct gearlet_worker *worker,
                                            const char *function,
                                            size_t function_len,
                                            uint32_t timeout_ms);

// Unregisters a function (CANT_DO); unknown names are ignored.
enum gearlet_status gearlet_worker_unregister(const struct gearlet_worker *worker,
                                              const char *function,
                                              size_t function_len);

// Unregisters every function (RESET_ABILITIES).
enum gearlet_status gearlet_worker_unregister_all(const struct gearlet_worker *worker);

// Sets the id the `workers` admin view shows (cut to 127 bytes).
enum gearlet_status gearlet_worker_set_id(const struct gearlet_worker *worker,
                                          const char *id,
                                          size_t id_len);

// Takes the next job of a registered function, high priority first, waiting up to `timeout_ms`
// (0 = only if one is queued now). `GEARLET_STATUS_TIMEOUT` when none came.
enum gearlet_status gearlet_worker_grab(const struct gearlet_worker *worker,
                                        uint32_t timeout_ms,
                                        struct gearlet_job **out);

// Frees a job; an unfinished one goes back to its queue. NULL does nothing.
void gearlet_job_free(struct gearlet_job *job);

// The job's handle (also NUL-terminated). Valid until the job is freed; empty for NULL.
struct gearlet_slice gearlet_job_handle(const struct gearlet_job *job);

// The job's function name. Valid until the job is freed.
struct gearlet_slice gearlet_job_function(const struct gearlet_job *job);

// The job's unique id as submitted (empty for none, `-` for a workload-keyed one).
struct gearlet_slice gearlet_job_unique(const struct gearlet_job *job);

// The job's workload (binary-safe). Valid until the job is freed.
struct gearlet_slice gearlet_job_workload(const struct gearlet_job *job);

// Streams a chunk of output to the job's clients (WORK_DATA).
enum gearlet_status gearlet_job_send_data(const struct gearlet_job *job,
                                          const char *data,
                                          size_t data_len);

// Sends a warning to the job's clients (WORK_WARNING).
enum gearlet_status gearlet_job_send_warning(const struct gearlet_job *job,
                                             const char *data,
                                             size_t data_len);

// Reports progress (WORK_STATUS); GET_STATUS shows the last one.
enum gearlet_status gearlet_job_send_status(const struct gearlet_job *job,
                                            uint32_t numerator,
                                            uint32_t denominator);

// Ends the job with a result (WORK_COMPLETE). The job handle must still be freed.
enum gearlet_status gearlet_job_complete(const struct gearlet_job *job,
                                         const char *data,
                                         size_t data_len);

// Ends the job failed (WORK_FAIL). The job handle must still be freed.
enum gearlet_status gearlet_job_fail(const struct gearlet_job *job);

// Ends the job with an exception (WORK_EXCEPTION): clients that take exceptions get the data,
// others a FAIL. The job handle must still be freed.
enum gearlet_status gearlet_job_exception(const struct gearlet_job *job,
                                          const char *data,
                                          size_t data_len);

