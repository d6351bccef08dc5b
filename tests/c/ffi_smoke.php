<?php
// The flat header loads in PHP's FFI and the shared library answers through it: version, a status
// message, and an in-process round trip with binary payloads (PHP strings passed as const char*).
[, $header, $lib, $want] = $argv;
$ffi = FFI::cdef(file_get_contents($header), $lib);

// A `const char *` return value arrives as a PHP string.
$version = $ffi->gearlet_version();
if ($version !== $want) { fwrite(STDERR, "version $version != $want\n"); exit(1); }
if ($ffi->gearlet_status_message($ffi->GEARLET_STATUS_TIMEOUT) !== "timed out") { exit(1); }

function ok($s) { if ($s !== 0) { fwrite(STDERR, "status $s\n"); debug_print_backtrace(); exit(1); } }

$srv = $ffi->new("gearlet_server *");
ok($ffi->gearlet_server_new(null, FFI::addr($srv)));
$cl = $ffi->new("gearlet_client *");
$wk = $ffi->new("gearlet_worker *");
ok($ffi->gearlet_client_new($srv, FFI::addr($cl)));
ok($ffi->gearlet_worker_new($srv, FFI::addr($wk)));
ok($ffi->gearlet_worker_register($wk, "f", 1, 0));
$h = $ffi->new("gearlet_buf");
$payload = "a\0b";
ok($ffi->gearlet_client_submit($cl, "f", 1, null, 0, $payload, strlen($payload),
    $ffi->GEARLET_PRIORITY_LOW, 0, FFI::addr($h)));
$job = $ffi->new("gearlet_job *");
ok($ffi->gearlet_worker_grab($wk, 1000, FFI::addr($job)));
$w = $ffi->gearlet_job_workload($job);
if (FFI::string($w->data, $w->len) !== $payload) { fwrite(STDERR, "workload\n"); exit(1); }
ok($ffi->gearlet_job_complete($job, "r\0", 2));
$ffi->gearlet_job_free($job);
$ev = $ffi->new("gearlet_event *");
ok($ffi->gearlet_client_wait($cl, $h->data, $h->len, 1000, FFI::addr($ev)));
if ($ffi->gearlet_event_get_kind($ev) !== $ffi->GEARLET_EVENT_KIND_COMPLETE) { exit(1); }
$d = $ffi->gearlet_event_data($ev);
if (FFI::string($d->data, $d->len) !== "r\0") { fwrite(STDERR, "result\n"); exit(1); }
$ffi->gearlet_event_free($ev);
$ffi->gearlet_buf_free(FFI::addr($h));
$ffi->gearlet_worker_free($wk);
$ffi->gearlet_client_free($cl);
$ffi->gearlet_server_free($srv);
echo "ffi_smoke.php: ok (PHP " . PHP_VERSION . ", gearlet $version)\n";
