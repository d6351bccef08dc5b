<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Native;
use Gearlet\Tests\Support\Child;
use PHPUnit\Framework\TestCase;

/**
 * Loading: the header copy and the library agree with the repository, and every way loading can
 * fail says what to do. The failures run in child processes: a process loads gearlet once.
 */
final class LoaderTest extends TestCase
{
    private const REPO = __DIR__ . '/../../..';

    public function testPackageHeaderIsTheRepositoryHeader(): void
    {
        $repo = self::REPO . '/include/gearlet_ffi.h';
        if (!is_file($repo)) {
            self::markTestSkipped('not inside the gearlet repository');
        }
        self::assertFileEquals($repo, dirname(__DIR__) . '/include/gearlet_ffi.h',
            'bindings/php/include/gearlet_ffi.h is stale: copy include/gearlet_ffi.h (scripts/gen-headers.sh output)');
    }

    public function testLibraryVersionIsTheCrateVersion(): void
    {
        $cargo = self::REPO . '/Cargo.toml';
        if (!is_file($cargo)) {
            self::markTestSkipped('not inside the gearlet repository');
        }
        preg_match('/^version = "(.*)"$/m', (string) file_get_contents($cargo), $m);
        self::assertSame($m[1], Native::version());
        self::assertNotNull(Native::libraryPath());
    }

    public function testFfiDisabledSaysWhichSettingToChange(): void
    {
        $out = $this->probe(['-d', 'ffi.enable=0']);
        self::assertStringContainsString('Gearlet\FfiUnavailableException', $out);
        self::assertStringContainsString('set ffi.enable=true in php.ini', $out);
    }

    public function testMissingLibrarySaysHowToGetIt(): void
    {
        $out = $this->probe([], ['GEARLET_LIB' => '/nonexistent/libgearlet.so']);
        self::assertStringContainsString('Gearlet\FfiUnavailableException', $out);
        self::assertStringContainsString('scripts/build-c.sh', $out);
        self::assertStringContainsString('GEARLET_LIB', $out);
    }

    public function testMissingHeaderIsNamed(): void
    {
        $out = $this->probe([], ['GEARLET_HEADER' => '/nonexistent/gearlet_ffi.h']);
        self::assertStringContainsString('gearlet header not found at /nonexistent/gearlet_ffi.h', $out);
    }

    public function testExplicitLibraryOption(): void
    {
        $lib = (string) realpath(self::REPO . '/target/c/lib/libgearlet.so');
        if ($lib === '') {
            self::markTestSkipped('no target/c/lib/libgearlet.so');
        }
        // The option wins over a wrong GEARLET_LIB.
        $out = $this->probe([], ['GEARLET_LIB' => '/nonexistent/libgearlet.so'], $lib);
        self::assertSame("loaded $lib\n", $out);
    }

    /** The PHP-FPM set-up: ffi.enable=preload with the header preload-header.php prints. */
    public function testPreloadedScope(): void
    {
        $header = tempnam(sys_get_temp_dir(), 'gearlet-preload');
        try {
            $gen = proc_open([PHP_BINARY, dirname(__DIR__) . '/preload-header.php'], [1 => ['file', $header, 'w']], $pipes);
            self::assertIsResource($gen);
            self::assertSame(0, proc_close($gen));
            $out = $this->probe(['-d', 'ffi.enable=preload', '-d', "ffi.preload=$header"], ['GEARLET_LIB' => '']);
            self::assertSame("loaded preloaded scope \"gearlet\"\n", $out);
        } finally {
            unlink($header);
        }
    }

    /**
     * Runs a child that makes a Server and prints where gearlet came from or the exception.
     *
     * @param list<string> $phpArgs
     * @param array<string, string> $env
     */
    private function probe(array $phpArgs, array $env = [], ?string $library = null): string
    {
        $code = 'require ' . var_export(dirname(__DIR__) . '/autoload.php', true) . ';'
            . 'try { new Gearlet\Server(' . ($library === null ? '' : '["library" => ' . var_export($library, true) . ']') . ');'
            . ' echo "loaded ", Gearlet\Native::libraryPath(), "\n"; }'
            . ' catch (Throwable $e) { echo get_class($e), ": ", $e->getMessage(), "\n"; }';
        $file = tempnam(sys_get_temp_dir(), 'gearlet-probe');
        file_put_contents($file, "<?php\n$code");
        try {
            $cmd = array_merge([PHP_BINARY], $phpArgs, [$file]);
            $proc = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, array_merge(getenv(), $env));
            self::assertIsResource($proc);
            $child = $this->drain($pipes[1]);
            fclose($pipes[2]);
            proc_close($proc);
            return $child;
        } finally {
            unlink($file);
        }
    }

    /** @param resource $pipe reads to EOF, bounded to 30 s */
    private function drain($pipe): string
    {
        $out = '';
        $deadline = microtime(true) + 30;
        while (!feof($pipe) && microtime(true) < $deadline) {
            $r = [$pipe];
            $w = $e = null;
            if (stream_select($r, $w, $e, 1) > 0) {
                $out .= (string) fread($pipe, 65536);
            }
        }
        fclose($pipe);
        return $out;
    }
}
