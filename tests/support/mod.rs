//! Helpers shared by integration tests.
pub mod jobs;
pub mod mem_store;
