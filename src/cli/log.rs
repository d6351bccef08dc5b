//! The server's log: gearmand's eight levels, one line per event as
//! `2026-11-29T20:41:07.123Z LEVEL message` (RFC 3339, UTC, milliseconds), to a file (reopened
//! on SIGHUP, for logrotate), stderr or nowhere, and to syslog with `--syslog`.

use crate::net::LogLevel;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// gearmand's log levels, most severe first; `--verbose` names one and lines of the levels
/// before it and itself are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Fatal,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

const LEVELS: [Level; 8] = [
    Level::Fatal,
    Level::Alert,
    Level::Critical,
    Level::Error,
    Level::Warning,
    Level::Notice,
    Level::Info,
    Level::Debug,
];

impl Level {
    /// gearmand's name of the level.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Fatal => "FATAL",
            Level::Alert => "ALERT",
            Level::Critical => "CRITICAL",
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    /// A level by its name, in any case (gearmand takes upper case only).
    pub(crate) fn parse(s: &str) -> Option<Level> {
        LEVELS
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s))
    }

    /// `steps` levels more verbose (each `-v`), at most DEBUG.
    pub(crate) fn raised(self, steps: u8) -> Level {
        LEVELS[(self as usize + steps as usize).min(LEVELS.len() - 1)]
    }

    /// The socket layer's level as one of these.
    pub(crate) fn of_net(l: LogLevel) -> Level {
        match l {
            LogLevel::Error => Level::Error,
            LogLevel::Warning => Level::Warning,
            LogLevel::Notice => Level::Notice,
            LogLevel::Info => Level::Info,
            LogLevel::Debug => Level::Debug,
        }
    }

    /// The most verbose socket-layer level that passes `self`.
    pub(crate) fn net_threshold(self) -> LogLevel {
        match self {
            Level::Fatal | Level::Alert | Level::Critical | Level::Error => LogLevel::Error,
            Level::Warning => LogLevel::Warning,
            Level::Notice => LogLevel::Notice,
            Level::Info => LogLevel::Info,
            Level::Debug => LogLevel::Debug,
        }
    }

    fn syslog_priority(self) -> i32 {
        match self {
            Level::Fatal => libc::LOG_EMERG,
            Level::Alert => libc::LOG_ALERT,
            Level::Critical => libc::LOG_CRIT,
            Level::Error => libc::LOG_ERR,
            Level::Warning => libc::LOG_WARNING,
            Level::Notice => libc::LOG_NOTICE,
            Level::Info => libc::LOG_INFO,
            Level::Debug => libc::LOG_DEBUG,
        }
    }
}

/// Where log lines go, and the level that filters them.
pub(crate) struct Log {
    path: Option<PathBuf>,
    file: Mutex<Option<Box<dyn Write + Send>>>,
    threshold: Level,
    syslog: bool,
}

impl Log {
    /// Opens `spec` (a path, `stderr` or `none`). An unwritable path is an error that names it.
    pub(crate) fn open(spec: &str, threshold: Level, syslog: bool) -> Result<Log, String> {
        let path = match spec {
            "none" | "stderr" => None,
            p => Some(PathBuf::from(p)),
        };
        let w: Option<Box<dyn Write + Send>> = match (spec, &path) {
            ("stderr", _) => Some(Box::new(std::io::stderr())),
            (_, Some(p)) => Some(
                open_file(p).map_err(|e| format!("cannot open log file {}: {e}", p.display()))?,
            ),
            _ => None,
        };
        if syslog {
            crate::sys::open_syslog();
        }
        Ok(Log {
            path,
            file: Mutex::new(w),
            threshold,
            syslog,
        })
    }

    /// The log file, if the log goes to one.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes a line of an event during the run, if `level` passes the threshold.
    pub(crate) fn log(&self, level: Level, msg: &str) {
        if level <= self.threshold {
            self.write(level, msg);
        }
    }

    /// Writes a line whatever the threshold: the start-up and shutdown lines (listening, the
    /// notices of flags kept for compatibility, the store read back, stopping, jobs dropped at
    /// shutdown) happen once per run and are what an operator looks for first, at gearmand's
    /// default level (ERROR) too.
    pub(crate) fn always(&self, level: Level, msg: &str) {
        self.write(level, msg);
    }

    fn write(&self, level: Level, msg: &str) {
        if self.syslog {
            crate::sys::syslog(level.syslog_priority(), msg);
        }
        if let Some(w) = self.file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            // One write per line: lines of several threads never interleave in an O_APPEND file.
            let line = format!("{} {} {msg}\n", timestamp(), level.name());
            let _ = w.write_all(line.as_bytes());
        }
    }

    /// Opens the log file again (after logrotate moved it away). On failure the old file stays
    /// in use and the error is logged there.
    pub(crate) fn reopen(&self) {
        let Some(p) = &self.path else { return };
        match open_file(p) {
            Ok(f) => *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(f),
            Err(e) => self.log(
                Level::Error,
                &format!("cannot reopen log file {}: {e}", p.display()),
            ),
        }
    }
}

fn open_file(p: &Path) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(Box::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)?,
    ))
}

/// Now as RFC 3339 in UTC with milliseconds: `2026-11-29T20:41:07.123Z`.
pub(crate) fn timestamp() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let [y, mo, d, h, mi, s] = crate::sys::utc_fields(t.as_secs());
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        t.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_in_any_case_and_raise_up_to_debug() {
        assert_eq!(Level::parse("warning"), Some(Level::Warning));
        assert_eq!(Level::parse("DEBUG"), Some(Level::Debug));
        assert_eq!(Level::parse("LOUD"), None);
        assert_eq!(Level::Error.raised(1), Level::Warning);
        assert_eq!(Level::Error.raised(2), Level::Notice);
        assert_eq!(Level::Error.raised(9), Level::Debug);
    }

    #[test]
    fn timestamp_is_rfc3339_utc_with_milliseconds() {
        let t = timestamp();
        let b = t.as_bytes();
        assert_eq!(t.len(), 24, "{t}");
        for (i, c) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
        ] {
            assert_eq!(b[i], c, "{t}");
        }
        assert_eq!(b[23], b'Z');
        assert!(t[..4].parse::<u32>().unwrap() >= 2024);
    }

    #[test]
    fn utc_fields_of_a_known_time() {
        // 2026-11-29T20:41:07Z
        assert_eq!(
            crate::sys::utc_fields(1_795_984_867),
            [2026, 11, 29, 20, 41, 7]
        );
    }
}
