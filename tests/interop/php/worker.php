<?php
// Usage: php worker.php PORT
// Registers: reverse, chunky, failer, thrower, hold. Prints "ready" once registered
// (to stdout, flushed) and "job <function> <workload>" per job. `hold` blocks on a line of stdin.
$port = (int)$argv[1];
$w = new GearmanWorker();
$w->addServer("127.0.0.1", $port);
$w->addFunction("reverse", function (GearmanJob $job) {
    return strrev($job->workload());
});
$w->addFunction("chunky", function (GearmanJob $job) {
    $job->sendData("part1");
    $job->sendStatus(1, 2);
    $job->sendData("part2");
    $job->sendStatus(2, 2);
    return "done:" . $job->workload();
});
$w->addFunction("failer", function (GearmanJob $job) {
    $job->sendFail();
    $job->setReturn(GEARMAN_WORK_FAIL);
    return null;
});
$w->addFunction("thrower", function (GearmanJob $job) {
    $job->sendException("bad thing");
    $job->setReturn(GEARMAN_WORK_EXCEPTION);
    return null;
});
$w->addFunction("hold", function (GearmanJob $job) {
    $job->sendStatus(1, 4);
    fwrite(STDOUT, "holding " . $job->unique() . "\n");
    fflush(STDOUT);
    $line = fgets(STDIN);  // the test releases the job by writing a line
    return "released:" . trim((string)$line);
});
fwrite(STDOUT, "ready\n");
fflush(STDOUT);
while (true) {
    $w->work();
    $rc = $w->returnCode();
    // a job that ended in WORK_FAIL/WORK_EXCEPTION makes work() report that code: keep going
    if (!in_array($rc, [GEARMAN_SUCCESS, GEARMAN_WORK_FAIL, GEARMAN_WORK_EXCEPTION, GEARMAN_WORK_ERROR], true)) {
        fwrite(STDOUT, "work error " . $w->returnCode() . " " . $w->error() . "\n");
        fflush(STDOUT);
        exit(1);
    }
}
