<?php

declare(strict_types=1);

namespace Gearlet;

use FFI;
use FFI\CData;

/**
 * An in-process worker, as pecl's GearmanWorker: addFunction() then work() in a loop.
 *
 * Worker functions run on the PHP thread that calls work() (PHP has no other), never on a gearlet
 * thread. A Client of the same Server that waits (doNormal, runTasks) also lets this worker take
 * jobs that are queued at that moment, so one PHP process can be both client and worker.
 *
 * Timeouts are milliseconds, -1 (the default) waiting forever, as pecl's setTimeout().
 */
final class Worker
{
    use ReturnCodes;

    /** A blocking wait is cut into slices this long so that PHP signal handlers get to run. */
    private const SLICE_MS = 1000;

    private FFI $ffi;
    private Server $server;
    private ?CData $handle;
    /** @var array<string, callable> */
    private array $functions = [];
    /** @var array<string, mixed> */
    private array $contexts = [];
    /** True while a worker function runs, so that a nested pump does not re-enter it. */
    private bool $busy = false;

    public function __construct(Server $server)
    {
        $this->ffi = Native::ffi();
        $this->server = $server;
        $w = $this->ffi->new('gearlet_worker *');
        Native::check($this->ffi->gearlet_worker_new($server->native(), FFI::addr($w)), 'gearlet_worker_new');
        $this->handle = $w;
        $server->attachWorker($this);
    }

    /** The worker going away: jobs it still holds go back to their queues. */
    public function __destruct()
    {
        if ($this->handle !== null) {
            $this->ffi->gearlet_worker_free($this->handle);
            $this->handle = null;
        }
    }

    /** Sets the id the admin "workers" view shows. */
    public function setId(string $id): bool
    {
        return $this->result($this->ffi->gearlet_worker_set_id($this->handle, $id, strlen($id)));
    }

    /**
     * Registers a function: $function(Job $job, mixed &$context) is called for each of its jobs,
     * and what it returns (cast to string; null = empty) is sent as the result unless it ended
     * the job itself. $context is passed by reference but starts from this value on every job,
     * as in pecl. $timeout (seconds, pecl's unit) > 0 lets the server take back a job held longer.
     */
    public function addFunction(string $functionName, callable $function, mixed $context = null, int $timeout = 0): bool
    {
        $ok = $this->result($this->ffi->gearlet_worker_register($this->handle, $functionName,
            strlen($functionName), max(0, $timeout) * 1000));
        if ($ok) {
            $this->functions[$functionName] = $function;
            $this->contexts[$functionName] = $context;
        }
        return $ok;
    }

    /** Stops taking jobs of one function (CANT_DO). */
    public function unregister(string $functionName): bool
    {
        unset($this->functions[$functionName], $this->contexts[$functionName]);
        return $this->result($this->ffi->gearlet_worker_unregister($this->handle, $functionName, strlen($functionName)));
    }

    /** Stops taking jobs of every function (RESET_ABILITIES). */
    public function unregisterAll(): bool
    {
        $this->functions = [];
        $this->contexts = [];
        return $this->result($this->ffi->gearlet_worker_unregister_all($this->handle));
    }

    /**
     * Waits for one job (up to timeout()) and runs its function. True if it ran and ended well.
     * False with returnCode() GEARMAN_TIMEOUT when no job came, GEARMAN_NO_REGISTERED_FUNCTIONS
     * without functions, GEARMAN_WORK_FAIL after setReturn(GEARMAN_WORK_FAIL). An exception
     * thrown by the function is sent to the client as WORK_EXCEPTION (its message) and rethrown,
     * with returnCode() GEARMAN_WORK_EXCEPTION.
     */
    public function work(): bool
    {
        if ($this->functions === []) {
            return $this->fail(GEARMAN_NO_REGISTERED_FUNCTIONS, 'no functions have been registered');
        }
        $deadline = $this->deadline();
        while (true) {
            $wait = self::SLICE_MS;
            if ($deadline !== null) {
                $wait = (int) max(0, min(self::SLICE_MS, intdiv($deadline - hrtime(true) + 999_999, 1_000_000)));
            }
            $job = $this->ffi->new('gearlet_job *');
            $status = $this->ffi->gearlet_worker_grab($this->handle, $wait, FFI::addr($job));
            if ($status === Native::OK) {
                return $this->run(new Job($this->ffi, $job));
            }
            if ($status !== Native::TIMEOUT) {
                return $this->result($status);
            }
            if ($deadline !== null && hrtime(true) >= $deadline) {
                return $this->fail(GEARMAN_TIMEOUT, 'timeout reached');
            }
        }
    }

    /**
     * Runs one job if one is queued right now; used by a waiting Client of the same server.
     *
     * @internal
     */
    public function workIfQueued(): bool
    {
        if (!$this->canPump()) {
            return false;
        }
        $job = $this->ffi->new('gearlet_job *');
        if ($this->ffi->gearlet_worker_grab($this->handle, 0, FFI::addr($job)) !== Native::OK) {
            return false;
        }
        $this->run(new Job($this->ffi, $job));
        return true;
    }

    /** @internal true if this worker has functions and is not inside one of them */
    public function canPump(): bool
    {
        return !$this->busy && $this->functions !== [] && $this->handle !== null;
    }

    /** Runs the worker function for one job and sends its outcome, as pecl's work() does. */
    private function run(Job $job): bool
    {
        $name = $job->functionName();
        $function = $this->functions[$name] ?? null;
        if ($function === null) {
            // Registered through another handle or unregistered meanwhile: give it back.
            $job->release();
            return $this->fail(GEARMAN_INVALID_FUNCTION_NAME, "no function \"$name\" in this worker");
        }
        $context = $this->contexts[$name];
        $this->busy = true;
        try {
            $value = $function($job, $context);
        } catch (\Throwable $e) {
            if (!$job->isFinished()) {
                $job->sendException($e->getMessage());
            }
            $this->fail(GEARMAN_WORK_EXCEPTION, $e->getMessage());
            $job->release();
            throw $e;
        } finally {
            $this->busy = false;
        }
        try {
            $asked = $job->requestedReturn();
            if ($asked === GEARMAN_WORK_FAIL) {
                if (!$job->isFinished()) {
                    $job->sendFail();
                }
                return $this->fail(GEARMAN_WORK_FAIL, 'GEARMAN_WORK_FAIL');
            }
            if ($asked === GEARMAN_WORK_ERROR) {
                return $this->fail(GEARMAN_WORK_ERROR, 'the job goes back to its queue');
            }
            if (!$job->isFinished()) {
                $result = match (true) {
                    $value === null => '',
                    is_array($value) => 'Array',
                    is_bool($value) => $value ? '1' : '',
                    default => (string) $value,
                };
                if (!$job->sendComplete($result)) {
                    return $this->fail($job->returnCode(), 'could not send the result');
                }
            }
            return $this->ok();
        } finally {
            $job->release();
        }
    }
}
