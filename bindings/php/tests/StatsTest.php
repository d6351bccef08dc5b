<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Client;
use Gearlet\Job;
use Gearlet\Server;
use Gearlet\Worker;
use PHPUnit\Framework\TestCase;

/** Server::stats(): the statistics snapshot through the C ABI, every counter exact. */
final class StatsTest extends TestCase
{
    public function testCountersAndHistogramsMatchAScriptedWorkload(): void
    {
        $server = new Server(['handle_prefix' => 'H:stats']);
        $client = new Client($server);
        $client->doHighBackground('f', 'h1');
        $client->doBackground('f', 'n1');
        $client->doBackground('f', 'n2', 'k');
        $client->doBackground('f', 'n2', 'k'); // joins the job above
        $handle = $client->doLowBackground('f', 'l1');
        self::assertTrue($server->cancelJob($handle));

        $worker = new Worker($server);
        $worker->addFunction('f', static function (Job $job): string {
            if ($job->workload() === 'n1') {
                $job->sendFail();
            }
            return 'ok';
        });
        for ($i = 0; $i < 3; $i++) {
            $worker->work();
        }
        self::assertTrue($server->waitIdle(5000));

        $st = $server->stats();
        self::assertSame(['f'], array_keys($st['functions']));
        $f = $st['functions']['f'];
        // assertEquals: the same keys and values in any order (assertSame compares the order).
        $zero = ['submitted' => 0, 'coalesced' => 0, 'started' => 0, 'completed' => 0, 'failed' => 0,
            'exceptions' => 0, 'retried' => 0, 'cancelled' => 0, 'dropped' => 0];
        self::assertEquals(['submitted' => 1, 'started' => 1, 'completed' => 1] + $zero, $f['counters']['high']);
        self::assertEquals(['submitted' => 3, 'coalesced' => 1, 'started' => 2, 'completed' => 1, 'failed' => 1]
            + $zero, $f['counters']['normal']);
        self::assertEquals(['submitted' => 1, 'cancelled' => 1] + $zero, $f['counters']['low']);
        self::assertSame(['high' => 0, 'normal' => 0, 'low' => 0], $f['queued']);
        self::assertSame(1, $f['workers']);
        self::assertSame(3, $f['wait']['count']);
        self::assertSame(3, array_sum($f['run']['buckets']));
        self::assertCount(29, $f['run']['buckets']);
        self::assertNotNull($f['run']['p99']);
        self::assertSame(5, $st['totals']['normal']['submitted'] + $st['totals']['high']['submitted']
            + $st['totals']['low']['submitted']);
        self::assertSame(2, $st['sessions']['in_process']);
        self::assertSame(1, $st['workers']['in_process']);
        self::assertSame(0, $st['sessions']['tcp']);
        self::assertFalse($st['store_attached']);
        self::assertSame(0, $st['jobs']);
    }

    public function testAnEmptyServer(): void
    {
        $st = (new Server())->stats();
        self::assertSame([], $st['functions']);
        self::assertSame(0, $st['totals']['normal']['submitted']);
        self::assertGreaterThanOrEqual(0.0, $st['uptime']);
    }
}
