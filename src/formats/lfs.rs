//! Git LFS pointer files: small text files that stand in for the real content.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    pub oid_sha256: String,
    pub size: u64,
}

/// Recognises a pointer by its first line; `None` when the text is not one.
pub fn looks_like_pointer(data: &[u8]) -> bool {
    data.len() < 1024
        && (data.starts_with(b"version https://git-lfs.github.com/spec/")
            || data.starts_with(b"version https://hawser.github.com/spec/"))
}

/// Parses a pointer (`version`, then `oid sha256:<64 hex>` and `size <n>`).
pub fn parse(data: &[u8]) -> Result<Pointer, String> {
    let text = std::str::from_utf8(data).map_err(|_| "pointer is not UTF-8".to_string())?;
    let mut oid = None;
    let mut size = None;
    for line in text.lines().skip(1) {
        if let Some(v) = line.strip_prefix("oid sha256:") {
            if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                oid = Some(v.to_string());
            } else {
                return Err(format!("invalid oid {v:?}"));
            }
        } else if let Some(v) = line.strip_prefix("size ") {
            size = Some(v.parse::<u64>().map_err(|_| format!("invalid size {v:?}"))?);
        }
    }
    match (oid, size) {
        (Some(oid_sha256), Some(size)) => Ok(Pointer { oid_sha256, size }),
        _ => Err("pointer lacks an oid or a size".into()),
    }
}
