<?php

declare(strict_types=1);

namespace Gearlet;

use FFI;
use FFI\CData;
use WeakReference;

/**
 * An embedded Gearman job server: the job core lives in this PHP process, and once a listener is
 * open, ordinary Gearman clients and workers (pecl gearman, the gearman CLI, ...) reach it over
 * TCP or a unix socket, served by gearlet's own I/O thread. In-process Client and Worker objects
 * use the same core without a socket.
 *
 * The server belongs to this process: a PHP-FPM pool has one per worker process, so jobs submitted
 * in one FPM worker reach another only through a socket (see README.md).
 *
 * Server methods throw GearletException on failure (there is no pecl class to imitate here).
 */
final class Server
{
    private FFI $ffi;
    private ?CData $handle;
    /** @var list<string> what listenTcp()/listenUnix() opened, as tcp://host:port or unix://path */
    private array $addresses = [];
    /** @var array<int, WeakReference<Worker>> in-process workers that a waiting Client may pump */
    private array $workers = [];

    /** store_durability values => gearlet_store_durability. */
    private const DURABILITY = ['full' => 0, 'os' => 1];

    /**
     * Options (all optional): handle_prefix (string), job_retries, worker_wakeup, max_workload,
     * max_packet, io_threads, busy_poll_us (ints), exceptions_default, require_worker (bools), and library /
     * header (paths for the FFI loader, see Native::configure()).
     *
     * Durable background jobs: store (path of a SQLite file, created if missing: background jobs
     * are written there before doBackground() returns, removed when they finish, and queued
     * again by the next Server made with the same path), store_durability ('full', the default,
     * or 'os'), store_max_bytes (int: past it a background job fails as on a full disk),
     * store_queue_on_shutdown (bool: write only the queue, when the server is freed).
     * A store that cannot be opened throws GearletException with code 32 (STORE_FAILED) and the
     * file and reason in its message.
     *
     * PostgreSQL (several servers, in any processes, sharing one database): store given a
     * postgres:// or postgresql:// URL instead of a path, or store_postgres (libpq's key=value
     * conninfo or a URL; not together with store); store_server_id (required: the owner of the
     * jobs this server stores, taken back by a server made again with the same id; never two
     * live servers with one), store_table (gearmand's table name, default 'queue'; also the
     * SQLite file's table), store_lease_ms (int, default 10000: once a lease has expired another
     * server adopts its jobs), store_wait_ms (int, default 2000: how long a write is retried
     * while the database is away), store_adopt (bool, default true). An unreachable database
     * throws code 32 with the host, port and database (never the password) in the message; a
     * missing server id or a malformed setting, code 3 (INVALID_ARGUMENT).
     *
     * @param array<string, mixed> $options
     */
    public function __construct(array $options = [])
    {
        if (isset($options['library']) || isset($options['header'])) {
            Native::configure($options['library'] ?? null, $options['header'] ?? null);
        }
        unset($options['library'], $options['header']);
        $this->ffi = Native::ffi();
        $ffi = $this->ffi;
        if (isset($options['store'], $options['store_postgres'])) {
            throw new GearletException('give store (a path or a postgres:// URL) or store_postgres, not both', 3);
        }
        // As the gearlet binary's --store: no sensible file path starts with a URL scheme.
        if (isset($options['store']) && preg_match('~^postgres(ql)?://~', (string) $options['store'])) {
            $options['store_postgres'] = (string) $options['store'];
            unset($options['store']);
        }
        $opts = $ffi->new('gearlet_options *');
        Native::check($ffi->gearlet_options_new(FFI::addr($opts)), 'gearlet_options_new');
        try {
            foreach ($options as $name => $value) {
                $status = match ($name) {
                    'handle_prefix' => $ffi->gearlet_options_set_handle_prefix($opts, (string) $value, strlen((string) $value)),
                    'job_retries' => $ffi->gearlet_options_set_job_retries($opts, (int) $value),
                    'worker_wakeup' => $ffi->gearlet_options_set_worker_wakeup($opts, (int) $value),
                    'exceptions_default' => $ffi->gearlet_options_set_exceptions_default($opts, $value ? 1 : 0),
                    'max_workload' => $ffi->gearlet_options_set_max_workload($opts, (int) $value),
                    'max_packet' => $ffi->gearlet_options_set_max_packet($opts, (int) $value),
                    'io_threads' => $ffi->gearlet_options_set_io_threads($opts, (int) $value),
                    'busy_poll_us' => $ffi->gearlet_options_set_busy_poll_us($opts, (int) $value),
                    'require_worker' => $ffi->gearlet_options_set_require_worker($opts, $value ? 1 : 0),
                    'store' => $ffi->gearlet_options_set_store_path($opts, (string) $value, strlen((string) $value)),
                    'store_durability' => $ffi->gearlet_options_set_store_durability($opts,
                        self::DURABILITY[$value] ?? throw new GearletException(
                            "store_durability must be 'full' or 'os', not " . var_export($value, true), 3)),
                    'store_max_bytes' => $ffi->gearlet_options_set_store_max_bytes($opts, (int) $value),
                    'store_queue_on_shutdown' => $ffi->gearlet_options_set_store_queue_on_shutdown($opts, $value ? 1 : 0),
                    'store_postgres' => $ffi->gearlet_options_set_store_postgres($opts, (string) $value, strlen((string) $value)),
                    'store_server_id' => $ffi->gearlet_options_set_store_server_id($opts, (string) $value, strlen((string) $value)),
                    'store_table' => $ffi->gearlet_options_set_store_table($opts, (string) $value, strlen((string) $value)),
                    'store_lease_ms' => $ffi->gearlet_options_set_store_lease_ms($opts, (int) $value),
                    'store_wait_ms' => $ffi->gearlet_options_set_store_wait_ms($opts, (int) $value),
                    'store_adopt' => $ffi->gearlet_options_set_store_adopt($opts, $value ? 1 : 0),
                    default => throw new GearletException("unknown Server option \"$name\""),
                };
                Native::check($status, "option $name");
            }
            $srv = $ffi->new('gearlet_server *');
            Native::check($ffi->gearlet_server_new($opts, FFI::addr($srv)), 'gearlet_server_new');
            $this->handle = $srv;
        } finally {
            $ffi->gearlet_options_free($opts);
        }
    }

