<?php
// Usage: php client.php PORT MODE
// Prints one line per observation; test_php.py asserts the output exactly.
$port = (int)$argv[1];
$mode = $argv[2];
$c = new GearmanClient();
$c->addServer("127.0.0.1", $port);
$c->setTimeout(10000);

function out($s) { fwrite(STDOUT, $s . "\n"); }
function rc($c) { return $c->returnCode() == GEARMAN_SUCCESS ? "SUCCESS" : ("rc=" . $c->returnCode()); }
function handle_ok($h) { return preg_match('/^\S+$/', $h) && strlen($h) < 64 ? "handle-ok" : "handle-bad:" . $h; }

switch ($mode) {
case "do":
    out("normal " . $c->doNormal("reverse", "hello") . " " . rc($c));
    out("high " . $c->doHigh("reverse", "high") . " " . rc($c));
    out("low " . $c->doLow("reverse", "low") . " " . rc($c));
    out("chunky " . $c->doNormal("chunky", "x") . " " . rc($c));
    break;

case "background":
    $h = $c->doBackground("reverse", "bg", "bg-unique-1");
    out("background " . handle_ok($h) . " " . rc($c));
    // ask (each jobStatus is a round trip to the server, bounded by the deadline) until the
    // worker has finished it
    $deadline = microtime(true) + 10;
    do {
        $st = $c->jobStatus($h);
    } while ($st[0] && microtime(true) < $deadline);
    out("after " . json_encode($st));
    break;

case "tasks":
    $events = [];
    $log = function ($what) use (&$events) {
        return function (GearmanTask $t) use (&$events, $what) {
            $line = $what . " " . $t->unique() . " ";
            if ($what == "status") {
                $line .= $t->taskNumerator() . "/" . $t->taskDenominator();
            } else {
                $line .= $t->data();
            }
            $events[$t->unique()][] = $line;
        };
    };
    $c->setCompleteCallback($log("complete"));
    $c->setDataCallback($log("data"));
    $c->setStatusCallback($log("status"));
    $c->setFailCallback($log("fail"));
    $c->setExceptionCallback($log("exception"));
    $c->setCreatedCallback(function (GearmanTask $t) use (&$events) {
        $events[$t->unique()][] = "created " . $t->unique() . " " . handle_ok($t->jobHandle());
    });
    $c->addTask("chunky", "c1", null, "u-chunky");
    $c->addTaskHigh("reverse", "abc", null, "u-high");
    $c->addTask("failer", "f", null, "u-fail");
    $c->addTask("thrower", "t", null, "u-exc");
    $c->addTaskBackground("reverse", "bgtask", null, "u-bg");
    $ok = $c->runTasks();
    out("runTasks " . ($ok ? "true" : "false") . " " . rc($c));
    ksort($events);
    foreach ($events as $u => $lines) {
        foreach ($lines as $l) out($l);
    }
    break;

case "status":
    // the `hold` worker is busy with this job until the test releases it
    $h = $c->doBackground("hold", "h", "uniq-hold");
    out("background " . handle_ok($h));
    $deadline = microtime(true) + 10;
    do {
        $st = $c->jobStatus($h);
    } while (!($st[1] && $st[2] == 1) && microtime(true) < $deadline);
    out("jobStatus " . json_encode($st));
    out("jobStatusByUniqueKey " . json_encode($c->jobStatusByUniqueKey("uniq-hold")));
    out("unknown " . json_encode($c->jobStatus("H:nosuch:1")));
    out("unknown-unique " . json_encode($c->jobStatusByUniqueKey("nosuch-unique")));
    break;

default:
    out("unknown mode");
    exit(2);
}
