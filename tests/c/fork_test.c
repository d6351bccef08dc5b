/* fork() with a live server (I/O threads, listeners, held jobs): in the child every old handle
 * answers GEARLET_STATUS_FORKED and freeing them neither hangs nor touches the parent's state; the
 * child can make a server of its own. The parent carries on as if nothing happened. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int child(gearlet_server *srv, gearlet_client *c, gearlet_worker *w, gearlet_job *held) {
    /* Anything hanging here is a failure: the parent's watchdog kills us. */
    alarm(10);
    gearlet_job *job = NULL;
    gearlet_buf b = {NULL, 0};
    size_t n = 0;
    uint16_t port = 0;
    EXPECT(gearlet_client_submit(c, S("f"), NULL, 0, S("x"), GEARLET_PRIORITY_NORMAL, 0, &b),
           GEARLET_STATUS_FORKED);
    CHECK(b.data == NULL);
    EXPECT(gearlet_worker_grab(w, 100, &job), GEARLET_STATUS_FORKED);
    CHECK(job == NULL);
    EXPECT(gearlet_job_complete(held, S("from child")), GEARLET_STATUS_FORKED);
    EXPECT(gearlet_server_admin(srv, S("status"), &b), GEARLET_STATUS_FORKED);
    EXPECT(gearlet_server_job_count(srv, &n), GEARLET_STATUS_FORKED);
    EXPECT(gearlet_server_listen_tcp(srv, S("127.0.0.1"), 0, &port), GEARLET_STATUS_FORKED);
    EXPECT(gearlet_server_stop(srv, 0), GEARLET_STATUS_FORKED);
    EXPECT(gearlet_client_new(srv, &c), GEARLET_STATUS_FORKED);
    gearlet_job_free(held);
    gearlet_worker_free(w);
    gearlet_client_free(c);
    gearlet_server_free(srv);

    /* A server made in the child works. */
    gearlet_server *mine = NULL;
    gearlet_client *mc = NULL;
    gearlet_worker *mw = NULL;
    OK(gearlet_server_new(NULL, &mine));
    OK(gearlet_client_new(mine, &mc));
    OK(gearlet_worker_new(mine, &mw));
    OK(gearlet_worker_register(mw, S("g"), 0));
    OK(gearlet_client_submit(mc, S("g"), NULL, 0, S("y"), GEARLET_PRIORITY_NORMAL,
                             GEARLET_SUBMIT_FLAGS_BACKGROUND, NULL));
    OK(gearlet_worker_grab(mw, 1000, &job));
    OK(gearlet_job_complete(job, NULL, 0));
    gearlet_job_free(job);
    gearlet_worker_free(mw);
    gearlet_client_free(mc);
    gearlet_server_free(mine);
    return 0;
}

int main(void) {
    gearlet_server *srv = NULL;
    gearlet_client *c = NULL;
    gearlet_worker *w = NULL;
    OK(gearlet_server_new(NULL, &srv));
    uint16_t port = 0;
    OK(gearlet_server_listen_tcp(srv, S("127.0.0.1"), 0, &port));
    OK(gearlet_client_new(srv, &c));
    OK(gearlet_worker_new(srv, &w));
    OK(gearlet_worker_register(w, S("f"), 0));
    gearlet_buf h = {NULL, 0};
    OK(gearlet_client_submit(c, S("f"), NULL, 0, S("one"), GEARLET_PRIORITY_NORMAL, 0, &h));
    OK(gearlet_client_submit(c, S("f"), NULL, 0, S("two"), GEARLET_PRIORITY_NORMAL,
                             GEARLET_SUBMIT_FLAGS_BACKGROUND, NULL));
    gearlet_job *held = NULL;
    OK(gearlet_worker_grab(w, 1000, &held));

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        _exit(child(srv, c, w, held));
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fork_test: child failed (status %d)\n", status);
        return 1;
    }

    /* The parent's handles are untouched by the child. */
    OK(gearlet_job_complete(held, S("ONE")));
    gearlet_job_free(held);
    gearlet_event *ev = NULL;
    OK(gearlet_client_wait(c, h.data, h.len, 1000, &ev));
    CHECK(slice_eq(gearlet_event_data(ev), S("ONE")));
    gearlet_event_free(ev);
    gearlet_buf_free(&h);
    gearlet_job *job = NULL;
    OK(gearlet_worker_grab(w, 1000, &job));
    CHECK(slice_eq(gearlet_job_workload(job), S("two")));
    OK(gearlet_job_complete(job, NULL, 0));
    gearlet_job_free(job);
    OK(gearlet_server_wait_idle(srv, 1000));
    gearlet_worker_free(w);
    gearlet_client_free(c);
    OK(gearlet_server_stop(srv, 1000));
    gearlet_server_free(srv);
    printf("fork_test: ok\n");
    return 0;
}