    /**
     * Stops the listeners and closes network connections (with a store, writes what is pending);
     * in-process handles keep working.
     */
    public function __destruct()
    {
        $this->free();
    }

    /**
     * Releases the native server now (idempotent); the destructor does the same. With a store,
     * its pending writes are made and the file is closed, so a new Server may open it. Clients
     * and workers made from it stay usable in-process: they keep the job core alive.
     */
    public function free(): void
    {
        if ($this->handle !== null) {
            $this->ffi->gearlet_server_free($this->handle);
            $this->handle = null;
            $this->addresses = [];
        }
    }

    /** The gearlet library version, e.g. "0.1.0". */
    public static function version(): string
    {
        return Native::version();
    }

    /** A new in-process client of this server. */
    public function client(): Client
    {
        return new Client($this);
    }

    /** A new in-process worker of this server. */
    public function worker(): Worker
    {
        return new Worker($this);
    }

    /**
     * Listens on TCP; port 0 picks a free one. Returns the bound port (the first listener's port
     * is what addresses() reports too).
     */
    public function listenTcp(string $host = '127.0.0.1', int $port = 0): int
    {
        $bound = $this->ffi->new('uint16_t');
        Native::check($this->ffi->gearlet_server_listen_tcp($this->native(), $host, strlen($host), $port,
            FFI::addr($bound)), "listen on $host:$port");
        $hostText = str_contains($host, ':') ? "[$host]" : $host;
        $this->addresses[] = "tcp://$hostText:{$bound->cdata}";
        return $bound->cdata;
    }

