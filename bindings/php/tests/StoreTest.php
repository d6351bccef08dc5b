<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Client;
use Gearlet\GearletException;
use Gearlet\Job;
use Gearlet\Server;
use Gearlet\Worker;
use PHPUnit\Framework\TestCase;

use const Gearlet\GEARMAN_QUEUE_ERROR;
use const Gearlet\GEARMAN_SUCCESS;

/** The "store" option: background jobs kept in a SQLite file across servers. */
final class StoreTest extends TestCase
{
    private string $dir;

    protected function setUp(): void
    {
        $this->dir = sys_get_temp_dir() . '/gearlet-php-store-' . getmypid() . '-' . bin2hex(random_bytes(4));
        self::assertTrue(mkdir($this->dir));
    }

    protected function tearDown(): void
    {
        foreach (glob($this->dir . '/*') ?: [] as $f) {
            unlink($f);
        }
        rmdir($this->dir);
    }

    public function testBackgroundJobsComeBackInANewServer(): void
    {
        $db = $this->dir . '/q.db';
        $server = new Server(['store' => $db]);
        self::assertSame(0, $server->replayReport()['restored']);
        $client = new Client($server);
        self::assertNotSame('', $client->doLowBackground('resize', 'low one', 'img-1'));
        self::assertNotSame('', $client->doBackground('resize', 'normal two', 'img-2'));
        self::assertNotSame('', $client->doHighBackground('resize', "\0bin\xff", 'img-3'));
        self::assertSame(GEARMAN_SUCCESS, $client->returnCode());
        self::assertSame(3, $server->jobCount());
        unset($client);
        $server->free();
        self::assertFileExists($db);

        $server = new Server(['store' => $db, 'store_durability' => 'os']);
        $report = $server->replayReport();
        self::assertSame([3, 0], [$report['restored'], $report['skipped']]);
        $worker = new Worker($server);
        $worker->setTimeout(5000);
        $seen = [];
        $worker->addFunction('resize', function (Job $job) use (&$seen): string {
            $seen[] = [$job->functionName(), $job->unique(), $job->workload()];
            return 'done';
        });
        for ($i = 0; $i < 3; $i++) {
            self::assertTrue($worker->work());
        }
        // High first, then normal, then low: the priorities were kept.
        self::assertSame([
            ['resize', 'img-3', "\0bin\xff"],
            ['resize', 'img-2', 'normal two'],
            ['resize', 'img-1', 'low one'],
        ], $seen);
        unset($worker);
        $server->free();

        // The finished jobs were removed when the second server was freed.
        $server = new Server(['store' => $db]);
        self::assertSame(0, $server->replayReport()['restored']);
        self::assertSame(0, $server->jobCount());
    }

    public function testQueueOnShutdownWritesTheQueueWhenTheServerIsFreed(): void
    {
        $db = $this->dir . '/q.db';
        $server = new Server(['store' => $db, 'store_queue_on_shutdown' => true]);
        (new Client($server))->doBackground('f', 'kept', 'u');
        $server->free();
        $server = new Server(['store' => $db]);
        self::assertSame(1, $server->replayReport()['restored']);
    }

    public function testABackgroundJobTheStoreCannotWriteIsNotQueued(): void
    {
        // As small as the file gets: the pages the empty table needs, so a big job cannot fit.
        $server = new Server(['store' => $this->dir . '/q.db', 'store_max_bytes' => 1]);
        $client = new Client($server);
        self::assertSame('', $client->doBackground('f', str_repeat('x', 256 << 10), 'big'));
        self::assertSame(GEARMAN_QUEUE_ERROR, $client->returnCode());
        self::assertStringContainsString('job store failed', (string) $client->error());
        self::assertStringContainsString('full', (string) $client->error());
        self::assertSame(0, $server->jobCount());
        // The server goes on: a foreground job (never stored) runs.
        $worker = new Worker($server);
        $worker->addFunction('f', fn (Job $job): string => strtoupper($job->workload()));
        $client->setTimeout(5000);
        self::assertSame('FG', $client->doNormal('f', 'fg'));
    }

    public function testStoreInAnUnwritableDirectoryThrows(): void
    {
        // Root ignores permission bits: there the parent is a regular file, which no one can
        // create files in either.
        if (posix_geteuid() === 0) {
            $parent = $this->dir . '/not-a-dir';
            touch($parent);
        } else {
            $parent = $this->dir . '/read-only';
            mkdir($parent, 0500);
        }
        $db = "$parent/q.db";
        try {
            new Server(['store' => $db]);
            self::fail('no exception');
        } catch (GearletException $e) {
            self::assertSame(32, $e->getCode());
            self::assertStringContainsString($db, $e->getMessage());
            self::assertStringStartsWith('gearlet_server_new: store file', $e->getMessage());
        } finally {
            is_dir($parent) ? rmdir($parent) : unlink($parent);
        }
    }

    public function testStoreOptionsAreChecked(): void
    {
        try {
            new Server(['store' => $this->dir . '/q.db', 'store_durability' => 'fast']);
            self::fail('no exception');
        } catch (GearletException $e) {
            self::assertStringContainsString("'full' or 'os'", $e->getMessage());
        }
        $this->expectException(GearletException::class);
        $this->expectExceptionCode(3);
        new Server(['store' => '']);
    }
}
