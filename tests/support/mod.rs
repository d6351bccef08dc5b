//! Helpers shared by integration tests.
pub mod mem_store;