    /**
     * Listens on TCP with TLS (1.3 and 1.2); port 0 picks a free one. $certificate: PEM chain,
     * the server's first; $key: its PEM private key (refused when readable by every user); $ca:
     * PEM CA certificates clients must present a certificate from (mutual TLS), or null. Bad
     * files throw a GearletException naming the file and the problem. Returns the bound port.
     */
    public function listenTls(string $host, int $port, string $certificate, string $key,
        ?string $ca = null): int
    {
        $bound = $this->ffi->new('uint16_t');
        $caLen = $ca === null ? 0 : strlen($ca);
        Native::check($this->ffi->gearlet_server_listen_tls($this->native(), $host, strlen($host), $port,
            $certificate, strlen($certificate), $key, strlen($key), $ca, $caLen, FFI::addr($bound)),
            "listen with TLS on $host:$port");
        $hostText = str_contains($host, ':') ? "[$host]" : $host;
        $this->addresses[] = "tls://$hostText:{$bound->cdata}";
        return $bound->cdata;
    }

    /**
     * Reads the TLS listeners' certificate, key and CA files again (what the gearlet binary does
     * on SIGHUP); open connections keep their sessions. On a bad file nothing changes and a
     * GearletException says why.
     */
    public function reloadTls(): void
    {
        Native::check($this->ffi->gearlet_server_reload_tls($this->native()), "reload TLS files");
    }

    /** Listens on a unix socket at $path with file mode $mode (0 keeps the umask's). */
    public function listenUnix(string $path, int $mode = 0660): void
    {
        Native::check($this->ffi->gearlet_server_listen_unix($this->native(), $path, strlen($path), $mode),
            "listen on unix socket $path");
        $this->addresses[] = "unix://$path";
    }

    /**
     * The bound addresses, as tcp://host:port, tls://host:port and unix:///path strings.
     *
     * @return list<string>
     */
    public function addresses(): array
    {
        return $this->addresses;
    }

    /** Stops accepting on every listener (a unix socket file is removed); connections stay open. */
    public function closeListeners(): void
    {
        Native::check($this->ffi->gearlet_server_close_listeners($this->native()), 'close listeners');
        $this->addresses = [];
    }

    /**
     * Graceful network stop: stop accepting, wait up to $timeoutMs for running jobs, then close
     * the connections. In-process clients and workers keep working; listening again restarts.
     */
    public function stop(int $timeoutMs = 5000): void
    {
        Native::check($this->ffi->gearlet_server_stop($this->native(), max(0, $timeoutMs)), 'stop');
        $this->addresses = [];
    }

    /** Drops every job, function and registration (waiting clients get WORK_FAIL). For tests. */
    public function reset(): void
    {
        Native::check($this->ffi->gearlet_server_reset($this->native()), 'reset');
    }

    /** Waits until the server holds no job; false if $timeoutMs passed first. */
    public function waitIdle(int $timeoutMs): bool
    {
        $status = $this->ffi->gearlet_server_wait_idle($this->native(), max(0, $timeoutMs));
        if ($status === Native::TIMEOUT) {
            return false;
        }
        Native::check($status, 'wait idle');
        return true;
    }

    /**
     * What the store held when this server started (zeros without a store): jobs queued again,
     * stored jobs that could not be queued (they stay stored), and how long it took.
     *
     * @return array{restored: int, skipped: int, elapsed_us: int}
     */
    public function replayReport(): array
    {
        $r = $this->ffi->new('gearlet_replay_report');
        Native::check($this->ffi->gearlet_server_replay_report($this->native(), FFI::addr($r)), 'replay report');
        return ['restored' => $r->restored, 'skipped' => $r->skipped, 'elapsed_us' => $r->elapsed_us];
    }

    /**
     * A statistics snapshot: per function and priority counters, queue wait and run time
     * histograms with p50/p90/p99, sessions and workers by transport (see Gearlet\Stats for the
     * array's shape).
     *
     * @return array<string, mixed>
     */
    public function stats(): array
    {
        return Stats::snapshot($this->ffi, $this->native());
    }

    /** How many jobs the server holds: queued, running or delayed. */
    public function jobCount(): int
    {
        $n = $this->ffi->new('size_t');
        Native::check($this->ffi->gearlet_server_job_count($this->native(), FFI::addr($n)), 'job count');
        return $n->cdata;
    }

