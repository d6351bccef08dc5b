<?php

declare(strict_types=1);

// The classic client, unchanged pecl gearman code: php thumbnail_client.php PORT in.jpg out.jpg
// sends the JPEG to the gearlet server of thumbnail_worker.php and writes the thumbnail.

[, $port, $in, $out] = $argv;
$client = new GearmanClient();
$client->addServer('127.0.0.1', (int) $port);
$client->setTimeout(30_000);
$thumb = $client->doNormal('thumbnail', (string) file_get_contents($in));
if ($client->returnCode() !== GEARMAN_SUCCESS) {
    fwrite(STDERR, 'thumbnail failed: ' . $client->error() . "\n");
    exit(1);
}
file_put_contents($out, $thumb);
echo "wrote $out (" . strlen($thumb) . " bytes)\n";
