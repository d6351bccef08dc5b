// The crate's front page is the README's Rust part, kept in docs/lib.md (tests/docs.rs checks
// that the two agree); its examples run as doctests. Layers, imports pointing one way: `core`
// (jobs, functions, workers; no I/O) and `protocol` (the wire codec; no job state) at the bottom;
// `net` drives the core with the codec; `cli` and `capi` sit on top.
#![doc = include_str!("../docs/lib.md")]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "capi")]
pub mod capi;
// The command line's doc comments are its `--help` text, written for a terminal (`[IPV6]:PORT`,
// `H:<hostname>`), not for rustdoc's link and HTML checks.
#[cfg(feature = "cli")]
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
pub mod cli;
pub mod core;
pub(crate) mod decimal;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "net")]
pub mod net;
pub mod protocol;
pub mod store;
pub(crate) mod sync;
#[doc(hidden)]
pub mod sys;

pub use crate::core::{Client, Config, Error, JobHandle, Priority, Server, Worker, WorkerJob};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
