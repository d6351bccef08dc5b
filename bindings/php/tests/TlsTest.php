<?php

declare(strict_types=1);

namespace Gearlet\Tests;

use Gearlet\GearletException;
use Gearlet\Server;
use PHPUnit\Framework\TestCase;

/**
 * Server::listenTls / reloadTls: certificates made per test by the openssl CLI, checked with PHP's
 * own TLS streams. Every stream has a timeout.
 */
final class TlsTest extends TestCase
{
    private string $dir;

    protected function setUp(): void
    {
        if (trim((string) shell_exec('command -v openssl')) === '') {
            self::markTestSkipped('needs the openssl CLI');
        }
        $this->dir = sys_get_temp_dir() . '/gearlet-php-tls-' . getmypid() . '-' . bin2hex(random_bytes(4));
        mkdir($this->dir);
        $this->makePki();
    }

    protected function tearDown(): void
    {
        if (isset($this->dir)) {
            array_map('unlink', glob("{$this->dir}/*") ?: []);
            @rmdir($this->dir);
        }
    }

    private function openssl(string $args): void
    {
        exec('cd ' . escapeshellarg($this->dir) . " && openssl $args 2>&1", $out, $rc);
        self::assertSame(0, $rc, implode("\n", $out));
    }

    private function makePki(): void
    {
        $ec = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';
        $this->openssl("req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=CA");
        foreach (['server', 'client'] as $name) {
            $this->openssl("req $ec -keyout $name.key -out $name.csr -subj /CN=$name");
            file_put_contents("{$this->dir}/$name.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
            $this->openssl("x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
                . "-extfile $name.ext -out $name.pem");
            chmod("{$this->dir}/$name.key", 0600);
        }
    }

    /** Admin `status` over TLS; false when the connection or handshake is refused. */
    private function tlsStatus(int $port, bool $clientCert): string|false
    {
        $ssl = ['cafile' => "{$this->dir}/ca.pem", 'peer_name' => 'localhost', 'verify_peer' => true];
        if ($clientCert) {
            $ssl['local_cert'] = "{$this->dir}/client.pem";
            $ssl['local_pk'] = "{$this->dir}/client.key";
        }
        $ctx = stream_context_create(['ssl' => $ssl]);
        $sock = @stream_socket_client("tls://127.0.0.1:$port", $errno, $errstr, 5,
            STREAM_CLIENT_CONNECT, $ctx);
        if ($sock === false) {
            return false;
        }
        stream_set_timeout($sock, 5);
        // TLS 1.3: a refused client certificate shows on the first read, as a warning.
        @fwrite($sock, "status\n");
        $text = '';
        while (!str_ends_with($text, ".\n") && ($line = @fgets($sock)) !== false) {
            $text .= $line;
        }
        $timedOut = stream_get_meta_data($sock)['timed_out'];
        fclose($sock);
        self::assertFalse($timedOut, 'read timed out');
        return $text === '' ? false : $text;
    }

    public function testListenTlsWithMutualTls(): void
    {
        $server = new Server();
        $port = $server->listenTls('127.0.0.1', 0, "{$this->dir}/server.pem", "{$this->dir}/server.key",
            "{$this->dir}/ca.pem");
        self::assertSame(["tls://127.0.0.1:$port"], $server->addresses());
        self::assertSame(".\n", $this->tlsStatus($port, true));
        self::assertFalse($this->tlsStatus($port, false));
        $server->reloadTls();
        self::assertSame(".\n", $this->tlsStatus($port, true));
    }

    public function testPlainTextOnTheTlsPortGetsAnAlert(): void
    {
        $server = new Server();
        $port = $server->listenTls('127.0.0.1', 0, "{$this->dir}/server.pem", "{$this->dir}/server.key");
        $sock = stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 5);
        self::assertIsResource($sock);
        stream_set_timeout($sock, 5);
        fwrite($sock, "status\n");
        $got = stream_get_contents($sock);
        self::assertFalse(stream_get_meta_data($sock)['timed_out']);
        self::assertSame("\x15", substr((string) $got, 0, 1));
    }

    public function testBadKeyMaterialSaysWhy(): void
    {
        $server = new Server();
        try {
            $server->listenTls('127.0.0.1', 0, "{$this->dir}/server.pem", "{$this->dir}/client.key");
            self::fail('a mismatched key was accepted');
        } catch (GearletException $e) {
            self::assertStringContainsString('does not belong', $e->getMessage());
        }
        chmod("{$this->dir}/server.key", 0644);
        $this->expectException(GearletException::class);
        $this->expectExceptionMessage('readable by every user');
        $server->listenTls('127.0.0.1', 0, "{$this->dir}/server.pem", "{$this->dir}/server.key");
    }
}
