//! The integration test binary (one binary, one module per area).

mod analysis;
mod baseline;
mod common;
mod differential;
mod fixtures;
mod formats;
mod hostile;
mod regressions;
mod repo;
mod scan;
