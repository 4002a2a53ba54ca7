//! `perf` as a library: the parts other binaries reuse.
//!
//! - [`report`]: the shared result shape (table / JSON lines) and histogram setup.
//! - [`fixload`]: the FIX load generator behind `perf fix-load`; `ringex demo`
//!   calls [`fixload::run`] against the node it starts.
//!
//! The `perf` binary (`src/main.rs`) adds the benchmark families on top.

#![deny(missing_docs)]

pub mod fixload;
pub mod report;
