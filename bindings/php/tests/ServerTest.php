<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Client;
use Gearlet\GearletException;
use Gearlet\Server;
use Gearlet\Worker;
use PHPUnit\Framework\TestCase;


/** The embedded server: listeners, admin views, reset, stop. */
final class ServerTest extends TestCase
{
    public function testVersion(): void
    {
        self::assertMatchesRegularExpression('/^\d+\.\d+\.\d+/', Server::version());
    }

    public function testListenTcpAndUnix(): void
    {
        $server = new Server(['handle_prefix' => 'H:php']);
        $port = $server->listenTcp('127.0.0.1', 0);
        self::assertGreaterThan(0, $port);
        $path = sys_get_temp_dir() . '/gearlet-php-' . getmypid() . '.sock';
        $server->listenUnix($path);
        self::assertSame(["tcp://127.0.0.1:$port", "unix://$path"], $server->addresses());

        $client = new Client($server);
        $client->doBackground('f', 'x');
        // Both sockets answer the admin protocol with what admin() returns in-process.
        foreach (["tcp://127.0.0.1:$port", "unix://$path"] as $address) {
            $text = self::statusOverSocket($address);
            self::assertSame($server->admin('status'), $text, $address);
            self::assertSame("f\t1\t0\t0\n.\n", $text);
        }

        $server->closeListeners();
        self::assertSame([], $server->addresses());
        self::assertFileDoesNotExist($path);
        self::assertFalse(@stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 1));
    }

    public function testAddressInUse(): void
    {
        $a = new Server();
        $port = $a->listenTcp('127.0.0.1', 0);
        $b = new Server();
        $this->expectException(GearletException::class);
        $this->expectExceptionCode(41);
        $b->listenTcp('127.0.0.1', $port);
    }

    public function testStatusViewsResetAndCancel(): void
    {
        $server = new Server(['handle_prefix' => 'H:t', 'job_retries' => 2]);
        $client = new Client($server);
        $worker = new Worker($server);
        $worker->addFunction('f', fn () => 'x');
        $worker->setId('w1');
        $h = $client->doBackground('f', 'x');
        self::assertStringStartsWith('H:t:', $h);
        self::assertSame(['f' => ['queued' => 1, 'running' => 0, 'workers' => 1]], $server->status());
        self::assertArrayHasKey($h, $server->jobs());
        self::assertSame(1, $server->jobCount());
        self::assertFalse($server->waitIdle(10));

        self::assertTrue($server->cancelJob($h));
        self::assertFalse($server->cancelJob($h));
        self::assertSame(0, $server->jobCount());
        self::assertTrue($server->waitIdle(10));

        $client->doBackground('f', 'y');
        $server->reset();
        self::assertSame([], $server->status());
        self::assertSame(0, $server->jobCount());
        // Handles stay valid after a reset.
        $worker->addFunction('f', fn () => 'after reset');
        self::assertSame('after reset', $client->doNormal('f', ''));
    }

    public function testResetFailsWaitingTasks(): void
    {
        $server = new Server();
        $client = new Client($server);
        $client->setTimeout(5_000);
        $failed = false;
        $client->setFailCallback(function () use (&$failed): void { $failed = true; });
        $client->setCreatedCallback(function () use ($server): void { $server->reset(); });
        $client->addTask('nobody', 'x');
        self::assertTrue($client->runTasks());
        self::assertTrue($failed);
    }

    public function testStopThenListenAgainAndFree(): void
    {
        $server = new Server();
        $server->listenTcp();
        $server->stop(1_000);
        self::assertSame([], $server->addresses());
        $port = $server->listenTcp();
        self::assertGreaterThan(0, $port);

        $client = new Client($server);
        $worker = new Worker($server);
        $worker->addFunction('f', fn () => 'still here');
        $server->free();
        $server->free();
        // In-process handles outlive the native server.
        self::assertSame('still here', $client->doNormal('f', ''));
        self::assertFalse(@stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 1));
        $this->expectException(GearletException::class);
        $server->listenTcp();
    }

    /** Both ways of waiting for the network (spin first, or sleep at once) serve the same bytes. */
    public function testBusyPollOption(): void
    {
        foreach ([0, 50] as $micros) {
            $server = new Server(['busy_poll_us' => $micros]);
            $port = $server->listenTcp('127.0.0.1', 0);
            $client = new Client($server);
            $client->doBackground('f', 'x');
            for ($i = 0; $i < 10; $i++) {
                $text = self::statusOverSocket("tcp://127.0.0.1:$port");
                self::assertSame("f\t1\t0\t0\n.\n", $text, "busy_poll_us=$micros");
            }
            $server->free();
        }
        $this->expectException(GearletException::class);
        $this->expectExceptionCode(3);
        new Server(['busy_poll_us' => 2000000]);
    }

    /** Sends the admin `status` command over a new connection and returns the reply up to its "." line. */
    private static function statusOverSocket(string $address): string
    {
        $sock = stream_socket_client($address, $errno, $errstr, 5);
        self::assertIsResource($sock, "$address: $errstr");
        stream_set_timeout($sock, 5);
        fwrite($sock, "status\n");
        $text = '';
        while (!str_ends_with($text, "\n.\n") && ($line = fgets($sock)) !== false) {
            $text .= $line;
        }
        fclose($sock);
        return $text;
    }

    public function testUnknownOption(): void
    {
        $this->expectException(GearletException::class);
        new Server(['no_such_option' => 1]);
    }
}
