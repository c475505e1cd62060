//! Reporters: each renders a finished [`ScanOutcome`] and never re-opens files.

pub mod json;
pub mod text;
