<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\Client;
use Gearlet\GearletException;
use Gearlet\Job;
use Gearlet\Server;
use Gearlet\Worker;
use PHPUnit\Framework\TestCase;

use const Gearlet\GEARMAN_TIMEOUT;

/**
 * The PostgreSQL store: background jobs kept in a database that several servers share. The round
 * trips run against a private cluster (the repository's scripts/pg-cluster.sh, one for this
 * class, destroyed after it); they are skipped with a message where PostgreSQL's server binaries
 * are missing, unless GEARLET_REQUIRE_PG is set (then they fail). Each test uses tables of its
 * own. Every wait is a blocking call with a timeout.
 */
final class PgStoreTest extends TestCase
{
    private const CLUSTER = __DIR__ . '/../../../scripts/pg-cluster.sh';

    private static ?string $dir = null;
    /** @var array<string, string> the cluster's conninfo, key => value */
    private static array $pg = [];
    private static ?string $why = null;

    public static function setUpBeforeClass(): void
    {
        if (!is_executable(self::CLUSTER) || self::command([self::CLUSTER, 'find'])[0] !== 0) {
            self::$why = 'no PostgreSQL server binaries (initdb, pg_ctl): the repository\'s '
                . 'scripts/install-test-deps.sh installs them';
            return;
        }
        // pg-cluster.sh makes the directory itself, owned by the cluster's user.
        self::$dir = sys_get_temp_dir() . '/gearlet-php-pg-' . getmypid() . '-' . bin2hex(random_bytes(4));
        [$rc, $out, $err] = self::command([self::CLUSTER, 'start', self::$dir]);
        if ($rc !== 0) {
            self::$why = "scripts/pg-cluster.sh start failed: $err";
            return;
        }
        foreach (preg_split('/\s+/', trim($out)) ?: [] as $kv) {
            [$k, $v] = explode('=', $kv, 2);
            self::$pg[$k] = $v;
        }
    }

    public static function tearDownAfterClass(): void
    {
        if (self::$dir !== null) {
            self::command([self::CLUSTER, 'destroy', self::$dir]);
            self::$dir = null;
        }
    }

