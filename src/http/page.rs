//! The status page at `/`: one server-rendered HTML page with no external assets that refreshes
//! itself (meta refresh). Plain semantic HTML (tables with headers, figures with captions), so a
//! terminal browser shows it as well as a phone; the charts are inline SVG with a text
//! alternative. Every function name and peer string is escaped: they are bytes from peers.

use super::history::{History, Sample};
use super::metrics::display_name;
use crate::core::{HistogramSnapshot, Priority, Stats, Transport, WorkerInfo};
use std::fmt::Write;
use std::time::Duration;

/// Most rows of the function and worker tables: a server with 100,000 functions still answers
/// with a page a browser can show.
const MAX_ROWS: usize = 500;

/// HTML-escapes text (element content and quoted attribute values alike).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Bytes from a peer, as safe HTML text.
fn name_html(b: &[u8]) -> String {
    escape_html(&display_name(b))
}

fn duration(d: Option<Duration>) -> String {
    let Some(d) = d else {
        return "–".into();
    };
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A span or an uptime in words: `45 s`, `5 min`, `3 h 20 min`, `2 d 4 h`.
fn span_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

fn rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:90em;\
padding:.5em 1em;color:#222;background:#fff}h1{font-size:1.4em;margin:.3em 0}\
h2{font-size:1.1em;margin:1.2em 0 .4em}table{border-collapse:collapse;width:100%;\
font-variant-numeric:tabular-nums}th,td{padding:.25em .5em;border-bottom:1px solid #ddd;\
text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left;\
white-space:normal;overflow-wrap:anywhere;min-width:8em}thead th{background:#f2f4f7}.scroll{overflow-x:auto}\
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;flex:1 1 20em}\
figcaption{font-size:.85em;color:#555}svg{width:100%;height:auto;background:#f8fafc;\
border:1px solid #dde}dl{display:grid;grid-template-columns:repeat(auto-fill,minmax(10em,1fr));\
gap:.3em 1em;margin:0}dt{font-size:.8em;color:#555}dd{margin:0;font-size:1.2em}\
.bad{color:#b00020}";

/// One chart: a filled line of `values` (oldest first) in a 300 × 80 box, with a caption that
/// says in words what it shows.
fn chart(out: &mut String, id: &str, title: &str, unit: &str, values: &[f64], span: Duration) {
    const W: f64 = 300.0;
    const H: f64 = 80.0;
    let max = values.iter().cloned().fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let n = values.len();
    let x = |i: usize| {
        if n <= 1 {
            W
        } else {
            W * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| H - H * v / top;
    let mut line = String::new();
    for (i, v) in values.iter().enumerate() {
        let _ = write!(
            line,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { " L" },
            x(i),
            y(*v)
        );
    }
    if n == 1 {
        let _ = write!(line, "M0,{0:.1} L{W},{0:.1}", y(values[0]));
    }
    let now = values.last().copied().unwrap_or(0.0);
    let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let min = if min.is_finite() { min } else { 0.0 };
    let caption = format!(
        "{title} over the last {}: now {}, min {}, max {} {unit}.",
        span_text(span),
        rate(now),
        rate(min),
        rate(max)
    );
    let _ = write!(
        out,
        "<figure><svg id=\"{id}\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-labelledby=\"{id}-t\" preserveAspectRatio=\"none\"><title id=\"{id}-t\">{caption}\
         </title>"
    );
    if !line.is_empty() {
        let _ = write!(
            out,
            "<path d=\"{line} L{W},{H} L0,{H} Z\" fill=\"#cfe0fb\" stroke=\"none\"/>\
             <path d=\"{line}\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.5\"/>"
        );
    }
    let _ = write!(
        out,
        "<text x=\"4\" y=\"12\" font-size=\"10\" fill=\"#333\">max {}</text></svg>\
         <figcaption>{caption}</figcaption></figure>",
        rate(max)
    );
}

/// Renders the page. `workers` are the sessions with abilities; `refresh` the reload period.
pub fn render(
    stats: &Stats,
    workers: &[WorkerInfo],
    history: &History,
    every: Duration,
    refresh: Duration,
) -> String {
    let mut out = String::with_capacity(8192 + stats.functions.len().min(MAX_ROWS) * 400);
    let totals = stats.totals();
    let mut sum = crate::core::JobCounters::default();
    for c in &totals {
        sum.add(c);
    }
    let queued: usize = stats
        .functions
        .iter()
        .map(|f| f.queued.iter().sum::<usize>())
        .sum();
    let running: usize = stats.functions.iter().map(|f| f.running).sum();
    let samples: Vec<Sample> = history.samples().iter().copied().collect();
    let throughput = samples.last().map_or(0.0, |s| s.throughput);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{}\"><title>gearlet status</title>\
         <style>{STYLE}</style></head><body><header><h1>gearlet status</h1>\
         <p>Up {}; refreshes every {} s.</p></header><main>",
        refresh.as_secs().max(1),
        span_text(stats.uptime),
        refresh.as_secs().max(1)
    );

    out.push_str("<section><h2>Totals</h2><dl>");
    let store_state = match (&stats.store, stats.store_failed) {
        (None, _) => "none".to_string(),
        (Some(_), true) => "<span class=\"bad\">failed</span>".to_string(),
        (Some((s, _)), false) => format!("{} stored", s.stored),
    };
    let items: [(&str, String); 12] = [
        ("Jobs queued", queued.to_string()),
        ("Jobs running", running.to_string()),
        ("Jobs held", stats.jobs.to_string()),
        ("Finished per second", rate(throughput)),
        ("Submitted", sum.submitted.to_string()),
        ("Completed", sum.completed.to_string()),
        ("Failed", sum.failed.to_string()),
        ("Exceptions", sum.exceptions.to_string()),
        ("Cancelled", sum.cancelled.to_string()),
        ("Retried", sum.retried.to_string()),
        (
            "Connections / workers",
            format!("{} / {}", stats.sessions.total(), stats.workers.total()),
        ),
        ("Store", store_state),
    ];
    for (k, v) in items {
        let _ = write!(out, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    }
    out.push_str("</dl></section>");

    let span = every * samples.len() as u32;
    out.push_str("<section><h2>Recent</h2><div class=\"charts\">");
    let q: Vec<f64> = samples.iter().map(|s| s.queued as f64).collect();
    chart(&mut out, "chart-queued", "Queued jobs", "jobs", &q, span);
    let t: Vec<f64> = samples.iter().map(|s| s.throughput).collect();
    chart(
        &mut out,
        "chart-throughput",
        "Jobs finished per second",
        "per second",
        &t,
        span,
    );
    out.push_str("</div></section>");

    let _ = write!(
        out,
        "<section><h2>Functions ({})</h2><div class=\"scroll\"><table id=\"functions\">\
         <thead><tr><th scope=\"col\">Function</th><th scope=\"col\">Queued high</th>\
         <th scope=\"col\">Queued normal</th><th scope=\"col\">Queued low</th>\
         <th scope=\"col\">Running</th><th scope=\"col\">Delayed</th>\
         <th scope=\"col\">Workers</th><th scope=\"col\">Done/s</th>\
         <th scope=\"col\">Wait p99</th><th scope=\"col\">Run p99</th>\
         <th scope=\"col\">Completed</th><th scope=\"col\">Failed</th></tr></thead><tbody>",
        stats.functions.len()
    );
    for f in stats.functions.iter().take(MAX_ROWS) {
        let t = f.total();
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            name_html(&f.name),
            f.queued[Priority::High as usize],
            f.queued[Priority::Normal as usize],
            f.queued[Priority::Low as usize],
            f.running,
            f.delayed,
            f.workers,
            rate(history.rate(&f.name)),
            duration(p99(&f.wait)),
            duration(p99(&f.run)),
            t.completed,
            t.failed + t.exceptions,
        );
    }
    out.push_str("</tbody></table></div>");
    if stats.functions.len() > MAX_ROWS {
        let _ = write!(
            out,
            "<p>{} more functions not shown (see <a href=\"/metrics\">/metrics</a>).</p>",
            stats.functions.len() - MAX_ROWS
        );
    }
    out.push_str("</section>");

    let _ = write!(
        out,
        "<section><h2>Workers ({})</h2><div class=\"scroll\"><table id=\"workers\"><thead><tr>\
         <th scope=\"col\">Functions</th><th scope=\"col\">Session</th>\
         <th scope=\"col\">Address</th><th scope=\"col\">Client id</th></tr></thead><tbody>",
        workers.len()
    );
    for w in workers.iter().take(MAX_ROWS) {
        let functions: Vec<String> = w.functions.iter().map(|f| name_html(f)).collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            functions.join(", "),
            w.session,
            escape_html(&w.addr),
            w.client_id.as_deref().map(name_html).unwrap_or_default()
        );
    }
    out.push_str("</tbody></table></div>");
    if workers.len() > MAX_ROWS {
        let _ = write!(
            out,
            "<p>{} more workers not shown.</p>",
            workers.len() - MAX_ROWS
        );
    }
    out.push_str("</section>");

    out.push_str("<section><h2>Sessions by transport</h2><div class=\"scroll\"><table>\
         <thead><tr><th scope=\"col\">Transport</th><th scope=\"col\">Open</th>\
         <th scope=\"col\">Workers</th><th scope=\"col\">Opened since start</th></tr></thead><tbody>");
    for t in Transport::ALL {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.name(),
            stats.sessions.get(t),
            stats.workers.get(t),
            stats.sessions_opened.get(t)
        );
    }
    out.push_str("</tbody></table></div></section>");
    out.push_str(
        "</main><footer><p><a href=\"/metrics\">Prometheus metrics</a> · \
         <a href=\"/health\">health</a></p></footer></body></html>\n",
    );
    out
}

fn p99(h: &HistogramSnapshot) -> Option<Duration> {
    h.quantile(0.99)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            escape_html("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(name_html(b"<b>\xff"), "&lt;b&gt;%FF");
    }
}
