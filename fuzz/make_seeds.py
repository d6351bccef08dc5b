#!/usr/bin/env python3
"""Writes the checked-in seed corpus: fuzz/corpus/{packet,admin,core_ops}/.

Run from anywhere (python3 fuzz/make_seeds.py); it rewrites the files it owns and leaves others.
The core_ops encoding mirrors the decoder in fuzz/harness/core_ops.rs: one config byte, then per
operation a session byte, an operation byte (mod 20) and the operation's parameters. Change both
together.
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pkt(ptype, *args, magic=b"\0REQ"):
    data = b"\0".join(args)
    return magic + struct.pack(">II", ptype, len(data)) + data


def res(ptype, *args):
    return pkt(ptype, *args, magic=b"\0RES")


# ---- packet: real requests, responses, streams, and the edge cases of framing
P = {
    "can_do": pkt(1, b"reverse"),
    "cant_do": pkt(2, b"reverse"),
    "reset_abilities": pkt(3),
    "pre_sleep": pkt(4),
    "submit_job": pkt(7, b"reverse", b"", b"hello"),
    "grab_job": pkt(9),
    "work_status": pkt(12, b"H:x:1", b"1", b"2"),
    "work_complete": pkt(13, b"H:x:1", b"olleh"),
    "work_fail": pkt(14, b"H:x:1\0"),
    "get_status": pkt(15, b"H:x:1"),
    "echo_req": pkt(16, b"ping"),
    "submit_job_bg": pkt(18, b"f", b"u", b"data\0with\0nuls"),
    "submit_job_high": pkt(21, b"f", b"-", b"w"),
    "set_client_id": pkt(22, b"worker-1"),
    "can_do_timeout": pkt(23, b"f", b"1500"),
    "all_yours": pkt(24),
    "work_exception": pkt(25, b"H:x:1", b"boom"),
    "option_req": pkt(26, b"exceptions"),
    "work_data": pkt(28, b"H:x:1", b"chunk"),
    "work_warning": pkt(29, b"H:x:1", b"warn"),
    "grab_job_uniq": pkt(30),
    "submit_job_high_bg": pkt(32, b"f", b"", b""),
    "submit_job_low": pkt(33, b"f", b"u1", b"w"),
    "submit_job_low_bg": pkt(34, b"f", b"u1", b"w"),
    "submit_job_sched": pkt(35, b"f", b"u", b"5", b"", b"", b"", b"", b"w"),
    "submit_job_epoch": pkt(36, b"f", b"u", b"1700000000", b"w"),
    "submit_reduce_job": pkt(37, b"f", b"u", b"r", b"", b"w"),
    "submit_reduce_job_bg": pkt(38, b"f", b"u", b"r", b"", b"w"),
    "grab_job_all": pkt(39),
    "get_status_unique": pkt(41, b"u"),
    "res_job_created": res(8, b"H:x:1"),
    "res_job_assign_uniq": res(31, b"H:x:1", b"f", b"u", b"w"),
    "res_status_res": res(20, b"H:x:1", b"1", b"0", b"3", b"4"),
    "res_status_res_unique": res(42, b"u", b"1", b"1", b"1", b"2", b"7"),
    "res_error": res(19, b"INVALID_PACKET", b"too few"),
    "missing_args": pkt(7, b"reverse"),
    "unknown_type_0": pkt(0, b"x"),
    "unknown_type_99": pkt(99),
    "type_5": pkt(5),
    "too_large_header": b"\0REQ" + struct.pack(">II", 7, 0xFFFFFFF0),
    "bad_magic": b"\0RXQ" + struct.pack(">II", 7, 0),
    "partial_packet": pkt(7, b"f", b"", b"x" * 40)[:30],
    "worker_session": pkt(22, b"w") + pkt(1, b"f") + pkt(4) + pkt(9) + pkt(13, b"H:x:1", b"r"),
    "client_session": pkt(26, b"exceptions") + pkt(7, b"f", b"", b"w") + pkt(15, b"H:x:1"),
    "mixed_text": b"status\n" + pkt(16, b"x") + b"workers\r\n" + pkt(4),
    "nul_heavy": pkt(7, b"\0\0\0", b"\0", b"\0\0"),
}
for name, data in P.items():
    write("packet", name, data)

# ---- admin: every command, with the variants gearmand distinguishes
A = {
    "status": b"status\n",
    "workers": b"workers\r\n",
    "prioritystatus": b"prioritystatus\n",
    "show_jobs": b"show jobs\n",
    "show_unique_jobs": b"show unique jobs\n",
    "show_stats": b"show stats\nshow stats x\n",
    "show_unknown": b"show me\n",
    "cancel_job": b"cancel job H:host:12\n",
    "cancel_job_bad": b"cancel H:host:12 now\n",
    "cancel_job_empty": b"cancel job \n",
    "create_function": b"create function resize\n",
    "drop_function": b"drop function resize\r\n",
    "maxqueue_1": b"maxqueue f 10\n",
    "maxqueue_3": b"maxqueue f 1 -2 abc\n",
    "maxqueue_bare": b"maxqueue\n",
    "getpid_version_verbose": b"getpid\nversion\nverbose\n",
    "shutdown": b"shutdown graceful\nshutdown\nSHUTDOWN now\n",
    "case_and_spaces": b"StAtUs   x\n  workers\nMAXQUEUE  F  99999999999999999999999\n",
    "unknown": b"frobnicate \xff\x00\n",
    "many": b"status\nworkers\nshow jobs\nshow unique jobs\ncancel job H:a:1\nmaxqueue f 1 2 3\n",
}
for name, data in A.items():
    write("admin", name, data)

# ---- core_ops: short scenarios (see the decoder for the byte layout)
def op(s, code, *params):
    return bytes([s, code, *params])


def submit(s, f=0, prio=1, bg=False, epoch=0, unique=0, wl=0, burst=None):
    mode = (1 if bg else 0) | (epoch << 1) | (0x80 if burst else 0)
    b = op(s, 0, f, prio, mode, unique, wl)
    return b + (bytes([burst - 1]) if burst else b"")


def can_do(s, f=0, timeout=0):
    return op(s, 3, f, timeout)


grab = lambda s: op(s, 6)  # noqa: E731
sleep = lambda s: op(s, 8)  # noqa: E731
work = lambda s, how, pick=0: op(s, 9, how, pick)  # noqa: E731  how: 0 data .. 5 complete, 6 fail, 7 exception
cancel = lambda pick: op(0, 11, pick)  # noqa: E731
cancel_all = lambda f: op(0, 12, f)  # noqa: E731
reset = op(0, 16)
run_timers = op(0, 18)
drop_session = lambda s: op(s, 17)  # noqa: E731

C = {
    "round_trip": b"\0" + can_do(1) + sleep(1) + submit(0) + grab(1) + work(1, 0) + work(1, 3) + work(1, 5),
    "two_sleepers_woken_leaves": b"\0" + can_do(1) + can_do(2) + sleep(1) + sleep(2) + submit(0)
    + drop_session(1) + grab(2) + work(2, 5),
    "woken_cant_do": b"\0" + can_do(1) + can_do(2) + sleep(1) + sleep(2) + submit(3) + op(1, 4, 0)
    + grab(2) + grab(2),
    "coalesce": b"\0" + submit(0, unique=2) + submit(3, unique=2) + submit(2, unique=2, bg=True)
    + can_do(1) + grab(1) + work(1, 2) + work(1, 5),
    "workload_unique": b"\0" + submit(0, unique=1, wl=1) + submit(2, unique=1, wl=1)
    + submit(3, unique=1, wl=2) + can_do(1) + grab(1) + grab(1) + work(1, 6) + work(1, 5),
    "exceptions": b"\0" + op(0, 19, 1) + submit(0, unique=4) + submit(2, unique=4) + can_do(1)
    + grab(1) + work(1, 7),
    "epochs": b"\0" + submit(0, bg=True, epoch=1) + submit(0, bg=True, epoch=2)
    + submit(0, bg=True, epoch=3) + submit(0, bg=True, epoch=4) + can_do(1) + sleep(1)
    + run_timers + grab(1) + grab(1) + cancel(0),
    "retries_timeout": b"\x02" + can_do(1, timeout=2) + submit(0) + grab(1) + run_timers + grab(1)
    + run_timers + grab(1),
    "maxqueue_full": b"\0" + op(0, 15, 0, 1, 1, 1) + submit(0) + submit(0) + submit(2, prio=0)
    + submit(3, prio=2) + can_do(1) + grab(1),
    "reset_in_flight": b"\0" + can_do(1) + can_do(2, 1) + submit(0) + submit(3, f=1) + grab(1)
    + grab(2) + sleep(2) + reset + work(1, 5) + submit(0) + can_do(1) + grab(1),
    "drop_create_function": b"\0" + op(0, 14, 2) + op(0, 13, 2) + submit(0, f=2, bg=True)
    + op(0, 13, 2) + cancel(0) + op(0, 13, 2),
    "burst_cancel": b"\0" + submit(0, bg=True, burst=40) + submit(2, f=1, burst=20) + cancel_all(0)
    + cancel_all(1) + can_do(1) + grab(1),
    "held_by_leaver": b"\x01" + can_do(1) + submit(0) + grab(1) + drop_session(1) + can_do(2)
    + sleep(2) + grab(2) + work(2, 5),
    "reset_abilities": b"\0" + can_do(1) + op(1, 3, 1, 0) + op(1, 3, 2, 3) + sleep(1) + op(1, 5)
    + submit(0, f=2) + can_do(1, 2) + grab(1),
    "client_leaves": b"\0" + submit(0) + submit(0, unique=3) + submit(2, unique=3) + drop_session(0)
    + can_do(1) + grab(1) + drop_session(2),
    "foreign_result": b"\0" + can_do(1) + submit(0) + grab(1) + work(2, 5) + work(1, 5),
}
for name, data in C.items():
    write("core_ops", name, data)
