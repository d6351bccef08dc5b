<?php

declare(strict_types=1);

// One process, no socket: an in-process worker answers an in-process client's doNormal().
// The waiting client runs the worker's function on this thread.

require __DIR__ . '/../autoload.php'; // or vendor/autoload.php with composer

use Gearlet\{Client, Job, Server, Worker};

$server = new Server();
$worker = new Worker($server);
$worker->addFunction('reverse', fn (Job $job) => strrev($job->workload()));

$client = new Client($server);
echo $client->doNormal('reverse', 'Hello World!'), "\n"; // !dlroW olleH