    /**
     * Runs a command with a time limit.
     *
     * @param list<string> $cmd
     * @return array{int, string, string} exit code, stdout, stderr
     */
    private static function command(array $cmd): array
    {
        $p = proc_open(array_merge(['timeout', '120'], $cmd), [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        self::assertIsResource($p);
        $out = (string) stream_get_contents($pipes[1]);
        $err = (string) stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        return [proc_close($p), $out, $err];
    }

    /** The cluster, or the test is skipped (failed under GEARLET_REQUIRE_PG). */
    private function cluster(): void
    {
        if (self::$why === null) {
            return;
        }
        if ((string) getenv('GEARLET_REQUIRE_PG') !== '') {
            self::fail('GEARLET_REQUIRE_PG is set but ' . self::$why);
        }
        self::markTestSkipped(self::$why);
    }

    private function conninfo(): string
    {
        return implode(' ', array_map(fn ($k, $v) => "$k=$v", array_keys(self::$pg), self::$pg));
    }

    /** The same database as a postgresql:// URL (the socket directory percent-encoded). */
    private function url(): string
    {
        $p = self::$pg;
        return "postgresql://{$p['user']}@" . rawurlencode($p['host']) . ":{$p['port']}/{$p['dbname']}";
    }

    /**
     * A worker serving $function that records each job it runs.
     *
     * @param list<array{string, string, string}> $seen
     */
    private function recorder(Server $server, string $function, array &$seen, int $timeoutMs): Worker
    {
        $worker = new Worker($server);
        $worker->setTimeout($timeoutMs);
        $worker->addFunction($function, function (Job $job) use (&$seen): string {
            $seen[] = [$job->functionName(), $job->unique(), $job->workload()];
            return 'done';
        });
        return $worker;
    }

    public function testBackgroundJobsComeBackAfterARestartWithTheSameId(): void
    {
        $this->cluster();
        $opts = ['store' => $this->url(), 'store_server_id' => 'php-restart', 'store_table' => 'php_restart'];
        $server = new Server($opts);
        self::assertSame(0, $server->replayReport()['restored']);
        $client = new Client($server);
        self::assertNotSame('', $client->doLowBackground('resize', 'low one', 'img-1'));
        self::assertNotSame('', $client->doBackground('resize', 'normal two', 'img-2'));
        self::assertNotSame('', $client->doHighBackground('resize', "\0bin\xff", 'img-3'));
        unset($client);
        $server->free();

        $server = new Server($opts);
        $report = $server->replayReport();
        self::assertSame([3, 0], [$report['restored'], $report['skipped']]);
        $seen = [];
        $worker = $this->recorder($server, 'resize', $seen, 0);
        for ($i = 0; $i < 3; $i++) {
            self::assertTrue($worker->work());
        }
        self::assertFalse($worker->work());
        self::assertSame(GEARMAN_TIMEOUT, $worker->returnCode());
        // High first, then normal, then low: the priorities were kept, and the bytes.
        self::assertSame([
            ['resize', 'img-3', "\0bin\xff"],
            ['resize', 'img-2', 'normal two'],
            ['resize', 'img-1', 'low one'],
        ], $seen);
        unset($worker);
        $server->free();

        // The finished jobs were removed when the second server was freed.
        $server = new Server($opts);
        self::assertSame(0, $server->replayReport()['restored']);
        $server->free();
    }

    public function testASecondServerAdoptsTheJobsOfOneThatWentAway(): void
    {
        $this->cluster();
        // `a`'s lease (1 s, renewed every 250 ms while it lives) is what `b` waits for.
        $common = ['store_postgres' => $this->conninfo(), 'store_table' => 'php_adopt', 'store_lease_ms' => 1000];
        $a = new Server($common + ['store_server_id' => 'php-a']);
        $client = new Client($a);
        self::assertNotSame('', $client->doBackground('thumb', 'first', 'a-1'));
        self::assertNotSame('', $client->doBackground('thumb', 'second', 'a-2'));
        unset($client);

        $b = new Server($common + ['store_server_id' => 'php-b']);
        self::assertSame(0, $b->replayReport()['restored']); // a's jobs are a's while its lease lives
        $seen = [];
        $worker = $this->recorder($b, 'thumb', $seen, 20000);
        // `a` goes away without running them (its lease left to expire, as after a crash): `b`
        // adopts them and wakes its waiting worker.
        $a->free();
        self::assertTrue($worker->work());
        self::assertTrue($worker->work());
        self::assertSame([['thumb', 'a-1', 'first'], ['thumb', 'a-2', 'second']], $seen);
        unset($worker);
        $b->free();

        $a = new Server($common + ['store_server_id' => 'php-a']);
        self::assertSame(0, $a->replayReport()['restored']);
        $a->free();
    }

    public function testPostgresSettingsAreChecked(): void
    {
        // None of these reaches a database.
        $cases = [
            [['store' => 'postgresql://u@localhost/db'], 'server id'],
            [['store_postgres' => 'port=not-a-port password=sekrit', 'store_server_id' => 'x'], 'port'],
            [['store' => '/tmp/q.db', 'store_postgres' => 'dbname=x'], 'not both'],
            [['store_postgres' => 'dbname=x', 'store_server_id' => 'two words'], 'server id'],
            [['store_postgres' => 'dbname=x', 'store_lease_ms' => 99], '100 ms'],
            [['store_postgres' => 'dbname=x', 'store_table' => '1st'], 'table name'],
        ];
        foreach ($cases as [$opts, $want]) {
            try {
                new Server($opts);
                self::fail('no exception for ' . json_encode($opts));
            } catch (GearletException $e) {
                self::assertSame(3, $e->getCode(), $e->getMessage());
                self::assertStringContainsString($want, $e->getMessage());
                self::assertStringNotContainsString('sekrit', $e->getMessage());
            }
        }
    }

    public function testAnUnreachableDatabaseThrowsStoreFailed(): void
    {
        try {
            new Server(['store_postgres' => 'host=/nonexistent-gearlet-pg dbname=d password=sekrit', 'store_server_id' => 'x']);
            self::fail('no exception');
        } catch (GearletException $e) {
            self::assertSame(32, $e->getCode());
            self::assertStringContainsString('/nonexistent-gearlet-pg', $e->getMessage());
            self::assertStringNotContainsString('sekrit', $e->getMessage());
        }
    }
}
