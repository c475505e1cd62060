//! picklegate: finds the code that loading a pickle-based model file would run, without ever
//! unpickling it.
//!
//! The analysis core ([`analyze`]) takes bytes and returns findings; it does no I/O.
//!
//! ```
//! use picklegate::analyze::analyze;
//! use picklegate::model::Verdict;
//!
//! // `os.system('true')`, the way a malicious `__reduce__` pickles it (protocol 0).
//! let analysis = analyze(b"cos\nsystem\n(S'true'\ntR.");
//! assert_eq!(analysis.verdict(), Verdict::Malicious);
//! assert_eq!(analysis.findings[0].call.as_deref(), Some("os.system('true')"));
//!
//! // Plain data is clean.
//! assert_eq!(analyze(b"\x80\x04]\x94(K\x01K\x02e.").verdict(), Verdict::Clean);
//! ```

pub mod analyze;
pub mod config;
pub mod crossfile;
pub mod disasm;
pub mod formats;
pub mod kb;
pub mod model;
pub mod report;
pub mod rules;
pub mod scan;
pub mod suppress;
pub mod walk;
