//! The integration test binary (one binary, one module per area).

mod common;
mod differential;
mod fixtures;
mod hostile;
mod regressions;
mod repo;
mod scan;
