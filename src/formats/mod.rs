//! Pure parsers over bytes: no file system, no printing, no threads.

pub mod compress;
pub mod pickle;
