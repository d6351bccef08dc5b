<?php

declare(strict_types=1);

namespace Gearlet;

use FFI;
use FFI\CData;

/**
 * Reads a statistics snapshot of an embedded server (Server::stats()) through the C ABI's
 * gearlet_server_stats() into plain arrays, so nothing refers to C memory afterwards.
 *
 * Counters, per function and priority ('high', 'normal', 'low'): 'submitted' counts every
 * accepted submission and 'coalesced' those that joined a job already there; a job ends once as
 * 'completed', 'failed' (WORK_FAIL, or out of attempts), 'exceptions', 'cancelled' or 'dropped'
 * (its last foreground client left before it ran); 'started' counts assignments to a worker,
 * 'retried' lost attempts put back in the queue. Histograms ('wait': queued to assigned, 'run':
 * assigned to result) have 29 log2 buckets (bucket i: up to 2^i microseconds; the last one:
 * longer), their count, sum and p50/p90/p99 in seconds (null when empty).
 *
 * @internal Use Server::stats().
 */
final class Stats
{
    public const PRIORITIES = ['high', 'normal', 'low'];
    private const COUNTERS = ['submitted', 'coalesced', 'started', 'completed', 'failed',
        'exceptions', 'retried', 'cancelled', 'dropped'];

    /**
     * @return array{uptime: float, jobs: int, totals: array<string, array<string, int>>,
     *   sessions: array<string, int>, workers: array<string, int>, sessions_opened: array<string, int>,
     *   store_attached: bool, store_failed: bool, store_jobs: int,
     *   functions: array<string, array<string, mixed>>}
     */
    public static function snapshot(FFI $ffi, CData $server): array
    {
        $out = $ffi->new('gearlet_stats *');
        Native::check($ffi->gearlet_server_stats($server, FFI::addr($out)), 'stats');
        try {
            $s = $ffi->new('gearlet_stats_summary');
            Native::check($ffi->gearlet_stats_get_summary($out, FFI::addr($s)), 'stats summary');
            $functions = [];
            $f = $ffi->new('gearlet_function_stats');
            for ($i = 0; $i < $s->functions; $i++) {
                Native::check($ffi->gearlet_stats_function($out, $i, FFI::addr($f)), 'stats function');
                $counters = [];
                $queued = [];
                foreach (self::PRIORITIES as $p => $name) {
                    $counters[$name] = self::counters($f->counters[$p]);
                    $queued[$name] = $f->queued[$p];
                }
                $functions[Native::bytes($f->name)] = [
                    'counters' => $counters,
                    'queued' => $queued,
                    'running' => $f->running,
                    'delayed' => $f->delayed,
                    'workers' => $f->workers,
                    'wait' => self::histogram($f->wait),
                    'run' => self::histogram($f->run),
                ];
            }
            $totals = [];
            foreach (self::PRIORITIES as $p => $name) {
                $totals[$name] = self::counters($s->totals[$p]);
            }
            return [
                'uptime' => $s->uptime_ms / 1000,
                'jobs' => $s->jobs,
                'totals' => $totals,
                'sessions' => self::transports($s->sessions),
                'workers' => self::transports($s->workers),
                'sessions_opened' => self::transports($s->sessions_opened),
                'store_attached' => $s->store_attached !== 0,
                'store_failed' => $s->store_failed !== 0,
                'store_jobs' => $s->store_jobs,
                'functions' => $functions,
            ];
        } finally {
            $ffi->gearlet_stats_free($out);
        }
    }

    /** @return array<string, int> */
    private static function counters(CData $c): array
    {
        $out = [];
        foreach (self::COUNTERS as $name) {
            $out[$name] = $c->$name;
        }
        return $out;
    }

    /** @return array<string, int> */
    private static function transports(CData $t): array
    {
        return ['in_process' => $t->in_process, 'tcp' => $t->tcp, 'unix' => $t->unix_socket, 'tls' => $t->tls];
    }

    /** @return array{buckets: list<int>, count: int, sum: float, p50: ?float, p90: ?float, p99: ?float} */
    private static function histogram(CData $h): array
    {
        $buckets = [];
        for ($i = 0; $i < 29; $i++) {
            $buckets[] = $h->buckets[$i];
        }
        $q = static fn (float $v): ?float => $v < 0 ? null : $v;
        return ['buckets' => $buckets, 'count' => $h->count, 'sum' => $h->sum_seconds,
            'p50' => $q($h->p50), 'p90' => $q($h->p90), 'p99' => $q($h->p99)];
    }
}
