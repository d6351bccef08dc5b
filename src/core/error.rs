//! The one error type of the core and its Rust API.

use bytes::Bytes;
use std::fmt;

/// Why a core operation did not happen. Every variant leaves the server as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A function name was empty.
    EmptyFunctionName,
    /// A function or reducer name longer than [`crate::core::MAX_FUNCTION_NAME`].
    FunctionNameTooLong,
    /// A unique id longer than [`crate::core::MAX_UNIQUE`] bytes.
    UniqueTooLarge,
    /// A workload or result larger than `Config::max_workload`.
    WorkloadTooLarge,
    /// The function's queue for that priority is at its `maxqueue` limit.
    QueueFull,
    /// The submission asked for a registered worker and there is none.
    NoWorker,
    /// No such job, or (for a worker) not a job this worker holds.
    JobNotFound,
    /// The named function does not exist.
    FunctionNotFound,
    /// The function still has workers or jobs and cannot be dropped.
    FunctionInUse,
    /// An option name the server does not know.
    UnknownOption,
    /// An argument out of its range (the text says which).
    InvalidArgument(&'static str),
    /// A blocking call's timeout passed first.
    Timeout,
    /// The job ended with WORK_FAIL (or was cancelled, or ran out of retries).
    JobFailed,
    /// The job ended with WORK_EXCEPTION carrying this data.
    JobException(Bytes),
    /// The handle was created before a `fork()` and used in the child.
    Forked,
    /// The server was reset or stopped while the call waited.
    Closed,
    /// The durable store could not write the job (the text says why); it was not queued.
    StoreFailed(std::sync::Arc<str>),
}

impl Error {
    /// The gearmand-style ERROR code the socket layer sends for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::EmptyFunctionName | Error::FunctionNameTooLong | Error::InvalidArgument(_) => {
                "INVALID_ARGUMENT"
            }
            Error::UniqueTooLarge | Error::WorkloadTooLarge => "ARGUMENT_TOO_LARGE",
            Error::QueueFull => "QUEUE_ERROR",
            Error::NoWorker => "NO_WORKER",
            Error::JobNotFound => "JOB_NOT_FOUND",
            Error::FunctionNotFound => "FUNCTION_NOT_FOUND",
            Error::FunctionInUse => "FUNCTION_IN_USE",
            Error::UnknownOption => "UNKNOWN_OPTION",
            Error::Timeout => "TIMEOUT",
            Error::JobFailed => "WORK_FAIL",
            Error::JobException(_) => "WORK_EXCEPTION",
            Error::Forked => "FORKED",
            Error::Closed => "SHUTDOWN",
            Error::StoreFailed(_) => "STORE_FAILED",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::EmptyFunctionName => "Function name is empty",
            Error::FunctionNameTooLong => "Function name too large",
            Error::UniqueTooLarge => "Unique value too large",
            Error::WorkloadTooLarge => "Workload too large",
            Error::QueueFull => "Job queue is full",
            Error::NoWorker => "No worker has registered the function",
            Error::JobNotFound => "Job does not exist on server",
            Error::FunctionNotFound => "Function not found",
            Error::FunctionInUse => "There are still connected workers or executing clients",
            Error::UnknownOption => "Server does not recognize given option",
            Error::InvalidArgument(why) => why,
            Error::Timeout => "Timed out",
            Error::JobFailed => "The job failed",
            Error::JobException(_) => "The job raised an exception",
            Error::Forked => "Handle used in a forked child process",
            Error::Closed => "The server was reset or stopped",
            Error::StoreFailed(why) => &**why,
        };
        f.write_str(s)
    }
}

impl std::error::Error for Error {}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
