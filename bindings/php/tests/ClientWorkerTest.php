<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Client;
use Gearlet\Job;
use Gearlet\Server;
use Gearlet\Worker;
use PHPUnit\Framework\TestCase;

use const Gearlet\GEARMAN_INVALID_ARGUMENT;
use const Gearlet\GEARMAN_NO_REGISTERED_FUNCTIONS;
use const Gearlet\GEARMAN_SUCCESS;
use const Gearlet\GEARMAN_TIMEOUT;
use const Gearlet\GEARMAN_WORK_ERROR;
use const Gearlet\GEARMAN_WORK_EXCEPTION;
use const Gearlet\GEARMAN_WORK_FAIL;

/** Client do*() and Worker work() in one process, with the return codes pecl gives. */
final class ClientWorkerTest extends TestCase
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
        $this->worker->setTimeout(1_000);
        foreach (require __DIR__ . '/fixtures/functions.php' as $name => $fn) {
            $this->worker->addFunction($name, $fn);
        }
    }

    public function testConstantsAreNamespacedAndHavePeclValues(): void
    {
        self::assertSame(0, GEARMAN_SUCCESS);
        self::assertSame(24, GEARMAN_WORK_FAIL);
        self::assertSame(47, GEARMAN_TIMEOUT);
        self::assertSame(35, \Gearlet\GEARMAN_NO_JOBS);
        if (extension_loaded('gearman')) {
            // Both sets coexist, with the same numbers.
            foreach (['GEARMAN_SUCCESS', 'GEARMAN_WORK_FAIL', 'GEARMAN_TIMEOUT', 'GEARMAN_NO_JOBS',
                'GEARMAN_WORK_EXCEPTION', 'GEARMAN_NO_REGISTERED_FUNCTIONS', 'GEARMAN_JOB_QUEUE_FULL'] as $name) {
                self::assertSame(constant($name), constant('Gearlet\\' . $name), $name);
            }
        }
    }

    public function testDoNormalWithAnInProcessWorker(): void
    {
        // The waiting client runs the in-process worker's function on this thread.
        self::assertSame('olleh', $this->client->doNormal('reverse', 'hello'));
        self::assertSame(GEARMAN_SUCCESS, $this->client->returnCode());
        self::assertFalse($this->client->error());
        self::assertStringStartsWith('H:', $this->client->doJobHandle());
        self::assertSame("\0b\xff", $this->client->doHigh('reverse', "\xffb\0"));
        self::assertSame('', $this->client->doLow('reverse', ''));
    }

    public function testDataChunksArePrependedToTheResult(): void
    {
        self::assertSame('ABR:x', $this->client->doNormal('chunks', 'x'));
        self::assertSame([1, 2], $this->client->doStatus());
    }

    public function testFailAndException(): void
    {
        self::assertSame('', $this->client->doNormal('fail', 'x'));
        self::assertSame(GEARMAN_WORK_FAIL, $this->client->returnCode());
        self::assertIsString($this->client->error());
        self::assertSame('', $this->client->doNormal('exception', 'x'));
        self::assertSame(GEARMAN_WORK_EXCEPTION, $this->client->returnCode());
    }

    public function testUniqueIsGeneratedOrPassedThrough(): void
    {
        self::assertSame('mine', $this->client->doNormal('unique', 'x', 'mine'));
        $generated = $this->client->doNormal('unique', 'x');
        self::assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $generated);
    }

    public function testReturnValueConversionsAndSetReturn(): void
    {
        $w = $this->worker;
        $w->addFunction('int', fn () => 42);
        $w->addFunction('null', fn () => null);
        $w->addFunction('complete-first', function (Job $j) {
            self::assertTrue($j->sendComplete('C'));
            self::assertTrue($j->sendComplete('again'), 'a send after the end succeeds, as in libgearman');
            return 'ignored';
        });
        $w->addFunction('setreturn-fail', function (Job $j) {
            $j->setReturn(GEARMAN_WORK_FAIL);
            return 'ignored';
        });
        self::assertSame('42', $this->client->doNormal('int', ''));
        self::assertSame('', $this->client->doNormal('null', ''));
        self::assertSame(GEARMAN_SUCCESS, $this->client->returnCode());
        self::assertSame('C', $this->client->doNormal('complete-first', ''));

        // Served by work() here, so the worker's own return code can be read.
        $h = $this->client->doBackground('setreturn-fail', '');
        self::assertFalse($w->work());
        self::assertSame(GEARMAN_WORK_FAIL, $w->returnCode());
        self::assertSame([false, false, 0, 0], $this->client->jobStatus($h));
    }

    public function testAThrowingFunctionSendsAnExceptionAndRethrows(): void
    {
        $this->worker->addFunction('throws', function (): string {
            throw new \DomainException('bad input');
        });
        $this->client->addTask('throws', 'x');
        $got = null;
        $this->client->setExceptionCallback(function ($t) use (&$got): void { $got = $t->data(); });
        try {
            $this->client->runTasks();
            self::fail('the exception should leave runTasks() through the pumped worker');
        } catch (\DomainException $e) {
            self::assertSame('bad input', $e->getMessage());
        }
        self::assertSame(GEARMAN_WORK_EXCEPTION, $this->worker->returnCode());
        // The client still gets the exception event on its next run.
        self::assertTrue($this->client->runTasks());
        self::assertSame('bad input', $got);
    }

    public function testWorkErrorGivesTheJobBack(): void
    {
        $attempts = 0;
        $this->worker->addFunction('retry', function (Job $j) use (&$attempts) {
            if (++$attempts === 1) {
                $j->setReturn(GEARMAN_WORK_ERROR);
                return null;
            }
            return "attempt $attempts";
        });
        self::assertSame('attempt 2', $this->client->doNormal('retry', ''));
    }

    public function testJobAccessorsAndStatus(): void
    {
        $seen = [];
        $this->worker->addFunction('inspect', function (Job $j, &$ctx) use (&$seen) {
            $ctx .= '+';
            $seen[] = [$j->functionName(), $j->workload(), $j->workloadSize(), $j->unique(), $j->handle(), $ctx];
            self::assertTrue($j->sendStatus(3, 4));
            self::assertSame([true, true, 3, 4], $this->client->jobStatus($j->handle()));
            self::assertSame([true, true, 3, 4], $this->client->jobStatusByUniqueKey('u-inspect'));
            return 'ok';
        }, 'ctx');
        $this->client->doNormal('inspect', 'payload', 'u-inspect');
        $this->client->doNormal('inspect', 'payload', 'u-inspect');
        self::assertSame('inspect', $seen[0][0]);
        self::assertSame('payload', $seen[0][1]);
        self::assertSame(7, $seen[0][2]);
        self::assertSame('u-inspect', $seen[0][3]);
        self::assertStringStartsWith('H:', $seen[0][4]);
        // The context starts from the registered value on every job, as in pecl.
        self::assertSame('ctx+', $seen[0][5]);
        self::assertSame('ctx+', $seen[1][5]);
    }

    public function testBackgroundJobsAndJobStatus(): void
    {
        $h1 = $this->client->doBackground('reverse', 'a');
        $h2 = $this->client->doHighBackground('reverse', 'b', 'bg-u');
        $h3 = $this->client->doLowBackground('reverse', 'c');
        foreach ([$h1, $h2, $h3] as $h) {
            self::assertStringStartsWith('H:', $h);
            self::assertSame([true, false, 0, 0], $this->client->jobStatus($h));
        }
        self::assertSame([true, false, 0, 0], $this->client->jobStatusByUniqueKey('bg-u'));
        self::assertSame([false, false, 0, 0], $this->client->jobStatusByUniqueKey('no-such'));
        self::assertSame([false, false, 0, 0], $this->client->jobStatus('H:nope:1'));
        self::assertSame(3, $this->server->jobCount());
        // High priority first.
        $order = [];
        $this->worker->addFunction('reverse', function (Job $j) use (&$order) {
            $order[] = $j->workload();
            return '';
        });
        for ($i = 0; $i < 3; $i++) {
            self::assertTrue($this->worker->work());
        }
        self::assertSame(['b', 'a', 'c'], $order);
        self::assertSame(0, $this->server->jobCount());
    }

    public function testTimeouts(): void
    {
        $this->client->setTimeout(50);
        self::assertSame(50, $this->client->timeout());
        $t0 = hrtime(true);
        self::assertSame('', $this->client->doNormal('nobody', 'x'));
        self::assertSame(GEARMAN_TIMEOUT, $this->client->returnCode());
        self::assertLessThan(2_000, (hrtime(true) - $t0) / 1e6);

        $this->worker->setTimeout(50);
        self::assertFalse($this->worker->work());
        self::assertSame(GEARMAN_TIMEOUT, $this->worker->returnCode());

        $lonely = new Worker($this->server);
        self::assertFalse($lonely->work());
        self::assertSame(GEARMAN_NO_REGISTERED_FUNCTIONS, $lonely->returnCode());
    }

    public function testInvalidArguments(): void
    {
        self::assertSame('', $this->client->doBackground('', 'x'));
        self::assertSame(GEARMAN_INVALID_ARGUMENT, $this->client->returnCode());
        self::assertSame('', $this->client->doNormal('reverse', 'x', str_repeat('u', 65)));
        self::assertSame(GEARMAN_INVALID_ARGUMENT, $this->client->returnCode());
        self::assertTrue($this->client->ping('x'));
    }

    public function testSetIdAndFreeingTheWorker(): void
    {
        self::assertTrue($this->worker->setId('php-worker-1'));
        $ids = array_column($this->server->workers(), 'id');
        self::assertContains('php-worker-1', $ids);
        self::assertSame(1, $this->server->status()['reverse']['workers']);
        unset($this->worker); // the native worker is freed with its PHP object
        gc_collect_cycles();
        self::assertSame(0, $this->server->status()['reverse']['workers']);
    }

    public function testUnregister(): void
    {
        self::assertTrue($this->worker->unregister('reverse'));
        self::assertSame(0, $this->server->status()['reverse']['workers']);
        self::assertTrue($this->worker->unregisterAll());
        self::assertFalse($this->worker->work());
        self::assertSame(GEARMAN_NO_REGISTERED_FUNCTIONS, $this->worker->returnCode());
    }
}
