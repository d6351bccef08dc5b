//! A private PostgreSQL cluster for a test (scripts/pg-cluster.sh): started in a temporary
//! directory, destroyed when dropped. Without PostgreSQL's server binaries the tests that need it
//! are skipped with a message, unless GEARLET_REQUIRE_PG is set (scripts/test.sh sets it, having
//! installed them).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};

/// A running cluster.
pub struct Cluster {
    pub dir: PathBuf,
    /// libpq's `key=value` conninfo of its `postgres` database.
    pub conninfo: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster.sh")
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(script())
        .args(args)
        .output()
        .map_err(|e| format!("scripts/pg-cluster.sh: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "scripts/pg-cluster.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Cluster {
    /// Starts a new cluster, or `None` (with a message) where PostgreSQL is not installed.
    pub fn start(tag: &str) -> Option<Cluster> {
        if let Err(e) = run(&["find"]) {
            assert!(
                std::env::var_os("GEARLET_REQUIRE_PG").is_none(),
                "GEARLET_REQUIRE_PG is set but {e}"
            );
            eprintln!(
                "SKIPPED: {e} (install Debian's postgresql package: scripts/install-test-deps.sh)"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "gearlet-pg-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let d = dir.to_str().expect("a UTF-8 temp dir").to_string();
        let conninfo = run(&["start", &d]).unwrap_or_else(|e| panic!("{e}"));
        Some(Cluster { dir, conninfo })
    }

    /// One cluster shared by the tests of a binary that are running at the same time (each uses
    /// its own table names); destroyed when the last of them drops it.
    pub fn shared() -> Option<Arc<Cluster>> {
        static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
        let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = g.upgrade() {
            return Some(c);
        }
        let c = Arc::new(Cluster::start("shared")?);
        *g = Arc::downgrade(&c);
        Some(c)
    }

    fn ctl(&self, cmd: &str) {
        run(&[cmd, self.dir.to_str().expect("UTF-8")]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// `pg_ctl stop -m immediate`: the server dies as in a crash.
    pub fn kill(&self) {
        self.ctl("kill");
    }

    /// Starts it again (after `kill`); returns once it accepts connections.
    pub fn restart(&self) {
        self.ctl("restart");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = run(&["destroy", self.dir.to_str().unwrap_or("")]);
    }
}