    /** Cancels a job by handle (its waiting clients get WORK_FAIL); false if there is no such job. */
    public function cancelJob(string $handle): bool
    {
        $status = $this->ffi->gearlet_server_cancel_job($this->native(), $handle, strlen($handle));
        if ($status === 26) { // JOB_NOT_FOUND
            return false;
        }
        Native::check($status, 'cancel job');
        return true;
    }

    /**
     * Answers one admin text command ("status", "workers", "show jobs", "maxqueue f 10", ...)
     * with exactly the text a socket peer would get, without a socket.
     */
    public function admin(string $command): string
    {
        $buf = $this->ffi->new('gearlet_buf');
        Native::check($this->ffi->gearlet_server_admin($this->native(), $command, strlen($command),
            FFI::addr($buf)), "admin \"$command\"");
        try {
            return Native::bytes($buf);
        } finally {
            $this->ffi->gearlet_buf_free(FFI::addr($buf));
        }
    }

    /**
     * The admin "status" view, parsed: function => [queued (total jobs), running, workers].
     *
     * @return array<string, array{queued: int, running: int, workers: int}>
     */
    public function status(): array
    {
        $out = [];
        foreach ($this->lines($this->admin('status')) as $line) {
            $f = explode("\t", $line);
            if (count($f) >= 4) {
                $out[$f[0]] = ['queued' => (int) $f[1], 'running' => (int) $f[2], 'workers' => (int) $f[3]];
            }
        }
        return $out;
    }

    /**
     * The admin "workers" view, parsed: one entry per connected or in-process worker.
     *
     * @return list<array{fd: string, ip: string, id: string, functions: list<string>}>
     */
    public function workers(): array
    {
        $out = [];
        foreach ($this->lines($this->admin('workers')) as $line) {
            [$left, $right] = array_pad(explode(' :', $line, 2), 2, '');
            $parts = explode(' ', $left, 3);
            $out[] = ['fd' => $parts[0], 'ip' => $parts[1] ?? '', 'id' => $parts[2] ?? '',
                'functions' => array_values(array_filter(explode(' ', trim($right)), 'strlen'))];
        }
        return $out;
    }

    /**
     * The admin "show jobs" view, parsed: handle => [retries, ignore_job, job_queued].
     *
     * @return array<string, list<string>>
     */
    public function jobs(): array
    {
        $out = [];
        foreach ($this->lines($this->admin('show jobs')) as $line) {
            $f = explode("\t", $line);
            $out[$f[0]] = array_slice($f, 1);
        }
        return $out;
    }

    /**
     * The native handle, for Client and Worker construction.
     *
     * @internal
     */
    public function native(): CData
    {
        if ($this->handle === null) {
            throw new GearletException('the server was freed');
        }
        return $this->handle;
    }

    /**
     * Remembers an in-process worker so that a Client waiting on this server can run its jobs on
     * the same thread (PHP has one): otherwise a doNormal() in a process whose only worker is
     * in-process could never finish. Weak, so a Worker is still freed with its last reference.
     *
     * @internal
     */
    public function attachWorker(Worker $worker): void
    {
        $this->workers[spl_object_id($worker)] = WeakReference::create($worker);
    }

    /**
     * Lets each idle in-process worker of this server take one job that is queued now, without
     * waiting. True if any job ran. Called by Client while it waits.
     *
     * @internal
     */
    public function pump(): bool
    {
        $ran = false;
        foreach ($this->workers as $id => $ref) {
            $worker = $ref->get();
            if ($worker === null) {
                unset($this->workers[$id]);
                continue;
            }
            if ($worker->workIfQueued()) {
                $ran = true;
            }
        }
        return $ran;
    }

    /** True if an in-process worker could take jobs (then waits are sliced to pump it). */
    public function hasPumpableWorkers(): bool
    {
        foreach ($this->workers as $ref) {
            $w = $ref->get();
            if ($w !== null && $w->canPump()) {
                return true;
            }
        }
        return false;
    }

    /** @return list<string> the lines of an admin answer, without the final "." */
    private function lines(string $text): array
    {
        $lines = [];
        foreach (explode("\n", $text) as $line) {
            if ($line === '.' || $line === '') {
                continue;
            }
            $lines[] = $line;
        }
        return $lines;
    }
}
