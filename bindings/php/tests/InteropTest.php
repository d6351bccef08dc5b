<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Client;
use Gearlet\Server;
use Gearlet\Tests\Support\Child;
use PHPUnit\Framework\TestCase;

use const Gearlet\GEARMAN_SUCCESS;
use const Gearlet\GEARMAN_WORK_EXCEPTION;
use const Gearlet\GEARMAN_WORK_FAIL;

/**
 * gearlet and pecl gearman in two processes: each direction with the real extension on one side
 * and the FFI binding on the other, over TCP.
 *
 * @requires extension gearman
 */
final class InteropTest extends TestCase
{
    private ?Child $child = null;

    protected function tearDown(): void
    {
        $this->child?->close();
        $this->child = null;
    }

    /** A pecl GearmanClient here, a gearlet server and in-process worker in a child process. */
    public function testPeclClientAgainstEmbeddedServerInAnotherProcess(): void
    {
        $this->child = new Child(__DIR__ . '/fixtures/gearlet_server.php');
        $line = $this->child->readLine();
        self::assertMatchesRegularExpression('/^READY \d+$/', $line);
        $port = (int) substr($line, 6);

        $client = new \GearmanClient();
        $client->addServer('127.0.0.1', $port);
        $client->setTimeout(10_000);

        self::assertSame('olleh', $client->doNormal('reverse', 'hello'));
        self::assertSame(\GEARMAN_SUCCESS, $client->returnCode());
        self::assertSame("\0b\xff", $client->doNormal('reverse', "\xffb\0"), 'binary-safe over the wire');
        // pecl concatenates WORK_DATA chunks with the result; warnings are not part of it.
        self::assertSame('ABR:x', $client->doHigh('chunks', 'x'));
        self::assertSame('u-42', $client->doLow('unique', 'x', 'u-42'));

        self::assertSame('', $client->doNormal('fail', 'x'));
        self::assertSame(\GEARMAN_WORK_FAIL, $client->returnCode());
        self::assertSame('', $client->doNormal('exception', 'x'));
        self::assertSame(\GEARMAN_WORK_EXCEPTION, $client->returnCode());

        $handle = $client->doBackground('reverse', 'bg', 'bg-unique');
        self::assertSame(\GEARMAN_SUCCESS, $client->returnCode());
        self::assertStringStartsWith('H:', $handle);
        $status = $client->jobStatus($handle);
        self::assertCount(4, $status);

        // Tasks with callbacks, through the extension.
        $seen = [];
        $client->setCompleteCallback(function (\GearmanTask $t, $ctx) use (&$seen): void {
            $seen[$ctx] = $t->data();
        });
        $client->addTask('reverse', 'abc', 'one');
        $client->addTaskHigh('reverse', 'xyz', 'two');
        self::assertTrue($client->runTasks());
        ksort($seen);
        self::assertSame(['one' => 'cba', 'two' => 'zyx'], $seen);
    }

    /** A pecl GearmanWorker in a child process serves jobs submitted here in-process. */
    public function testPeclWorkerServesJobsSubmittedInProcess(): void
    {
        $server = new Server();
        $port = $server->listenTcp('127.0.0.1', 0);
        $this->child = new Child(__DIR__ . '/fixtures/pecl_worker.php', [(string) $port]);
        self::assertSame('READY', $this->child->readLine());

        $client = new Client($server);
        $client->setTimeout(10_000); // the job waits in the queue until the worker connects
        self::assertSame('olleh', $client->doNormal('reverse', 'hello'));
        self::assertSame(GEARMAN_SUCCESS, $client->returnCode());
        self::assertSame('ABR:y', $client->doNormal('chunks', 'y'));
        self::assertSame([1, 2], $client->doStatus());
        self::assertSame('my-unique', $client->doHigh('unique', 'x', 'my-unique'));
        // Without a unique, a generated one reaches the worker, as with libgearman.
        self::assertMatchesRegularExpression('/^[0-9a-f-]{36}$/', $client->doNormal('unique', 'x'));

        self::assertSame('', $client->doNormal('fail', 'x'));
        self::assertSame(GEARMAN_WORK_FAIL, $client->returnCode());
        self::assertSame('', $client->doLow('exception', 'x'));
        self::assertSame(GEARMAN_WORK_EXCEPTION, $client->returnCode());

        $events = [];
        $client->setDataCallback(function ($t) use (&$events): void { $events[] = 'data:' . $t->data(); });
        $client->setWarningCallback(function ($t) use (&$events): void { $events[] = 'warning:' . $t->data(); });
        $client->setStatusCallback(function ($t) use (&$events): void {
            $events[] = 'status:' . $t->taskNumerator() . '/' . $t->taskDenominator();
        });
        $client->setCompleteCallback(function ($t) use (&$events): void { $events[] = 'complete:' . $t->data(); });
        $client->addTask('chunks', 'z');
        self::assertTrue($client->runTasks());
        self::assertSame(['data:A', 'warning:W', 'status:1/2', 'data:B', 'complete:R:z'], $events);

        $handle = $client->doBackground('reverse', 'in the background');
        self::assertTrue($server->waitIdle(10_000), 'the network worker drains the background job');
        self::assertSame([false, false, 0, 0], $client->jobStatus($handle));
        $workers = $server->status()['reverse']['workers'] ?? 0;
        self::assertSame(1, $workers);
    }
}
