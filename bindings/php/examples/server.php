<?php

declare(strict_types=1);

// An embedded Gearman server for other processes: listens on TCP (port in argv[1], default a
// free one) and serves "reverse" with an in-process worker. Any Gearman client can submit:
//   php -r '$c = new GearmanClient(); $c->addServer("127.0.0.1", PORT); echo $c->doNormal("reverse", "abc");'
// Stops when stdin closes (Ctrl-D), so a supervisor or a test can end it cleanly.

require __DIR__ . '/../autoload.php';

use Gearlet\{Job, Server, Worker};

$server = new Server();
$port = $server->listenTcp('127.0.0.1', (int) ($argv[1] ?? 0));
echo "READY $port\n";

$worker = new Worker($server);
$worker->addFunction('reverse', fn (Job $job) => strrev($job->workload()));
$worker->setTimeout(200); // wake up now and then to look at stdin
while (true) {
    $worker->work();
    $read = [STDIN];
    $none = null;
    if (stream_select($read, $none, $none, 0) > 0 && fgets(STDIN) === false) {
        break;
    }
}
$server->stop(2_000); // let running jobs finish, then close connections
