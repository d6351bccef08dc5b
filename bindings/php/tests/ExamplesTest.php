<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Tests\Support\Child;
use PHPUnit\Framework\TestCase;

/**
 * The examples and the README snippets run as written: each in its own PHP process.
 */
final class ExamplesTest extends TestCase
{
    private const EXAMPLES = __DIR__ . '/../examples';
    /** @var list<Child> */
    private array $children = [];
    private string $dir;

    protected function setUp(): void
    {
        $this->dir = sys_get_temp_dir() . '/gearlet-php-examples-' . getmypid();
        @mkdir($this->dir);
    }

    protected function tearDown(): void
    {
        foreach ($this->children as $child) {
            $child->close();
        }
        $this->children = [];
        array_map('unlink', glob($this->dir . '/*') ?: []);
        @rmdir($this->dir);
    }

    public function testReverse(): void
    {
        self::assertSame("!dlroW olleH\n", $this->runScript(self::EXAMPLES . '/reverse.php'));
    }

    /** @requires extension gearman */
    public function testServerExampleServesAPeclClient(): void
    {
        $server = $this->child(self::EXAMPLES . '/server.php');
        $line = $server->readLine();
        self::assertMatchesRegularExpression('/^READY \d+$/', $line);
        $client = new \GearmanClient();
        $client->addServer('127.0.0.1', (int) substr($line, 6));
        $client->setTimeout(10_000);
        self::assertSame('cba', $client->doNormal('reverse', 'abc'));
        self::assertSame(0, $server->close(), 'it stops cleanly when stdin closes');
    }

    /** @requires extension imagick */
    public function testThumbnailInOneProcess(): void
    {
        $in = $this->jpeg(800, 600);
        $out = $this->dir . '/thumb.jpg';
        self::assertStringStartsWith('wrote', $this->runScript(self::EXAMPLES . '/thumbnail.php', [$in, $out]));
        $this->assertThumbnail($out);
    }

    /**
     * The classic pair: a pecl GearmanClient process sends the JPEG to the gearlet server
     * embedded in the worker process and gets the thumbnail back.
     *
     * @requires extension imagick
     * @requires extension gearman
     */
    public function testThumbnailWorkerAndPeclClient(): void
    {
        $worker = $this->child(self::EXAMPLES . '/thumbnail_worker.php');
        $line = $worker->readLine();
        self::assertMatchesRegularExpression('/^READY \d+$/', $line);
        $in = $this->jpeg(1024, 768);
        $out = $this->dir . '/thumb2.jpg';
        $client = $this->child(self::EXAMPLES . '/thumbnail_client.php', [substr($line, 6), $in, $out]);
        self::assertStringStartsWith('wrote', $client->readLine(30.0));
        self::assertSame(0, $client->close());
        $this->assertThumbnail($out);
    }

    /**
     * Every ```php block of the package README and of the repository README's PHP section runs
     * and prints what its `// => ` comments say. The package README's blocks are written for
     * composer (`vendor/autoload.php`, pointed at autoload.php here); the repository README's run
     * exactly as written, with `php` started in the repository's root as it tells the reader.
     *
     * @dataProvider readmeBlocks
     */
    public function testReadmeSnippet(string $source, string $expected, ?string $cwd): void
    {
        $file = $this->dir . '/snippet.php';
        if ($cwd === null) {
            $autoload = var_export(dirname(__DIR__) . '/autoload.php', true);
            $source = str_replace("require 'vendor/autoload.php';", "require $autoload;", $source);
        }
        file_put_contents($file, $source);
        $child = $this->children[] = new Child($file, [], [], $cwd);
        $out = $child->readAll(60.0);
        $stderr = $child->stderr();
        self::assertSame(0, $child->close(), "$file failed: $stderr");
        self::assertSame($expected, $out);
    }

    /** @return array<string, array{string, string, ?string}> */
    public static function readmeBlocks(): array
    {
        $out = [];
        $root = dirname(__DIR__, 3);
        foreach ([dirname(__DIR__) . '/README.md', $root . '/README.md'] as $readme) {
            if (!is_file($readme)) {
                continue;
            }
            $text = (string) file_get_contents($readme);
            preg_match_all('/```php\n(<\?php.*?)```/s', $text, $m);
            foreach ($m[1] as $i => $block) {
                preg_match_all('#// => (.*)$#m', $block, $e);
                $expected = $e[1] === [] ? '' : implode("\n", $e[1]) . "\n";
                $cwd = $readme === $root . '/README.md' ? $root : null;
                $out[basename(dirname($readme)) . '/' . basename($readme) . " block $i"] = [$block, $expected, $cwd];
            }
        }
        return $out;
    }

    private function assertThumbnail(string $path): void
    {
        $image = new \Imagick($path);
        self::assertSame('JPEG', $image->getImageFormat());
        self::assertSame([200, 150], [$image->getImageWidth(), $image->getImageHeight()]);
    }

    private function jpeg(int $w, int $h): string
    {
        $image = new \Imagick();
        $image->newPseudoImage($w, $h, 'gradient:red-blue');
        $image->setImageFormat('jpeg');
        $path = $this->dir . "/in-{$w}x{$h}.jpg";
        $image->writeImage($path);
        return $path;
    }

    /** @param list<string> $args */
    private function child(string $script, array $args = []): Child
    {
        return $this->children[] = new Child($script, $args);
    }

    /**
     * Runs a script to its end (bounded: a child that does not finish in 60 s is killed) and
     * returns its stdout; a non-zero exit fails the test with its stderr.
     *
     * @param list<string> $args
     */
    private function runScript(string $script, array $args = []): string
    {
        $child = $this->child($script, $args);
        $out = $child->readAll(60.0);
        $stderr = $child->stderr();
        self::assertSame(0, $child->close(), "$script failed: $stderr");
        return $out;
    }
}
