<?php

declare(strict_types=1);

namespace Gearlet;

use FFI;
use FFI\CData;

/**
 * An in-process client, as pecl's GearmanClient: do*() submits one job and (in the foreground)
 * waits for its result; addTask*() + runTasks() run many with callbacks. Failures are reported
 * through returnCode() and error(), and the return values pecl gives for them ("" or false).
 *
 * While it waits, the client lets in-process Workers of the same Server take jobs that are
 * queued at that moment (on this thread), so a script that has only an in-process worker still
 * gets its doNormal() answered. Jobs may equally be served by socket workers of the server.
 *
 * Timeouts are milliseconds, -1 (the default) waiting forever, as pecl's setTimeout().
 */
final class Client
{
    use ReturnCodes;

    /** A blocking wait is cut into slices this long so that PHP signal handlers get to run. */
    private const SLICE_MS = 1000;
    /** How often a wait looks again for queued jobs when in-process workers could take them. */
    private const PUMP_SLICE_MS = 5;

    private const EVENT_DATA = 1;
    private const EVENT_WARNING = 2;
    private const EVENT_STATUS = 3;
    private const EVENT_COMPLETE = 4;
    private const EVENT_FAIL = 5;
    private const EVENT_EXCEPTION = 6;

    private const PRIORITY_HIGH = 0;
    private const PRIORITY_NORMAL = 1;
    private const PRIORITY_LOW = 2;
    private const FLAG_BACKGROUND = 1;

    private FFI $ffi;
    private Server $server;
    private ?CData $handle;
    private string $lastHandle = '';
    /** @var array{0: int, 1: int} */
    private array $lastStatus = [0, 0];
    private string $context = '';
    /** @var array<string, callable> event name => callback */
    private array $callbacks = [];
    /** @var list<Task> added and not yet submitted */
    private array $pending = [];
    /** @var array<string, Task> submitted foreground tasks by job handle */
    private array $running = [];

    public function __construct(Server $server)
    {
        $this->ffi = Native::ffi();
        $this->server = $server;
        $c = $this->ffi->new('gearlet_client *');
        Native::check($this->ffi->gearlet_client_new($server->native(), FFI::addr($c)), 'gearlet_client_new');
        $this->handle = $c;
    }

    /** The client going away: its foreground jobs nobody else waits for are dropped. */
    public function __destruct()
    {
        if ($this->handle !== null) {
            $this->ffi->gearlet_client_free($this->handle);
            $this->handle = null;
        }
    }

    /** An application value kept with the client (pecl's context()/setContext()). */
    public function context(): string
    {
        return $this->context;
    }

    public function setContext(string $data): bool
    {
        $this->context = $data;
        return true;
    }

    /** Always true: the server is in this process. Kept for code that health-checks with it. */
    public function ping(string $workload): bool
    {
        return $this->ok();
    }

    /** Runs a normal-priority job and returns its result ("" on failure, see returnCode()). */
    public function doNormal(string $function, string $workload, ?string $unique = null): string
    {
        return $this->doForeground($function, $workload, $unique, self::PRIORITY_NORMAL);
    }

    /** Runs a high-priority job and returns its result. */
    public function doHigh(string $function, string $workload, ?string $unique = null): string
    {
        return $this->doForeground($function, $workload, $unique, self::PRIORITY_HIGH);
    }

    /** Runs a low-priority job and returns its result. */
    public function doLow(string $function, string $workload, ?string $unique = null): string
    {
        return $this->doForeground($function, $workload, $unique, self::PRIORITY_LOW);
    }

    /** Queues a background job and returns its handle ("" on failure). */
    public function doBackground(string $function, string $workload, ?string $unique = null): string
    {
        return $this->submit($function, $workload, $unique, self::PRIORITY_NORMAL, true) ?? '';
    }

    /** Queues a high-priority background job and returns its handle. */
    public function doHighBackground(string $function, string $workload, ?string $unique = null): string
    {
        return $this->submit($function, $workload, $unique, self::PRIORITY_HIGH, true) ?? '';
    }

    /** Queues a low-priority background job and returns its handle. */
    public function doLowBackground(string $function, string $workload, ?string $unique = null): string
    {
        return $this->submit($function, $workload, $unique, self::PRIORITY_LOW, true) ?? '';
    }

    /** The handle of the last job a do*() call submitted. */
    public function doJobHandle(): string
    {
        return $this->lastHandle;
    }

