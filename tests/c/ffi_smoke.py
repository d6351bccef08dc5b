"""The flat header loads in Python's cffi and the shared library answers through it: version,
a status message, and an in-process round trip with binary payloads."""
import sys

import cffi

header, lib_path = sys.argv[1], sys.argv[2]
ffi = cffi.FFI()
ffi.cdef(open(header).read())
lib = ffi.dlopen(lib_path)

version = ffi.string(lib.gearlet_version()).decode()
assert version == sys.argv[3], (version, sys.argv[3])
assert ffi.string(lib.gearlet_status_message(lib.GEARLET_STATUS_TIMEOUT)) == b"timed out"

srv = ffi.new("gearlet_server **")
assert lib.gearlet_server_new(ffi.NULL, srv) == lib.GEARLET_STATUS_OK
cl = ffi.new("gearlet_client **")
wk = ffi.new("gearlet_worker **")
assert lib.gearlet_client_new(srv[0], cl) == 0
assert lib.gearlet_worker_new(srv[0], wk) == 0
assert lib.gearlet_worker_register(wk[0], b"f", 1, 0) == 0
h = ffi.new("gearlet_buf *")
payload = b"a\x00b"
assert lib.gearlet_client_submit(cl[0], b"f", 1, ffi.NULL, 0, payload, len(payload),
                                 lib.GEARLET_PRIORITY_HIGH, 0, h) == 0
job = ffi.new("gearlet_job **")
assert lib.gearlet_worker_grab(wk[0], 1000, job) == 0
w = lib.gearlet_job_workload(job[0])
assert ffi.unpack(w.data, w.len) == payload
assert lib.gearlet_job_complete(job[0], b"r\x00", 2) == 0
lib.gearlet_job_free(job[0])
ev = ffi.new("gearlet_event **")
assert lib.gearlet_client_wait(cl[0], h.data, h.len, 1000, ev) == 0
assert lib.gearlet_event_get_kind(ev[0]) == lib.GEARLET_EVENT_KIND_COMPLETE
d = lib.gearlet_event_data(ev[0])
assert ffi.unpack(d.data, d.len) == b"r\x00"
lib.gearlet_event_free(ev[0])
lib.gearlet_buf_free(h)
lib.gearlet_worker_free(wk[0])
lib.gearlet_client_free(cl[0])
lib.gearlet_server_free(srv[0])
print("ffi_smoke.py: ok (cffi %s, gearlet %s)" % (cffi.__version__, version))
