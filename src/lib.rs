//! gearlet: a Gearman job server as a library.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod protocol;