    /**
     * The last WORK_STATUS the job of the last do*() call reported, as [numerator, denominator].
     *
     * @return array{0: int, 1: int}
     */
    public function doStatus(): array
    {
        return $this->lastStatus;
    }

    /**
     * GET_STATUS by handle: [known, running, numerator, denominator], as pecl.
     *
     * @return array{0: bool, 1: bool, 2: int, 3: int}
     */
    public function jobStatus(string $jobHandle): array
    {
        $st = $this->ffi->new('gearlet_job_status');
        $status = $this->ffi->gearlet_client_status($this->handle, $jobHandle, strlen($jobHandle), FFI::addr($st));
        return $this->statusArray($status, $st);
    }

    /**
     * GET_STATUS_UNIQUE: [known, running, numerator, denominator] of the job with that unique id.
     *
     * @return array{0: bool, 1: bool, 2: int, 3: int}
     */
    public function jobStatusByUniqueKey(string $uniqueKey): array
    {
        $st = $this->ffi->new('gearlet_job_status');
        $status = $this->ffi->gearlet_client_status_unique($this->handle, $uniqueKey, strlen($uniqueKey), FFI::addr($st));
        return $this->statusArray($status, $st);
    }

    /** Adds a normal-priority task for the next runTasks(). */
    public function addTask(string $functionName, string|int|float $workload, mixed $context = null, ?string $uniqueKey = null): Task|false
    {
        return $this->add($functionName, $workload, $context, $uniqueKey, self::PRIORITY_NORMAL, false);
    }

    public function addTaskHigh(string $functionName, string|int|float $workload, mixed $context = null, ?string $uniqueKey = null): Task|false
    {
        return $this->add($functionName, $workload, $context, $uniqueKey, self::PRIORITY_HIGH, false);
    }

    public function addTaskLow(string $functionName, string|int|float $workload, mixed $context = null, ?string $uniqueKey = null): Task|false
    {
        return $this->add($functionName, $workload, $context, $uniqueKey, self::PRIORITY_LOW, false);
    }

    public function addTaskBackground(string $functionName, string|int|float $workload, mixed $context = null, ?string $uniqueKey = null): Task|false
    {
        return $this->add($functionName, $workload, $context, $uniqueKey, self::PRIORITY_NORMAL, true);
    }

    public function addTaskHighBackground(string $functionName, string|int|float $workload, mixed $context = null, ?string $uniqueKey = null): Task|false
    {
        return $this->add($functionName, $workload, $context, $uniqueKey, self::PRIORITY_HIGH, true);
    }

    public function addTaskLowBackground(string $functionName, string|int|float $workload, mixed $context = null, ?string $uniqueKey = null): Task|false
    {
        return $this->add($functionName, $workload, $context, $uniqueKey, self::PRIORITY_LOW, true);
    }

    /** Adds a task that asks for a job's status; runTasks() passes it to the status callback. */
    public function addTaskStatus(string $jobHandle, mixed $context = null): Task
    {
        $task = new Task('', '', '', self::PRIORITY_NORMAL, false, $context, true);
        $task->created($jobHandle);
        $this->pending[] = $task;
        return $task;
    }

    /** Called for a task whose workload is sent; accepted for compatibility, never called here. */
    public function setWorkloadCallback(callable $function): bool
    {
        return $this->setCallback('workload', $function);
    }

    /** Called with (Task, context) when the server accepted a task. */
    public function setCreatedCallback(callable $function): bool
    {
        return $this->setCallback('created', $function);
    }

    /** Called for each WORK_DATA chunk; Task::data() is the chunk. */
    public function setDataCallback(callable $function): bool
    {
        return $this->setCallback('data', $function);
    }

    /** Called for each WORK_WARNING; Task::data() is the warning. */
    public function setWarningCallback(callable $function): bool
    {
        return $this->setCallback('warning', $function);
    }

    /** Called for each WORK_STATUS (and for addTaskStatus() answers). */
    public function setStatusCallback(callable $function): bool
    {
        return $this->setCallback('status', $function);
    }

    /** Called when a task completes; Task::data() is the result. */
    public function setCompleteCallback(callable $function): bool
    {
        return $this->setCallback('complete', $function);
    }

    /** Called when a task ends with WORK_EXCEPTION; Task::data() is the exception text. */
    public function setExceptionCallback(callable $function): bool
    {
        return $this->setCallback('exception', $function);
    }

    /** Called when a task fails. */
    public function setFailCallback(callable $function): bool
    {
        return $this->setCallback('fail', $function);
    }

