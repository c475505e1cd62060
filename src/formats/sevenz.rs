//! 7z archives, opened in memory with a pure-Rust decoder (single-threaded, memory-limited).
//! Every member is returned with its bytes (capped), for the caller to analyse.

use std::io::{Cursor, Read};

pub struct Member {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The member was larger than the cap and was cut.
    pub truncated: bool,
}

/// Decoder memory limit (dictionary and model buffers), in KiB.
const MEMORY_LIMIT_KIB: usize = 256 * 1024;

/// Reads every file member, each capped at `cap` bytes and all together at `total_cap`, at most
/// `max_members` of them. A member cut by either cap is marked `truncated`, and no later member
/// is read once the total is spent.
pub fn members(data: &[u8], cap: usize, total_cap: usize, max_members: usize) -> Result<Vec<Member>, String> {
    let mut left = total_cap;
    let mut reader = sevenz_rust2::ArchiveReader::new_with_memory_limit(
        Cursor::new(data),
        sevenz_rust2::Password::empty(),
        MEMORY_LIMIT_KIB,
    )
    .map_err(|e| e.to_string())?;
    // The analysis core runs no threads of its own.
    reader.set_thread_count(1);
    let mut out = Vec::new();
    reader
        .for_each_entries(|entry, body| {
            if entry.is_directory() || !entry.has_stream() {
                return Ok(true);
            }
            if out.len() >= max_members {
                return Err(sevenz_rust2::Error::Other(
                    format!("more than {max_members} members").into(),
                ));
            }
            let limit = cap.min(left);
            let mut bytes = Vec::new();
            body.take(limit as u64 + 1).read_to_end(&mut bytes)?;
            let truncated = bytes.len() > limit;
            bytes.truncate(limit);
            left -= bytes.len();
            out.push(Member {
                name: entry.name().to_string(),
                bytes,
                truncated,
            });
            // Stop decoding this block once a member is cut or the total is spent.
            Ok(!truncated && left > 0)
        })
        .map_err(|e| e.to_string())?;
    Ok(out)
}
