<?php

declare(strict_types=1);

namespace Gearlet;

use FFI;
use FFI\CData;

/**
 * The one place that touches PHP's FFI loader: finds libgearlet.so and the flat header, loads
 * them once per process, and turns gearlet_status numbers into pecl return codes.
 *
 * Why a flat header: PHP's FFI parser understands no preprocessor lines, so the package loads
 * include/gearlet_ffi.h (generated from the same source as gearlet.h, without them).
 *
 * @internal the public API is Server, Client, Worker, Job and Task.
 */
final class Native
{
    /** The scope name the ffi.preload header of preload-header.php declares. */
    public const SCOPE = 'gearlet';

    /** gearlet_status numbers from the C ABI; fixed forever, so hard-coding them is safe. */
    public const OK = 0;
    public const TIMEOUT = 1;
    public const JOB_FINISHED = 7;
    public const STORE_FAILED = 32;

    private static ?FFI $ffi = null;
    private static ?string $library = null;
    private static ?string $header = null;

    /** gearlet_status => gearman_return_t, as libgearman reports the same condition. */
    private const RETURN_CODES = [
        0 => GEARMAN_SUCCESS,
        1 => GEARMAN_TIMEOUT,
        2 => GEARMAN_INVALID_ARGUMENT,
        3 => GEARMAN_INVALID_ARGUMENT,
        4 => GEARMAN_INVALID_ARGUMENT,
        5 => GEARMAN_LOST_CONNECTION,
        6 => GEARMAN_UNKNOWN_STATE,
        7 => GEARMAN_SUCCESS,
        8 => GEARMAN_LOST_CONNECTION,
        20 => GEARMAN_INVALID_ARGUMENT,
        21 => GEARMAN_INVALID_ARGUMENT,
        22 => GEARMAN_INVALID_ARGUMENT,
        23 => GEARMAN_ARGUMENT_TOO_LARGE,
        24 => GEARMAN_JOB_QUEUE_FULL,
        25 => GEARMAN_NO_REGISTERED_FUNCTION,
        26 => GEARMAN_JOB_NOT_FOUND,
        27 => GEARMAN_INVALID_FUNCTION_NAME,
        28 => GEARMAN_SERVER_ERROR,
        29 => GEARMAN_UNKNOWN_OPTION,
        30 => GEARMAN_WORK_FAIL,
        31 => GEARMAN_WORK_EXCEPTION,
        32 => GEARMAN_QUEUE_ERROR, // what gearmand answers when its persistent queue fails
        40 => GEARMAN_ERRNO,
        41 => GEARMAN_ERRNO,
        42 => GEARMAN_ERRNO,
    ];

    /**
     * Chooses the library and header before the first use (later calls after loading throw, since
     * a process can hold only one definition of the gearlet types). Null keeps the default search.
     */
    public static function configure(?string $library = null, ?string $header = null): void
    {
        if (self::$ffi !== null && ($library !== self::$library || $header !== self::$header)) {
            if ($library !== null || $header !== null) {
                throw new GearletException('gearlet is already loaded from ' . self::$library
                    . '; call Native::configure() (or pass "library") before the first Server');
            }
        }
        self::$library = $library ?? self::$library;
        self::$header = $header ?? self::$header;
    }

    /** The loaded FFI instance, loading it on first use. */
    public static function ffi(): FFI
    {
        return self::$ffi ??= self::load();
    }

    /** The library's version string, e.g. "0.1.0". */
    public static function version(): string
    {
        return self::ffi()->gearlet_version();
    }

    /** Where the library was loaded from (a path, or a soname the system loader resolved). */
    public static function libraryPath(): ?string
    {
        return self::$library;
    }

    /** gearlet_status_message() for a status number. */
    public static function message(int $status): string
    {
        return self::ffi()->gearlet_status_message($status);
    }

    /**
     * The text for a status the last gearlet call on this thread returned: for STORE_FAILED the
     * store's own words (gearlet_last_error_message(): the file and reason, or "job store failed:
     * ..."), else the status's fixed message. Call it right after the failing call.
     */
    public static function errorText(int $status): string
    {
        if ($status === self::STORE_FAILED) {
            return self::ffi()->gearlet_last_error_message();
        }
        return self::message($status);
    }

    /** The pecl gearman return code that means the same as a gearlet status. */
    public static function returnCode(int $status): int
    {
        return self::RETURN_CODES[$status] ?? GEARMAN_UNKNOWN_STATE;
    }

    /**
     * Throws a GearletException for a non-OK status; used where pecl has no return code to set.
     * Called right after the failing call, so its message is that call's own text
     * (gearlet_last_error_message(): why a store failed, which setting was refused), not only the
     * status's fixed one.
     */
    public static function check(int $status, string $what): void
    {
        if ($status !== self::OK) {
            throw new GearletException("$what: " . self::ffi()->gearlet_last_error_message(), $status);
        }
    }

