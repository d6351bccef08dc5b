<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Client;
use Gearlet\Job;
use Gearlet\Server;
use Gearlet\Task;
use Gearlet\Worker;
use PHPUnit\Framework\TestCase;

use const Gearlet\GEARMAN_SUCCESS;
use const Gearlet\GEARMAN_TIMEOUT;
use const Gearlet\GEARMAN_WORK_FAIL;

/** addTask*() and runTasks() with the set*Callback family. */
final class TasksTest extends TestCase
{
    private Server $server;
    private Client $client;
    private Worker $worker;

    protected function setUp(): void
    {
        $this->server = new Server();
        $this->client = new Client($this->server);
        $this->client->setTimeout(5_000);
        $this->worker = new Worker($this->server);
        foreach (require __DIR__ . '/fixtures/functions.php' as $name => $fn) {
            $this->worker->addFunction($name, $fn);
        }
    }

    /** @return list<string> the events, recorded by every callback */
    private function record(): \ArrayObject
    {
        $log = new \ArrayObject();
        foreach (['Created', 'Data', 'Warning', 'Status', 'Complete', 'Exception', 'Fail'] as $name) {
            $this->client->{"set{$name}Callback"}(function (Task $t, $ctx) use ($log, $name): void {
                $log[] = sprintf('%s %s %s data=%s known=%d running=%d %d/%d', $name, $t->functionName(),
                    var_export($ctx, true), $t->data(), $t->isKnown(), $t->isRunning(), $t->taskNumerator(), $t->taskDenominator());
            });
        }
        return $log;
    }

    public function testCallbacksSeeEveryEventInOrder(): void
    {
        $log = $this->record();
        $t = $this->client->addTask('chunks', 'w', 'ctx');
        self::assertInstanceOf(Task::class, $t);
        self::assertSame('', $t->jobHandle(), 'submitted only by runTasks()');
        self::assertNotSame('', $t->unique(), 'a unique is generated when adding, as libgearman');
        self::assertTrue($this->client->runTasks());
        self::assertSame(GEARMAN_SUCCESS, $this->client->returnCode());
        self::assertSame([
            "Created chunks 'ctx' data= known=1 running=0 0/0",
            "Data chunks 'ctx' data=A known=1 running=1 0/0",
            "Warning chunks 'ctx' data=W known=1 running=1 0/0",
            "Status chunks 'ctx' data= known=1 running=1 1/2",
            "Data chunks 'ctx' data=B known=1 running=1 1/2",
            "Complete chunks 'ctx' data=R:w known=0 running=0 1/2",
        ], $log->getArrayCopy());
        // Unlike pecl's, the returned object is the one the callbacks saw and stays readable.
        self::assertStringStartsWith('H:', $t->jobHandle());
        self::assertSame('R:w', $t->data());
        self::assertSame(3, $t->dataSize());
        self::assertSame(GEARMAN_SUCCESS, $t->returnCode());
    }

    public function testManyTasksOfEveryKind(): void
    {
        $results = [];
        $this->client->setCompleteCallback(function (Task $t, $ctx) use (&$results): void { $results[$ctx] = $t->data(); });
        $failed = [];
        $this->client->setFailCallback(function (Task $t, $ctx) use (&$failed): void { $failed[] = $ctx; });
        $exceptions = [];
        $this->client->setExceptionCallback(function (Task $t, $ctx) use (&$exceptions): void { $exceptions[$ctx] = $t->data(); });
        $created = 0;
        $this->client->setCreatedCallback(function () use (&$created): void { $created++; });

        $this->client->addTask('reverse', 'abc', 'n');
        $this->client->addTaskHigh('reverse', 123, 'h');
        $this->client->addTaskLow('reverse', 4.5, 'l');
        $bg = $this->client->addTaskBackground('reverse', 'bg', 'b1');
        $this->client->addTaskHighBackground('reverse', 'bg', 'b2');
        $this->client->addTaskLowBackground('reverse', 'bg', 'b3');
        $this->client->addTask('fail', '', 'f');
        $this->client->addTask('exception', '', 'e');
        $this->client->addTask('unique', '', 'u', 'given-unique');
        self::assertTrue($this->client->runTasks());
        ksort($results);
        self::assertSame(['h' => '321', 'l' => '5.4', 'n' => 'cba', 'u' => 'given-unique'], $results);
        self::assertSame(['f'], $failed);
        self::assertSame(['e' => 'boom'], $exceptions);
        self::assertSame(9, $created);
        self::assertStringStartsWith('H:', $bg->jobHandle());
        self::assertTrue($this->drain(), "the background tasks are left for work()");
    }

    /** Background tasks are not waited for; the in-process worker may still hold them. */
    private function drain(): bool
    {
        $this->worker->setTimeout(100);
        while ($this->worker->work()) {
        }
        return $this->server->jobCount() === 0;
    }

    public function testACallbackReturnCodeStopsTheRun(): void
    {
        $completed = [];
        $this->client->setCompleteCallback(function (Task $t, $ctx) use (&$completed): int {
            $completed[] = $ctx;
            return GEARMAN_WORK_FAIL;
        });
        $this->client->addTask('reverse', 'a', 1);
        $this->client->addTask('reverse', 'b', 2);
        // As in pecl: true (WORK_FAIL is among the "ok" codes), returnCode() is what the callback said.
        self::assertTrue($this->client->runTasks());
        self::assertSame(GEARMAN_WORK_FAIL, $this->client->returnCode());
        self::assertSame([1], $completed);
        self::assertTrue($this->client->runTasks());
        self::assertSame([1, 2], $completed, 'the next runTasks() goes on with the rest');
        self::assertTrue($this->client->runTasks(), 'nothing left to run');
        self::assertSame([1, 2], $completed);
    }

    public function testTimeoutLeavesTasksRunning(): void
    {
        $this->client->setTimeout(30);
        $this->client->addTask('nobody-serves-this', 'x');
        self::assertFalse($this->client->runTasks());
        self::assertSame(GEARMAN_TIMEOUT, $this->client->returnCode());
        // A worker appears; the next run picks the task up.
        $late = new Worker($this->server);
        $late->addFunction('nobody-serves-this', fn (Job $j) => 'late');
        $done = null;
        $this->client->setCompleteCallback(function (Task $t) use (&$done): void { $done = $t->data(); });
        $this->client->setTimeout(5_000);
        self::assertTrue($this->client->runTasks());
        self::assertSame('late', $done);
    }

    public function testAddTaskStatus(): void
    {
        $handle = $this->client->doBackground('nobody', 'x');
        $seen = null;
        $this->client->setStatusCallback(function (Task $t, $ctx) use (&$seen): void {
            $seen = [$t->jobHandle(), $t->isKnown(), $t->isRunning(), $ctx];
        });
        $this->client->addTaskStatus($handle, 'c');
        self::assertTrue($this->client->runTasks());
        self::assertSame([$handle, true, false, 'c'], $seen);
    }

    public function testClearCallbacksAndContext(): void
    {
        $called = false;
        $this->client->setCompleteCallback(function () use (&$called): void { $called = true; });
        self::assertTrue($this->client->clearCallbacks());
        $this->client->addTask('reverse', 'x');
        self::assertTrue($this->client->runTasks());
        self::assertFalse($called);
        self::assertTrue($this->client->setContext('app'));
        self::assertSame('app', $this->client->context());
    }
}