    /** Removes every callback. */
    public function clearCallbacks(): bool
    {
        $this->callbacks = [];
        return true;
    }

    /**
     * Submits the added tasks (in the order they were added) and waits until every foreground
     * one ended, calling the callbacks on this thread. A callback that returns an int other than
     * GEARMAN_SUCCESS stops the run: returnCode() is that value and the rest continue on the next
     * runTasks(); as in pecl the return is still true for the GEARMAN_WORK_* codes. False with
     * GEARMAN_TIMEOUT if timeout() passed first (the tasks keep running).
     */
    public function runTasks(): bool
    {
        $deadline = $this->deadline();
        while ($this->pending !== []) {
            $task = array_shift($this->pending);
            if ($task->isStatusOnly()) {
                [$known, $running, $num, $den] = $this->jobStatus($task->jobHandle());
                $task->statusKnown($known, $running, $num, $den, $task->jobHandle());
                if (($stop = $this->callback('status', $task)) !== null) {
                    return $stop;
                }
                continue;
            }
            $handle = $this->submit($task->functionName(), $task->workload(), $task->unique(),
                $task->priority(), $task->isBackground());
            if ($handle === null) {
                $task->submitFailed($this->returnCode);
                return false;
            }
            $task->created($handle);
            if (!$task->isBackground()) {
                $this->running[$handle] = $task;
            }
            if (($stop = $this->callback('created', $task)) !== null) {
                return $stop;
            }
        }
        $event = $this->ffi->new('gearlet_event *');
        while ($this->running !== []) {
            $status = $this->waitEvent(null, $deadline, $event);
            if ($status !== Native::OK) {
                return $this->result($status);
            }
            try {
                $stop = $this->dispatch($event);
            } finally {
                $this->ffi->gearlet_event_free($event); // also when a callback throws
            }
            if ($stop !== null) {
                return $stop;
            }
        }
        return $this->ok();
    }

    /** Runs a foreground job to its end: WORK_DATA chunks are prepended to the result, as pecl. */
    private function doForeground(string $function, string $workload, ?string $unique, int $priority): string
    {
        $deadline = $this->deadline();
        $handle = $this->submit($function, $workload, $unique, $priority, false);
        if ($handle === null) {
            return '';
        }
        $this->lastStatus = [0, 0];
        $data = '';
        $event = $this->ffi->new('gearlet_event *');
        while (true) {
            $status = $this->waitEvent($handle, $deadline, $event);
            if ($status !== Native::OK) {
                $this->result($status);
                return '';
            }
            $kind = $this->ffi->gearlet_event_get_kind($event);
            $payload = Native::bytes($this->ffi->gearlet_event_data($event));
            if ($kind === self::EVENT_STATUS) {
                $this->lastStatus = [$this->ffi->gearlet_event_numerator($event), $this->ffi->gearlet_event_denominator($event)];
            }
            $this->ffi->gearlet_event_free($event);
            switch ($kind) {
                case self::EVENT_DATA:
                    $data .= $payload;
                    break;
                case self::EVENT_COMPLETE:
                    $this->ok();
                    return $data . $payload;
                case self::EVENT_FAIL:
                    $this->fail(GEARMAN_WORK_FAIL, 'GEARMAN_WORK_FAIL');
                    return '';
                case self::EVENT_EXCEPTION:
                    $this->fail(GEARMAN_WORK_EXCEPTION, $payload);
                    return '';
            }
        }
    }

    /**
     * Waits for the next event of one job ($handle) or of any job (null), pumping in-process
     * workers between short waits. Returns a gearlet status; on OK $event holds the event.
     *
     * In-process workers are pumped before each poll: when they can serve the job, its event is
     * then already there, and a poll never has to spin for a reply that only this thread can make.
     */
    private function waitEvent(?string $handle, ?int $deadline, CData $event): int
    {
        $ptr = FFI::addr($event);
        $last = false;
        while (true) {
            if ($this->server->pump()) {
                $wait = 0;
            } else {
                $wait = $this->server->hasPumpableWorkers() ? self::PUMP_SLICE_MS : self::SLICE_MS;
                if ($deadline !== null) {
                    $left = intdiv($deadline - hrtime(true) + 999_999, 1_000_000);
                    $last = $left <= 0; // one more look at what already arrived, then give up
                    $wait = max(0, min($wait, $left));
                }
            }
            $status = $handle === null
                ? $this->ffi->gearlet_client_next_event($this->handle, $wait, $ptr)
                : $this->ffi->gearlet_client_next_event_of($this->handle, $handle, strlen($handle), $wait, $ptr);
            if ($status !== Native::TIMEOUT || $last) {
                return $status;
            }
        }
    }

