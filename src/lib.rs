//! picklegate: finds the code that loading a pickle-based model file would run, without ever
//! unpickling it.
//!
//! The analysis core ([`analyze`]) takes bytes and returns findings; it does no I/O.

pub mod analyze;
pub mod config;
pub mod disasm;
pub mod formats;
pub mod kb;
pub mod model;
pub mod report;
pub mod rules;
pub mod scan;
pub mod walk;
