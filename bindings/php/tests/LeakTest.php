<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Client;
use Gearlet\Job;
use Gearlet\Server;
use Gearlet\Task;
use Gearlet\Worker;
use PHPUnit\Framework\TestCase;

/**
 * 100,000 jobs through the binding, and neither PHP's heap nor the process's resident size grows.
 *
 * Every job crosses the whole path: submit (a gearlet_buf handle), the in-process worker takes it
 * (a gearlet_job with four copied views, a Job object), completes it, and the client reads the
 * event (a gearlet_event). A leaked handle of any of them is at least tens of bytes per job, so
 * megabytes over 100,000 jobs; the bounds below are far under that and far over the noise.
 * Figures are printed to stderr (LEAK lines) for the README.
 */
final class LeakTest extends TestCase
{
    private const JOBS = 100_000;
    private const WARMUP = 10_000;
    /** PHP heap growth allowed over the measured run: about 1 byte per job. */
    private const HEAP_BOUND = 128 * 1024;
    /** RSS growth allowed: allocator slack, far under one leaked handle per job (≥ 3 MB). */
    private const RSS_BOUND = 2 * 1024 * 1024;

    public function testDoNormalWithInProcessWorker(): void
    {
        $server = new Server();
        $worker = new Worker($server);
        $worker->addFunction('reverse', fn (Job $j) => strrev($j->workload()));
        $client = new Client($server);
        $client->setTimeout(5_000);
        $run = static function (int $n) use ($client): void {
            for ($i = 0; $i < $n; $i++) {
                if ($client->doNormal('reverse', "job $i") !== strrev("job $i")) {
                    throw new \RuntimeException("job $i: " . $client->error());
                }
            }
        };
        $this->measure('doNormal', $run);
        self::assertSame(0, $server->jobCount());
    }

    public function testTasksAndBackgroundJobs(): void
    {
        $server = new Server();
        $worker = new Worker($server);
        $worker->addFunction('reverse', fn (Job $j) => strrev($j->workload()));
        $worker->setTimeout(1_000);
        $client = new Client($server);
        $client->setTimeout(5_000);
        $done = 0;
        $client->setCompleteCallback(function (Task $t) use (&$done): void { $done++; });
        $run = static function (int $n) use ($client, $worker, &$done): void {
            // Half as tasks in batches of 100 (callbacks, Task objects), half as background jobs
            // served by work() (the worker's own loop).
            for ($i = 0; $i < $n / 2; $i += 100) {
                for ($k = 0; $k < 100; $k++) {
                    $client->addTask('reverse', "t$i.$k");
                }
                if (!$client->runTasks()) {
                    throw new \RuntimeException('runTasks: ' . $client->error());
                }
            }
            for ($i = 0; $i < $n / 2; $i++) {
                $client->doBackground('reverse', "b$i");
                if (!$worker->work()) {
                    throw new \RuntimeException('work: ' . $worker->error());
                }
            }
        };
        $this->measure('tasks+background', $run);
        self::assertSame(self::JOBS / 2 + self::WARMUP / 2, $done);
        self::assertSame(0, $server->jobCount());
    }

    /** @param callable(int): void $run */
    private function measure(string $what, callable $run): void
    {
        $run(self::WARMUP);
        gc_collect_cycles();
        $heap0 = memory_get_usage();
        $rss0 = self::rss();
        $t0 = hrtime(true);
        $run(self::JOBS);
        $seconds = (hrtime(true) - $t0) / 1e9;
        gc_collect_cycles();
        $heap = memory_get_usage() - $heap0;
        $rss = self::rss() - $rss0;
        fprintf(STDERR, "\nLEAK %s: %d jobs in %.2f s (%.1f us/job), heap %+d B, RSS %+d kB\n",
            $what, self::JOBS, $seconds, $seconds / self::JOBS * 1e6, $heap, intdiv($rss, 1024));
        self::assertLessThan(self::HEAP_BOUND, $heap, "$what: PHP heap grew by $heap bytes");
        self::assertLessThan(self::RSS_BOUND, $rss, "$what: RSS grew by $rss bytes");
    }

    /** The process's resident set size in bytes, from /proc. */
    private static function rss(): int
    {
        $status = (string) file_get_contents('/proc/self/status');
        if (!preg_match('/^VmRSS:\s+(\d+) kB/m', $status, $m)) {
            self::markTestSkipped('no /proc/self/status');
        }
        return (int) $m[1] * 1024;
    }
}
