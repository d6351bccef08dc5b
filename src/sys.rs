//! Every platform call of the crate, in one place: for the core, fork detection, the host name,
//! local time and handing free memory back to the OS; for the socket layer, the busy poll's epoll
//! set; for the `gearlet` binary, the descriptor limit and detaching from the terminal. Each
//! `unsafe` block says why it is sound. Not a stable API: public only for the binary.

use crate::sync::process_global::{AtomicU64, Ordering};
use std::sync::Once;

/// Bumped in the child after every `fork()`. A handle records the value at creation; a mismatch
/// means it is being used in a forked child, where the parent's threads (and any lock they held)
/// do not exist, so the handle must refuse to touch shared state instead of hanging.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// The current fork generation; registers the atfork hook on first use. The hook is not a signal
/// handler: it only increments a counter in the child.
pub(crate) fn fork_generation() -> u64 {
    ATFORK.call_once(|| {
        // SAFETY: pthread_atfork only records the function pointers; `after_fork_in_child` is
        // async-signal-safe (one atomic add) as a child handler must be.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// Cheap check used on every entry point: one relaxed load.
#[inline]
pub(crate) fn same_process(generation: u64) -> bool {
    FORK_GENERATION.load(Ordering::Relaxed) == generation
}

/// The machine's host name, for the default job handle prefix.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name
    }
}

/// Asks the allocator to give free pages back to the OS. glibc keeps freed small chunks in its
/// arenas forever otherwise, which is exactly gearmand's "memory kept after a backlog" complaint.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Local broken-down time for a Unix time: (minute, hour, day of month, month 1-12, day of week
/// with 0 = Monday), the field order of SUBMIT_JOB_SCHED.
pub(crate) fn local_fields(t: u64) -> [u32; 5] {
    let tt = t as libc::time_t;
    // SAFETY: `tm` is plain data; localtime_r fills it and is thread-safe (unlike localtime).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let ok = unsafe { !libc::localtime_r(&tt, &mut tm).is_null() };
    if !ok {
        return [0, 0, 1, 1, 0];
    }
    let wday_monday0 = ((tm.tm_wday + 6) % 7) as u32;
    [
        tm.tm_min as u32,
        tm.tm_hour as u32,
        tm.tm_mday as u32,
        (tm.tm_mon + 1) as u32,
        wday_monday0,
    ]
}

/// A level-triggered epoll set, polled without blocking: the I/O threads' busy poll asks it
/// whether any connection has bytes waiting before they go to sleep.
#[cfg(feature = "net")]
pub(crate) struct Epoll(std::os::fd::OwnedFd);

#[cfg(feature = "net")]
impl Epoll {
    /// A new, empty set.
    pub(crate) fn new() -> std::io::Result<Epoll> {
        use std::os::fd::FromRawFd;
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nothing else.
        Ok(Epoll(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    /// Watches a socket for bytes to read or a hang-up. The kernel drops it from the set when
    /// the socket closes, so there is no removal. A failure only means this socket cannot end a
    /// spin early, so it is ignored.
    pub(crate) fn watch(&self, fd: std::os::fd::RawFd) {
        use std::os::fd::AsRawFd;
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            u64: fd as u64,
        };
        // SAFETY: both descriptors are open (the socket is owned by the caller for the duration
        // of the call) and `ev` is a valid epoll_event the kernel only reads.
        unsafe {
            libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev);
        }
    }

    /// Whether a watched socket is readable (or hung up) right now; never blocks.
    pub(crate) fn ready_now(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: `ev` is valid for one event, the count passed; timeout 0 never blocks.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), &mut ev, 1, 0) };
        n != 0
    }
}

/// Sets the soft and hard limit on open descriptors (gearmand's `--file-descriptors`).
pub fn raise_fd_limit(n: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: n as libc::rlim_t,
        rlim_max: n as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass; no memory is retained.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Detaches from the terminal (`daemon(3)`, keeping the working directory). Only sound before
/// any thread is started: the caller must not have started a runtime or the core's timer thread.
pub fn daemonize() -> std::io::Result<()> {
    // SAFETY: the caller starts no thread before this call (documented above), so forking leaves
    // no lock held by a thread that does not exist in the child.
    let rc = unsafe { libc::daemon(1, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sends `sig` to every process of the process group `pgid` (`kill(-pgid, sig)`): `gearlet work`
/// runs each command in a group of its own, so a timeout also ends what the command started (a
/// shell's children), which would otherwise keep its output pipe open.
pub fn kill_process_group(pgid: u32, sig: i32) -> std::io::Result<()> {
    let pgid = libc::pid_t::try_from(pgid).map_err(std::io::Error::other)?;
    if pgid <= 1 {
        return Err(std::io::Error::other(
            "refusing to signal process group <= 1",
        ));
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(-pgid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