    /** Copies a gearlet_slice or gearlet_buf into a PHP string (binary-safe). */
    public static function bytes(CData $view): string
    {
        $len = $view->len;
        return $len === 0 ? '' : FFI::string($view->data, $len);
    }

    /**
     * Library search order: configure()/Server option, env GEARLET_LIB, the repository's build
     * output relative to this package, then the soname through the system loader.
     *
     * @return list<string>
     */
    public static function libraryCandidates(): array
    {
        $out = [];
        if (self::$library !== null) {
            return [self::$library];
        }
        $env = getenv('GEARLET_LIB');
        if (is_string($env) && $env !== '') {
            return [$env];
        }
        foreach ([dirname(__DIR__) . '/lib/libgearlet.so', dirname(__DIR__, 3) . '/target/c/lib/libgearlet.so'] as $p) {
            if (is_file($p)) {
                $out[] = $p;
            }
        }
        $out[] = 'libgearlet.so.0';
        return $out;
    }

    /**
     * Header search order: configure(), env GEARLET_HEADER, the package's copy, the repository's.
     */
    public static function headerPath(): string
    {
        $candidates = [self::$header, getenv('GEARLET_HEADER') ?: null,
            dirname(__DIR__) . '/include/gearlet_ffi.h', dirname(__DIR__, 3) . '/include/gearlet_ffi.h'];
        foreach ($candidates as $p) {
            if ($p !== null && is_file($p)) {
                return $p;
            }
            if ($p !== null && ($p === self::$header || $p === getenv('GEARLET_HEADER'))) {
                throw new FfiUnavailableException("gearlet header not found at $p (set by "
                    . ($p === self::$header ? 'Native::configure()' : 'GEARLET_HEADER') . ')');
            }
        }
        throw new FfiUnavailableException('gearlet_ffi.h not found: set GEARLET_HEADER to the flat header '
            . '(include/gearlet_ffi.h of the gearlet repository or of `scripts/build-c.sh PREFIX`)');
    }

    /** Why FFI cannot be used in this process, or null if it can. */
    public static function ffiProblem(): ?string
    {
        if (!extension_loaded('FFI')) {
            return 'PHP\'s FFI extension is not loaded: install it (Debian: php' . PHP_MAJOR_VERSION . '.'
                . PHP_MINOR_VERSION . '-ffi is part of php-cli; elsewhere build PHP with --with-ffi) '
                . 'and enable it with extension=ffi in php.ini';
        }
        $mode = strtolower((string) ini_get('ffi.enable'));
        if (in_array($mode, ['1', 'true', 'on', 'yes'], true)) {
            return null;
        }
        if ($mode === 'preload') {
            // "preload" allows FFI::cdef() only on the command line; elsewhere the preloaded scope.
            if (PHP_SAPI === 'cli' || PHP_SAPI === 'phpdbg' || self::preloadedScope() !== null) {
                return null;
            }
            return 'FFI is restricted to preloading here (ffi.enable=preload, SAPI ' . PHP_SAPI . '): '
                . 'set ffi.preload to the output of ' . dirname(__DIR__) . '/preload-header.php, '
                . 'or set ffi.enable=true in php.ini';
        }
        return 'FFI is disabled (ffi.enable=' . ($mode === '' ? '0' : $mode) . '): set ffi.enable=true in php.ini '
            . '(or ffi.enable=preload with ffi.preload set to the output of ' . dirname(__DIR__) . '/preload-header.php)';
    }

    private static function preloadedScope(): ?FFI
    {
        try {
            return FFI::scope(self::SCOPE);
        } catch (\Throwable) {
            return null;
        }
    }

    private static function load(): FFI
    {
        $problem = self::ffiProblem();
        if ($problem !== null) {
            throw new FfiUnavailableException($problem);
        }
        if (self::$library === null && (getenv('GEARLET_LIB') ?: '') === '') {
            $scoped = self::preloadedScope();
            if ($scoped !== null) {
                self::$library = 'preloaded scope "' . self::SCOPE . '"';
                return $scoped;
            }
        }
        $header = file_get_contents(self::headerPath());
        $errors = [];
        foreach (self::libraryCandidates() as $lib) {
            try {
                $ffi = FFI::cdef((string) $header, $lib);
                self::$library = $lib;
                return $ffi;
            } catch (FFI\Exception $e) {
                $errors[] = $e->getMessage();
            }
        }
        throw new FfiUnavailableException('libgearlet.so not found (' . implode('; ', $errors) . '): build it with '
            . 'scripts/build-c.sh in the gearlet repository, then set GEARLET_LIB=/path/to/libgearlet.so, '
            . 'pass ["library" => ...] to Gearlet\\Server, or install it where the system loader finds libgearlet.so.0');
    }
}
