//! Every lock and atomic of the job core comes from here, so that `--cfg loom` can swap in loom's
//! model-checked versions (the crossbeam `primitive` habit): nothing in `core` names `parking_lot`
//! or `std::sync::atomic` directly. The socket layer and the C ABI use std's atomics and locks
//! directly for their own counters and registries: they run on tokio, which loom does not model,
//! and the loom models (`tests/loom.rs`) check the core alone (`--no-default-features`).
//!
//! The wrappers expose one small API on both sides: `lock()` returns the guard (no poisoning: a
//! panic in one connection must not wedge the server), and `Condvar::wait*` take the guard by value
//! and hand it back, which is the shape both parking_lot and loom can implement.

#[cfg(not(loom))]
mod imp {
    pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
    use std::time::Instant;

    /// A mutex without poisoning (parking_lot: one byte, no allocation, fast uncontended path).
    #[derive(Debug, Default)]
    pub struct Mutex<T>(parking_lot::Mutex<T>);
    /// The guard of [`Mutex`].
    pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// A new unlocked mutex.
        pub fn new(v: T) -> Self {
            Mutex(parking_lot::Mutex::new(v))
        }
        /// Blocks until the lock is held.
        #[inline]
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    /// A reader-writer lock, used where reads dominate (the function registry).
    #[derive(Debug, Default)]
    pub struct RwLock<T>(parking_lot::RwLock<T>);
    impl<T> RwLock<T> {
        /// A new unlocked lock.
        pub fn new(v: T) -> Self {
            RwLock(parking_lot::RwLock::new(v))
        }
        /// Shared access.
        #[inline]
        pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, T> {
            self.0.read()
        }
        /// Exclusive access.
        #[inline]
        pub fn write(&self) -> parking_lot::RwLockWriteGuard<'_, T> {
            self.0.write()
        }
    }

    /// A condition variable paired with [`Mutex`].
    #[derive(Debug, Default)]
    pub struct Condvar(parking_lot::Condvar);
    impl Condvar {
        /// A new condition variable.
        pub fn new() -> Self {
            Condvar(parking_lot::Condvar::new())
        }
        /// Waits for a notification; spurious wake-ups are possible.
        pub fn wait<'a, T>(&self, mut g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(&mut g);
            g
        }
        /// Waits for a notification or until `deadline`.
        pub fn wait_until<'a, T>(
            &self,
            mut g: MutexGuard<'a, T>,
            deadline: Instant,
        ) -> MutexGuard<'a, T> {
            self.0.wait_until(&mut g, deadline);
            g
        }
        /// Wakes every waiter.
        #[inline]
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
        /// Wakes one waiter.
        #[inline]
        pub fn notify_one(&self) {
            self.0.notify_one();
        }
    }
}

#[cfg(loom)]
mod imp {
    pub use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
    use std::time::Instant;

    /// loom's mutex behind the same API as the parking_lot one.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);
    /// The guard of [`Mutex`].
    pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;
    impl<T> Mutex<T> {
        /// A new unlocked mutex.
        pub fn new(v: T) -> Self {
            Mutex(loom::sync::Mutex::new(v))
        }
        /// Blocks until the lock is held.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// loom's reader-writer lock.
    #[derive(Debug, Default)]
    pub struct RwLock<T>(loom::sync::RwLock<T>);
    impl<T> RwLock<T> {
        /// A new unlocked lock.
        pub fn new(v: T) -> Self {
            RwLock(loom::sync::RwLock::new(v))
        }
        /// Shared access.
        pub fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(|e| e.into_inner())
        }
        /// Exclusive access.
        pub fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// loom's condition variable; timed waits are plain waits (loom has no clock).
    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);
    impl Condvar {
        /// A new condition variable.
        pub fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        /// Waits for a notification.
        pub fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(g).unwrap_or_else(|e| e.into_inner())
        }
        /// Under loom there is no clock: waits for a notification.
        pub fn wait_until<'a, T>(
            &self,
            g: MutexGuard<'a, T>,
            _deadline: Instant,
        ) -> MutexGuard<'a, T> {
            self.wait(g)
        }
        /// Wakes every waiter.
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
        /// Wakes one waiter.
        pub fn notify_one(&self) {
            self.0.notify_one();
        }
    }
}

pub use imp::*;
pub use std::sync::{Arc, Weak};

/// The store thread's spawn: a named std thread, or a loom thread inside a model.
#[cfg(not(loom))]
pub fn spawn_named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    std::thread::Builder::new().name(name.into()).spawn(f)
}

/// The store thread's spawn: a named std thread, or a loom thread inside a model.
#[cfg(loom)]
pub fn spawn_named<T: Send + 'static>(
    _name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    Ok(loom::thread::spawn(f))
}

/// A thread's handle, std or loom.
#[cfg(not(loom))]
pub type JoinHandle<T> = std::thread::JoinHandle<T>;
/// A thread's handle, std or loom.
#[cfg(loom)]
pub type JoinHandle<T> = loom::thread::JoinHandle<T>;

/// Process-wide statics (the fork counter) need `const` constructors, which loom's atomics lack;
/// they are not part of any model, so they stay std atomics under loom too.
pub mod process_global {
    pub use std::sync::atomic::{AtomicU64, Ordering};
}
