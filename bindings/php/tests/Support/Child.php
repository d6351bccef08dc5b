<?php

declare(strict_types=1);

namespace Gearlet\Tests\Support;

/**
 * A second PHP process for cross-process tests: started with proc_open, talked to through its
 * stdin/stdout, every wait bounded by a deadline (stream_select, never sleep), and killed on
 * close() so a failing test leaves nothing running.
 */
final class Child
{
    /** @var resource */
    private $process;
    /** @var array<int, resource> */
    private array $pipes;
    private string $buffer = '';

    /**
     * @param list<string> $args
     * @param ?string $cwd the child's working directory (default: this process's)
     */
    public function __construct(string $script, array $args = [], array $env = [], ?string $cwd = null)
    {
        $cmd = array_merge([PHP_BINARY, $script], $args);
        $spec = [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']];
        $process = proc_open($cmd, $spec, $pipes, $cwd, $env === [] ? null : array_merge(getenv(), $env));
        if (!is_resource($process)) {
            throw new \RuntimeException("cannot start $script");
        }
        $this->process = $process;
        $this->pipes = $pipes;
        stream_set_blocking($this->pipes[1], false);
        stream_set_blocking($this->pipes[2], false);
    }

    /** Reads one line of the child's stdout, waiting at most $seconds; fails the test otherwise. */
    public function readLine(float $seconds = 10.0): string
    {
        $deadline = microtime(true) + $seconds;
        while (($pos = strpos($this->buffer, "\n")) === false) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                throw new \RuntimeException("no line from the child within {$seconds}s; stdout so far: "
                    . var_export($this->buffer, true) . '; stderr: ' . $this->stderr());
            }
            $r = [$this->pipes[1]];
            $w = $e = null;
            if (stream_select($r, $w, $e, (int) $left, (int) (($left - (int) $left) * 1e6)) > 0) {
                $chunk = fread($this->pipes[1], 65536);
                if ($chunk === '' || $chunk === false) {
                    if (feof($this->pipes[1])) {
                        throw new \RuntimeException('the child exited; stdout: ' . var_export($this->buffer, true)
                            . '; stderr: ' . $this->stderr());
                    }
                    continue;
                }
                $this->buffer .= $chunk;
            }
        }
        $line = substr($this->buffer, 0, $pos);
        $this->buffer = substr($this->buffer, $pos + 1);
        return $line;
    }

    /** Reads stdout until the child closes it, waiting at most $seconds in all. */
    public function readAll(float $seconds = 60.0): string
    {
        $deadline = microtime(true) + $seconds;
        while (!feof($this->pipes[1])) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                throw new \RuntimeException("the child did not finish within {$seconds}s; stderr: " . $this->stderr());
            }
            $r = [$this->pipes[1]];
            $w = $e = null;
            if (stream_select($r, $w, $e, (int) $left, (int) (($left - (int) $left) * 1e6)) > 0) {
                $this->buffer .= (string) fread($this->pipes[1], 65536);
            }
        }
        $out = $this->buffer;
        $this->buffer = '';
        return $out;
    }

    /** Sends a line to the child's stdin. */
    public function writeLine(string $line): void
    {
        fwrite($this->pipes[0], $line . "\n");
        fflush($this->pipes[0]);
    }

    /** What the child wrote to stderr so far (non-blocking). */
    public function stderr(): string
    {
        return (string) stream_get_contents($this->pipes[2]);
    }

    /**
     * Closes stdin (the children exit on EOF), waits up to $seconds for the exit, then kills.
     * Returns the exit code, or -1 if it had to be killed.
     */
    public function close(float $seconds = 5.0): int
    {
        if (!is_resource($this->process)) {
            return -1;
        }
        if (is_resource($this->pipes[0])) {
            fclose($this->pipes[0]);
        }
        // The children exit on EOF of stdin; their stdout closing is the event waited on
        // (stream_select, bounded by the deadline), then proc_close reaps the exit code.
        $deadline = microtime(true) + $seconds;
        while (!feof($this->pipes[1])) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                break;
            }
            $r = [$this->pipes[1]];
            $w = $e = null;
            if (stream_select($r, $w, $e, (int) $left, (int) (($left - (int) $left) * 1e6)) > 0) {
                $this->buffer .= (string) fread($this->pipes[1], 65536);
            }
        }
        $killed = !feof($this->pipes[1]);
        if ($killed) {
            proc_terminate($this->process, 9);
        }
        foreach ([1, 2] as $i) {
            if (is_resource($this->pipes[$i])) {
                fclose($this->pipes[$i]);
            }
        }
        $code = proc_close($this->process);
        return $killed ? -1 : $code;
    }

    public function __destruct()
    {
        if (is_resource($this->process)) {
            $this->close(1.0);
        }
    }
}
