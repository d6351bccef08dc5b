<?php

declare(strict_types=1);

namespace Gearlet;

/**
 * One job added with Client::addTask*() and run by Client::runTasks(), as pecl's GearmanTask.
 * The same object is returned by addTask*() and passed to every callback, and it keeps its
 * handle and last data after runTasks() (pecl's returned object goes stale: a deviation for the
 * better that code written for pecl does not notice).
 */
final class Task
{
    private string $handle = '';
    private bool $known = false;
    private bool $running = false;
    private int $numerator = 0;
    private int $denominator = 0;
    private string $data = '';
    private int $returnCode = GEARMAN_SUCCESS;

    /** @internal made by Client::addTask*() */
    public function __construct(
        private readonly string $function,
        private readonly string $workload,
        private readonly string $unique,
        private readonly int $priority,
        private readonly bool $background,
        private readonly mixed $context,
        private readonly bool $statusOnly = false,
    ) {
    }

    /**
     * The result of submitting the task (GEARMAN_SUCCESS once the server took it). As in pecl it
     * stays GEARMAN_SUCCESS when the job later fails: the fail callback says that.
     */
    public function returnCode(): int
    {
        return $this->returnCode;
    }

    /** The function name. */
    public function functionName(): string
    {
        return $this->function;
    }

    /** The unique id sent with the job (generated, as libgearman does, when none was given). */
    public function unique(): string
    {
        return $this->unique;
    }

    /** The job handle; "" until runTasks() submitted it. */
    public function jobHandle(): string
    {
        return $this->handle;
    }

    /** True while the server has the job: from its creation until it ends. */
    public function isKnown(): bool
    {
        return $this->known;
    }

    /** True once a worker reported on it, until it ends. */
    public function isRunning(): bool
    {
        return $this->running;
    }

    /** The last WORK_STATUS numerator. */
    public function taskNumerator(): int
    {
        return $this->numerator;
    }

    /** The last WORK_STATUS denominator. */
    public function taskDenominator(): int
    {
        return $this->denominator;
    }

    /** The payload of the latest event: a data chunk, a warning, the result or the exception. */
    public function data(): string
    {
        return $this->data;
    }

    /** The length of data(). */
    public function dataSize(): int
    {
        return strlen($this->data);
    }

    /** @internal */
    public function workload(): string
    {
        return $this->workload;
    }

    /** @internal */
    public function priority(): int
    {
        return $this->priority;
    }

    /** @internal */
    public function isBackground(): bool
    {
        return $this->background;
    }

    /** @internal a task made by addTaskStatus() */
    public function isStatusOnly(): bool
    {
        return $this->statusOnly;
    }

    /** @internal the context given to addTask*(), passed to callbacks */
    public function context(): mixed
    {
        return $this->context;
    }

    /** @internal */
    public function created(string $handle): void
    {
        $this->handle = $handle;
        $this->known = true;
    }

    /** @internal */
    public function submitFailed(int $code): void
    {
        $this->returnCode = $code;
    }

    /** @internal a DATA, WARNING or STATUS event */
    public function progressed(string $data, ?int $numerator = null, ?int $denominator = null): void
    {
        $this->running = true;
        $this->data = $data;
        if ($numerator !== null) {
            $this->numerator = $numerator;
            $this->denominator = (int) $denominator;
        }
    }

    /** @internal a terminal event */
    public function ended(string $data): void
    {
        $this->known = false;
        $this->running = false;
        $this->data = $data;
    }

    /** @internal addTaskStatus()'s answer */
    public function statusKnown(bool $known, bool $running, int $numerator, int $denominator, string $handle): void
    {
        $this->handle = $handle;
        $this->known = $known;
        $this->running = $running;
        $this->numerator = $numerator;
        $this->denominator = $denominator;
    }
}
