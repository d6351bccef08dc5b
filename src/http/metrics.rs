//! `/metrics`: the statistics in the Prometheus text exposition format (version 0.0.4).
//!
//! The `gearman_*` gauges keep the names and labels `gearman_exporter` users already graph; the
//! `gearlet_*` families add the counters and histograms of [`crate::core::Stats`].

use crate::core::{HistogramSnapshot, Priority, Stats, Transport, HISTOGRAM_BUCKETS};
use std::fmt::Write;

/// A function name as label text: valid UTF-8 is kept, each byte of an invalid sequence and
/// each `%` become `%XX`. Injective, so two hostile names that differ only in invalid bytes
/// never become one series (a duplicate series fails the whole scrape).
pub fn display_name(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '%' {
                out.push_str("%25");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Escapes a label value per the text format: backslash, double quote and line feed.
pub fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The label text of a priority.
pub fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::High => "high",
        Priority::Normal => "normal",
        Priority::Low => "low",
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A float as the text format wants it.
fn float(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &HistogramSnapshot) {
    let mut cumulative = 0u64;
    for i in 0..HISTOGRAM_BUCKETS {
        cumulative += h.buckets[i];
        let le = HistogramSnapshot::upper_bound(i).as_secs_f64();
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"{}\"}} {cumulative}",
            float(le)
        );
    }
    let count = h.count();
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", float(h.sum.as_secs_f64()));
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

/// The counters of `JobCounters`, as (metric suffix, help, getter).
type CounterField = (
    &'static str,
    &'static str,
    fn(&crate::core::JobCounters) -> u64,
);
const COUNTERS: [CounterField; 9] = [
    (
        "submitted",
        "Submissions accepted, coalesced ones included.",
        |c| c.submitted,
    ),
    (
        "coalesced",
        "Submissions that joined a job with the same unique.",
        |c| c.coalesced,
    ),
    ("started", "Jobs handed to a worker (every attempt).", |c| {
        c.started
    }),
    ("completed", "Jobs that ended with WORK_COMPLETE.", |c| {
        c.completed
    }),
    (
        "failed",
        "Jobs that ended with WORK_FAIL or ran out of attempts.",
        |c| c.failed,
    ),
    ("exceptions", "Jobs that ended with WORK_EXCEPTION.", |c| {
        c.exceptions
    }),
    (
        "retried",
        "Attempts lost to a worker leaving or timing out, job requeued.",
        |c| c.retried,
    ),
    ("cancelled", "Jobs cancelled.", |c| c.cancelled),
    (
        "dropped",
        "Foreground jobs dropped when their last client left.",
        |c| c.dropped,
    ),
];

/// Renders the whole exposition.
pub fn render(stats: &Stats) -> String {
    let mut out = String::with_capacity(4096 + stats.functions.len() * 6000);
    let names: Vec<String> = stats
        .functions
        .iter()
        .map(|f| escape_label(&display_name(&f.name)))
        .collect();

    header(
        &mut out,
        "gearman_up",
        "gauge",
        "Whether the server answers (always 1).",
    );
    out.push_str("gearman_up 1\n");
    type Gauge = (
        &'static str,
        &'static str,
        fn(&crate::core::FunctionStats) -> usize,
    );
    let gauges: [Gauge; 4] = [
        (
            "gearman_jobs",
            "Jobs of the function: queued, running or delayed.",
            |f| f.queued.iter().sum::<usize>() + f.running + f.delayed,
        ),
        (
            "gearman_jobs_running",
            "Jobs of the function held by workers.",
            |f| f.running,
        ),
        (
            "gearman_jobs_waiting",
            "Jobs of the function queued for a worker.",
            |f| f.queued.iter().sum(),
        ),
        (
            "gearman_workers",
            "Sessions that registered the function.",
            |f| f.workers,
        ),
    ];
    for (name, help, get) in gauges {
        header(&mut out, name, "gauge", help);
        for (f, n) in stats.functions.iter().zip(&names) {
            let _ = writeln!(out, "{name}{{function=\"{n}\"}} {}", get(f));
        }
    }

    header(
        &mut out,
        "gearlet_jobs_queued",
        "gauge",
        "Jobs queued for a worker, by priority.",
    );
    for (f, n) in stats.functions.iter().zip(&names) {
        for p in Priority::ALL {
            let _ = writeln!(
                out,
                "gearlet_jobs_queued{{function=\"{n}\",priority=\"{}\"}} {}",
                priority_name(p),
                f.queued[p as usize]
            );
        }
    }
    header(
        &mut out,
        "gearlet_jobs_delayed",
        "gauge",
        "Jobs waiting for their run-at time or for the store.",
    );
    for (f, n) in stats.functions.iter().zip(&names) {
        let _ = writeln!(
            out,
            "gearlet_jobs_delayed{{function=\"{n}\"}} {}",
            f.delayed
        );
    }

    // The per-job families only for functions that ever had a job: a worker registering
    // thousands of functions it never gets jobs for would otherwise add ~100 zero series each.
    let active: Vec<bool> = stats
        .functions
        .iter()
        .map(|f| f.total() != crate::core::JobCounters::default())
        .collect();
    for (suffix, help, get) in COUNTERS {
        let metric = format!("gearlet_jobs_{suffix}_total");
        header(&mut out, &metric, "counter", help);
        for ((f, n), _) in stats
            .functions
            .iter()
            .zip(&names)
            .zip(&active)
            .filter(|(_, a)| **a)
        {
            for p in Priority::ALL {
                let _ = writeln!(
                    out,
                    "{metric}{{function=\"{n}\",priority=\"{}\"}} {}",
                    priority_name(p),
                    get(&f.counters[p as usize])
                );
            }
        }
    }

    for (metric, help, pick) in [
        (
            "gearlet_job_wait_seconds",
            "Time from entering the queue to being assigned to a worker.",
            (|f| &f.wait) as fn(&crate::core::FunctionStats) -> &HistogramSnapshot,
        ),
        (
            "gearlet_job_run_seconds",
            "Time from assignment to the worker's result.",
            |f| &f.run,
        ),
    ] {
        header(&mut out, metric, "histogram", help);
        for ((f, n), _) in stats
            .functions
            .iter()
            .zip(&names)
            .zip(&active)
            .filter(|(_, a)| **a)
        {
            histogram(&mut out, metric, &format!("function=\"{n}\""), pick(f));
        }
    }

    let retired = stats.retired;
    header(
        &mut out,
        "gearlet_retired_jobs_finished_total",
        "counter",
        "Jobs that ended, of functions no longer in the registry.",
    );
    let finished: u64 = retired.iter().map(|c| c.finished()).sum();
    let _ = writeln!(out, "gearlet_retired_jobs_finished_total {finished}");

    let per_transport: [(&str, &str, &str, crate::core::PerTransport); 3] = [
        (
            "gearlet_sessions",
            "gauge",
            "Open sessions (connections and in-process handles).",
            stats.sessions,
        ),
        (
            "gearlet_workers_connected",
            "gauge",
            "Open sessions with at least one registered function.",
            stats.workers,
        ),
        (
            "gearlet_sessions_opened_total",
            "counter",
            "Sessions opened since start.",
            stats.sessions_opened,
        ),
    ];
    for (name, kind, help, v) in per_transport {
        header(&mut out, name, kind, help);
        for t in Transport::ALL {
            let _ = writeln!(out, "{name}{{transport=\"{}\"}} {}", t.name(), v.get(t));
        }
    }

    header(&mut out, "gearlet_jobs", "gauge", "Jobs the server holds.");
    let _ = writeln!(out, "gearlet_jobs {}", stats.jobs);
    header(
        &mut out,
        "gearlet_uptime_seconds",
        "gauge",
        "Time since the server started.",
    );
    let _ = writeln!(
        out,
        "gearlet_uptime_seconds {}",
        float(stats.uptime.as_secs_f64())
    );

    if let Some((s, _)) = &stats.store {
        header(
            &mut out,
            "gearlet_store_up",
            "gauge",
            "1 while the durable store accepts writes, 0 once it failed.",
        );
        let _ = writeln!(out, "gearlet_store_up {}", u8::from(!stats.store_failed));
        let store: [(&str, &str, &str, u64); 4] = [
            (
                "gearlet_store_jobs",
                "gauge",
                "Jobs the store holds.",
                s.stored,
            ),
            (
                "gearlet_store_commits_total",
                "counter",
                "Batches written.",
                s.commits,
            ),
            (
                "gearlet_store_ops_total",
                "counter",
                "Adds and removes written.",
                s.ops,
            ),
            (
                "gearlet_store_failed_commits_total",
                "counter",
                "Batches that failed.",
                s.failed_commits,
            ),
        ];
        for (name, kind, help, v) in store {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {v}");
        }
        header(
            &mut out,
            "gearlet_store_last_commit_seconds",
            "gauge",
            "How long the last batch took to write and flush.",
        );
        let _ = writeln!(
            out,
            "gearlet_store_last_commit_seconds {}",
            float(s.last_commit_us as f64 / 1e6)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_escape_injectively() {
        assert_eq!(display_name(b"plain"), "plain");
        assert_eq!(display_name(b"a\xffb"), "a%FFb");
        assert_eq!(display_name(b"a%FFb"), "a%25FFb");
        assert_eq!(display_name("é".as_bytes()), "é");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn floats_are_text_format_floats() {
        assert_eq!(float(0.000001), "0.000001");
        assert_eq!(float(f64::INFINITY), "+Inf");
    }
}
