<?php

declare(strict_types=1);

namespace Gearlet;

/**
 * What Client and Worker share, as pecl's GearmanClient and GearmanWorker do: the return code and
 * error text of the last call, and the timeout of their blocking calls.
 *
 * Every public call ends through ok(), fail() or result(), so returnCode() and error() always
 * describe the last call. Timeouts are milliseconds, -1 (the default) waiting forever, as pecl's
 * setTimeout().
 *
 * @internal the methods it adds are the API; the trait itself is not
 */
trait ReturnCodes
{
    private int $timeout = -1;
    private int $returnCode = GEARMAN_SUCCESS;
    private ?string $error = null;

    /** The return code of the last call (GEARMAN_SUCCESS, GEARMAN_WORK_FAIL, GEARMAN_TIMEOUT, ...). */
    public function returnCode(): int
    {
        return $this->returnCode;
    }

    /** Text for the last failure, or false if the last call succeeded. */
    public function error(): string|false
    {
        return $this->error ?? false;
    }

    /** Milliseconds a blocking call (Client: do*() and runTasks(); Worker: work()) waits; -1 = forever. */
    public function timeout(): int
    {
        return $this->timeout;
    }

    /** Sets how long blocking calls wait, in milliseconds; -1 = forever. */
    public function setTimeout(int $timeout): bool
    {
        $this->timeout = $timeout;
        return true;
    }

    /** The hrtime() at which the current call gives up, or null for "never". */
    private function deadline(): ?int
    {
        return $this->timeout < 0 ? null : hrtime(true) + $this->timeout * 1_000_000;
    }

    /** Records a gearlet_status: success, or its pecl return code and message. */
    private function result(int $status): bool
    {
        if ($status === Native::OK) {
            return $this->ok();
        }
        return $this->fail(Native::returnCode($status), Native::errorText($status));
    }

    private function ok(): bool
    {
        $this->returnCode = GEARMAN_SUCCESS;
        $this->error = null;
        return true;
    }

    private function fail(int $code, string $message): bool
    {
        $this->returnCode = $code;
        $this->error = $message;
        return false;
    }
}
