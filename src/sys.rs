//! Every platform call of the crate, in one place: for the core, fork detection, the host name,
//! local time and handing free memory back to the OS; for the socket layer, the busy poll's epoll
//! set; for the `gearlet` binary, the descriptor limit, detaching from the terminal with a
//! readiness pipe, switching user, syslog and UTC time for log lines. Each `unsafe` block says
//! why it is sound. Not a stable API: public only for the binary.

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

/// The monotonic clock in microseconds, for job time stamps. `clock_gettime` straight, not
/// `Instant::elapsed()`: a job takes three stamps, and the checked `Timespec` subtraction and
/// `Duration` normalisation behind `elapsed` cost ~90 instructions each, most of what the
/// statistics cost per job (`benches/stats.sh`).
#[inline]
pub(crate) fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000)
        .wrapping_add(ts.tv_nsec as u64 / 1000)
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

/// UTC broken-down time for a Unix time: (year, month 1-12, day, hour, minute, second), for the
/// log's RFC 3339 timestamps. `gmtime_r` does the calendar, not hand-written date arithmetic.
#[cfg(feature = "cli")]
pub(crate) fn utc_fields(t: u64) -> [u32; 6] {
    let tt = t as libc::time_t;
    // SAFETY: `tm` is plain data; gmtime_r fills it and is thread-safe (unlike gmtime).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let ok = unsafe { !libc::gmtime_r(&tt, &mut tm).is_null() };
    if !ok {
        return [1970, 1, 1, 0, 0, 0];
    }
    [
        (tm.tm_year + 1900) as u32,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
    ]
}

/// Which side of [`fork_with_pipe`] the caller is on.
#[cfg(feature = "cli")]
pub enum Forked {
    /// The original process, with the read end of the pipe and the child's pid.
    Parent {
        /// What the child writes before it closes its end.
        from_child: std::fs::File,
        /// The child's process id.
        child: i32,
    },
    /// The new process, in a new session (no controlling terminal), with the write end.
    Child {
        /// Where the child reports that it is ready, or why it failed.
        to_parent: std::fs::File,
    },
}

/// Forks with a pipe from the child to the parent (the classic daemon readiness pipe); the child
/// calls `setsid` to leave the terminal's session. Only sound before any thread is started: the
/// caller must not have started a runtime, a store or the core's timer thread.
#[cfg(feature = "cli")]
pub fn fork_with_pipe() -> std::io::Result<Forked> {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is valid for the two descriptors pipe2 writes; O_CLOEXEC keeps them out of
    // anything the server might exec.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created by pipe2 and are owned by nothing else.
    let (r, w) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    // SAFETY: the caller starts no thread before this call (documented above), so the child
    // inherits no lock held by a thread that does not exist in it.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        drop(w);
        return Ok(Forked::Parent {
            from_child: r,
            child: pid,
        });
    }
    drop(r);
    // SAFETY: setsid takes no arguments; in a freshly forked child it cannot fail (the child is
    // never a process group leader).
    unsafe {
        libc::setsid();
    }
    Ok(Forked::Child { to_parent: w })
}

/// Waits for a child process and returns its exit status (128 + signal if it was killed).
#[cfg(feature = "cli")]
pub fn wait_child(pid: i32) -> i32 {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is valid for the one int waitpid writes.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        if rc < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return 1;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// Points stdin, stdout and stderr at /dev/null: a daemon that is up keeps no terminal (or a
/// caller's pipe) open.
#[cfg(feature = "cli")]
pub fn stdio_to_dev_null() -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        // SAFETY: both descriptors are open; dup2 replaces `fd` atomically.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A user to switch to (`-u`): its ids, looked up in the password database.
#[cfg(feature = "cli")]
#[derive(Clone, Debug)]
pub struct User {
    /// The name, as given.
    pub name: String,
    /// Its user id.
    pub uid: u32,
    /// Its primary group id.
    pub gid: u32,
}

/// Looks a user up by name (or a numeric id) in the password database.
#[cfg(feature = "cli")]
pub fn lookup_user(name: &str) -> std::io::Result<User> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in user name"))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: `passwd` is plain data that getpwnam_r fills.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the strings getpwnam_r stores point into
    // `buf`, which outlives our reads of `pw` below.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    if result.is_null() {
        if let Ok(uid) = name.parse::<u32>() {
            return Ok(User {
                name: name.to_owned(),
                uid,
                gid: uid,
            });
        }
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no such user: {name}"),
        ));
    }
    Ok(User {
        name: name.to_owned(),
        uid: pw.pw_uid,
        gid: pw.pw_gid,
    })
}

/// Drops root: the user's supplementary groups, then its group, then its user id, in that order
/// (after setuid the process could no longer change groups). Checks that root cannot be regained.
/// glibc applies each change to every thread of the process.
#[cfg(feature = "cli")]
pub fn switch_user(user: &User) -> std::io::Result<()> {
    let cname = std::ffi::CString::new(user.name.as_str())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in user name"))?;
    let last = std::io::Error::last_os_error;
    // SAFETY: the name is a valid NUL-terminated string for the duration of the call.
    if unsafe { libc::initgroups(cname.as_ptr(), user.gid as libc::gid_t) } != 0 {
        let gid = [user.gid as libc::gid_t];
        // A numeric id with no password entry: its own group only.
        // SAFETY: `gid` is valid for the one element passed.
        if unsafe { libc::setgroups(1, gid.as_ptr()) } != 0 {
            return Err(last());
        }
    }
    // SAFETY: setgid and setuid take plain integers.
    if unsafe { libc::setgid(user.gid as libc::gid_t) } != 0 {
        return Err(last());
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(user.uid as libc::uid_t) } != 0 {
        return Err(last());
    }
    // SAFETY: as above; this call must fail for a non-root user.
    if user.uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err(std::io::Error::other("root could be regained after setuid"));
    }
    Ok(())
}

/// The process's effective user id.
#[cfg(feature = "cli")]
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Changes a file's owner (the log file, handed to the `-u` user so that it can reopen it).
#[cfg(feature = "cli")]
pub fn chown(path: &std::path::Path, user: &User) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
}

/// Opens the connection to syslog with identity `gearlet`, the pid on every line, facility
/// daemon.
#[cfg(feature = "cli")]
pub fn open_syslog() {
    static IDENT: &std::ffi::CStr = c"gearlet";
    // SAFETY: IDENT is 'static, as openlog requires (it keeps the pointer).
    unsafe {
        libc::openlog(
            IDENT.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        )
    };
}

/// Sends one line to syslog at `priority` (a `LOG_*` level).
#[cfg(feature = "cli")]
pub fn syslog(priority: i32, msg: &str) {
    let Ok(text) = std::ffi::CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: the format is a literal "%s" and its one argument a valid C string, so syslog
    // reads no more arguments than it is given.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
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
