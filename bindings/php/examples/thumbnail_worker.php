<?php

declare(strict_types=1);

// The thumbnail worker as a service: an embedded gearlet server on TCP (port argv[1], default a
// free one) whose in-process worker makes thumbnails for any Gearman client, e.g.
// thumbnail_client.php. Prints "READY <port>"; stops when stdin closes.

require __DIR__ . '/../autoload.php';

use Gearlet\{Server, Worker};

$server = new Server();
$port = $server->listenTcp('127.0.0.1', (int) ($argv[1] ?? 0));
$worker = new Worker($server);
$worker->addFunction('thumbnail', require __DIR__ . '/thumbnail_functions.php');
$worker->setTimeout(200);
echo "READY $port\n";
while (true) {
    $worker->work();
    $read = [STDIN];
    $none = null;
    if (stream_select($read, $none, $none, 0) > 0 && fgets(STDIN) === false) {
        break;
    }
}
$server->stop(2_000);
