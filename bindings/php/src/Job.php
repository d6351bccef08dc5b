<?php

declare(strict_types=1);

namespace Gearlet;

use FFI;
use FFI\CData;

/**
 * A job handed to a worker function, as pecl's GearmanJob: read its workload, stream data,
 * warnings and status to the client, and end it with sendComplete/sendFail/sendException (or
 * by returning a value from the function, which Worker::work() sends as the result).
 *
 * Handle, function, unique and workload are copied into PHP strings when the job is taken, so
 * they stay readable after the worker function returned; the native job is released by
 * Worker::work() as soon as the function returns, so sends after that return false.
 */
final class Job
{
    private FFI $ffi;
    private ?CData $native;
    private string $handle;
    private string $function;
    private string $unique;
    private string $workload;
    private int $returnCode = GEARMAN_SUCCESS;
    /** What the worker function asked for with setReturn(); read by Worker after it returns. */
    private int $return = GEARMAN_SUCCESS;
    private bool $finished = false;

    /** @internal made by Worker from a grabbed gearlet_job; takes ownership of it. */
    public function __construct(FFI $ffi, CData $native)
    {
        $this->ffi = $ffi;
        $this->native = $native;
        $this->handle = Native::bytes($ffi->gearlet_job_handle($native));
        $this->function = Native::bytes($ffi->gearlet_job_function($native));
        $this->unique = Native::bytes($ffi->gearlet_job_unique($native));
        $this->workload = Native::bytes($ffi->gearlet_job_workload($native));
    }

    /** An unfinished job whose object goes away goes back to its queue (a lost attempt). */
    public function __destruct()
    {
        $this->release();
    }

    /** The job handle, e.g. "H:host:12". */
    public function handle(): string
    {
        return $this->handle;
    }

    /** The function name the job was submitted to. */
    public function functionName(): string
    {
        return $this->function;
    }

    /** The unique id the client gave or generated ("" if none). */
    public function unique(): string
    {
        return $this->unique;
    }

    /** The workload, binary-safe. */
    public function workload(): string
    {
        return $this->workload;
    }

    /** The workload's length in bytes. */
    public function workloadSize(): int
    {
        return strlen($this->workload);
    }

    /** The return code of the last send*() call. */
    public function returnCode(): int
    {
        return $this->returnCode;
    }

    /**
     * Sets what the worker function's outcome is, as pecl: GEARMAN_WORK_FAIL (= GEARMAN_FATAL)
     * makes work() send WORK_FAIL and return false; GEARMAN_WORK_ERROR (= GEARMAN_ERROR) gives
     * the job back to the queue for another attempt; GEARMAN_SUCCESS sends the return value.
     */
    public function setReturn(int $gearmanReturn): bool
    {
        $this->return = $gearmanReturn;
        return true;
    }

    /** Streams a chunk of output to the client (WORK_DATA). */
    public function sendData(string $data): bool
    {
        return $this->send(fn (CData $j): int => $this->ffi->gearlet_job_send_data($j, $data, strlen($data)));
    }

    /** Sends a warning to the client (WORK_WARNING). */
    public function sendWarning(string $warning): bool
    {
        return $this->send(fn (CData $j): int => $this->ffi->gearlet_job_send_warning($j, $warning, strlen($warning)));
    }

    /** Reports progress (WORK_STATUS); jobStatus() shows the last one. */
    public function sendStatus(int $numerator, int $denominator): bool
    {
        return $this->send(fn (CData $j): int => $this->ffi->gearlet_job_send_status($j, $numerator, $denominator));
    }

    /** Ends the job with a result (WORK_COMPLETE); the function's return value is then ignored. */
    public function sendComplete(string $result): bool
    {
        return $this->finish(fn (CData $j): int => $this->ffi->gearlet_job_complete($j, $result, strlen($result)));
    }

    /** Ends the job failed (WORK_FAIL). */
    public function sendFail(): bool
    {
        return $this->finish(fn (CData $j): int => $this->ffi->gearlet_job_fail($j));
    }

    /** Ends the job with an exception (WORK_EXCEPTION; clients that do not take them see a FAIL). */
    public function sendException(string $exception): bool
    {
        return $this->finish(fn (CData $j): int => $this->ffi->gearlet_job_exception($j, $exception, strlen($exception)));
    }

    /** @internal what setReturn() asked for */
    public function requestedReturn(): int
    {
        return $this->return;
    }

    /** @internal true once a terminal packet went out */
    public function isFinished(): bool
    {
        return $this->finished;
    }

    /**
     * Frees the native job now; an unfinished one goes back to its queue.
     *
     * @internal Worker calls it right after the worker function returns.
     */
    public function release(): void
    {
        if ($this->native !== null) {
            $this->ffi->gearlet_job_free($this->native);
            $this->native = null;
        }
    }

    /** @param callable(CData): int $call */
    private function finish(callable $call): bool
    {
        $ok = $this->send($call);
        if ($ok) {
            $this->finished = true;
        }
        return $ok;
    }

    /**
     * A send after the job ended is a no-op that succeeds, as in libgearman (pecl returns true
     * for a sendComplete() after sendException()); after release() it fails.
     *
     * @param callable(CData): int $call
     */
    private function send(callable $call): bool
    {
        if ($this->native === null) {
            $this->returnCode = GEARMAN_JOB_NOT_FOUND;
            return false;
        }
        $status = $call($this->native);
        $this->returnCode = Native::returnCode($status);
        return $status === Native::OK || $status === Native::JOB_FINISHED;
    }
}
