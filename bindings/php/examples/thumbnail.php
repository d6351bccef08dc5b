<?php

declare(strict_types=1);

// The thumbnail example in one process: php thumbnail.php in.jpg out.jpg
// An in-process worker scales the image with Imagick; the client sends the JPEG and writes
// the thumbnail it gets back.

require __DIR__ . '/../autoload.php';

use Gearlet\{Client, Server, Worker};

[, $in, $out] = $argv;
$server = new Server();
$worker = new Worker($server);
$worker->addFunction('thumbnail', require __DIR__ . '/thumbnail_functions.php');

$client = new Client($server);
$thumb = $client->doNormal('thumbnail', (string) file_get_contents($in));
if ($client->returnCode() !== Gearlet\GEARMAN_SUCCESS) {
    fwrite(STDERR, 'thumbnail failed: ' . $client->error() . "\n");
    exit(1);
}
file_put_contents($out, $thumb);
echo "wrote $out (" . strlen($thumb) . " bytes)\n";