    /** Routes one event of runTasks() to its task and callback; non-null means "stop, return this". */
    private function dispatch(CData $event): ?bool
    {
        $handle = Native::bytes($this->ffi->gearlet_event_handle($event));
        $task = $this->running[$handle] ?? null;
        if ($task === null) {
            return null; // a job a timed-out doNormal() left behind
        }
        $payload = Native::bytes($this->ffi->gearlet_event_data($event));
        switch ($this->ffi->gearlet_event_get_kind($event)) {
            case self::EVENT_DATA:
                $task->progressed($payload);
                return $this->callback('data', $task);
            case self::EVENT_WARNING:
                $task->progressed($payload);
                return $this->callback('warning', $task);
            case self::EVENT_STATUS:
                $task->progressed('', $this->ffi->gearlet_event_numerator($event), $this->ffi->gearlet_event_denominator($event));
                return $this->callback('status', $task);
            case self::EVENT_COMPLETE:
                unset($this->running[$handle]);
                $task->ended($payload);
                return $this->callback('complete', $task);
            case self::EVENT_FAIL:
                unset($this->running[$handle]);
                $task->ended('');
                return $this->callback('fail', $task);
            case self::EVENT_EXCEPTION:
                unset($this->running[$handle]);
                $task->ended($payload);
                return $this->callback('exception', $task);
        }
        return null;
    }

    /**
     * Calls a task callback with (Task, context). An int return other than GEARMAN_SUCCESS stops
     * runTasks(): the result is what runTasks() returns (pecl's PHP_GEARMAN_CLIENT_RET_OK).
     */
    private function callback(string $name, Task $task): ?bool
    {
        $cb = $this->callbacks[$name] ?? null;
        if ($cb === null) {
            return null;
        }
        $ret = $cb($task, $task->context());
        if ($ret === null || (int) $ret === GEARMAN_SUCCESS) {
            return null;
        }
        $this->returnCode = (int) $ret;
        $this->error = 'stopped by the ' . $name . ' callback';
        return in_array($this->returnCode, [GEARMAN_SUCCESS, GEARMAN_PAUSE, GEARMAN_IO_WAIT, GEARMAN_WORK_STATUS,
            GEARMAN_WORK_DATA, GEARMAN_WORK_EXCEPTION, GEARMAN_WORK_WARNING, GEARMAN_WORK_FAIL], true);
    }

    private function add(string $function, string|int|float $workload, mixed $context, ?string $unique, int $priority, bool $background): Task
    {
        $task = new Task($function, (string) $workload, $unique ?? self::uuid(), $priority, $background, $context);
        $this->pending[] = $task;
        $this->ok();
        return $task;
    }

    /** Submits one job; its handle, or null with returnCode() set. */
    private function submit(string $function, string $workload, ?string $unique, int $priority, bool $background): ?string
    {
        // libgearman gives every job a unique id when the caller does not; workers see it.
        $unique ??= self::uuid();
        $buf = $this->ffi->new('gearlet_buf');
        $status = $this->ffi->gearlet_client_submit($this->handle, $function, strlen($function), $unique,
            strlen($unique), $workload, strlen($workload), $priority, $background ? self::FLAG_BACKGROUND : 0,
            FFI::addr($buf));
        if (!$this->result($status)) {
            return null;
        }
        $handle = Native::bytes($buf);
        $this->ffi->gearlet_buf_free(FFI::addr($buf));
        $this->lastHandle = $handle;
        return $handle;
    }

    /** @return array{0: bool, 1: bool, 2: int, 3: int} */
    private function statusArray(int $status, CData $st): array
    {
        if (!$this->result($status)) {
            return [false, false, 0, 0];
        }
        return [$st->known !== 0, $st->running !== 0, $st->numerator, $st->denominator];
    }

    private function setCallback(string $name, callable $function): bool
    {
        $this->callbacks[$name] = $function;
        return true;
    }

    /** A random RFC 4122 version-4 UUID, the form of the unique ids libgearman generates. */
    private static function uuid(): string
    {
        $b = random_bytes(16);
        $b[6] = chr((ord($b[6]) & 0x0f) | 0x40);
        $b[8] = chr((ord($b[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($b), 4));
    }
}
