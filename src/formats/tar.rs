//! A zero-copy tar reader (ustar, GNU long names, pax headers): members are slices of the input.

#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub offset: usize,
    pub size: usize,
    /// Regular file (other kinds — links, devices — are listed but hold no data).
    pub is_file: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarError {
    Truncated(String),
    BadHeader(usize),
    TooManyMembers(usize),
}

impl std::fmt::Display for TarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TarError::Truncated(name) => write!(f, "tar member {name:?} runs past the end of the file"),
            TarError::BadHeader(at) => write!(f, "invalid tar header at byte {at}"),
            TarError::TooManyMembers(n) => write!(f, "tar has more than {n} members"),
        }
    }
}

/// Whether `data` starts with a tar header (ustar magic and a valid checksum).
pub fn is_tar(data: &[u8]) -> bool {
    data.len() >= 512 && checksum_ok(&data[..512])
}

fn checksum_ok(header: &[u8]) -> bool {
    let Some(stored) = octal(&header[148..156]) else {
        return false;
    };
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) })
        .sum();
    stored == sum && header.iter().any(|&b| b != 0)
}

fn octal(field: &[u8]) -> Option<u64> {
    // GNU base-256 for large sizes.
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return field[1..]
            .iter()
            .try_fold(0u64, |acc, &b| acc.checked_mul(256).map(|a| a + u64::from(b)));
    }
    let text: String = field.iter().take_while(|&&b| b != 0).map(|&b| b as char).collect();
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

fn cstr(field: &[u8]) -> String {
    String::from_utf8_lossy(&field[..field.iter().position(|&b| b == 0).unwrap_or(field.len())]).into_owned()
}

pub fn members(data: &[u8], max_members: usize) -> Result<Vec<Member>, TarError> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut long_name: Option<String> = None;
    while pos + 512 <= data.len() {
        let header = &data[pos..pos + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        if !checksum_ok(header) {
            return Err(TarError::BadHeader(pos));
        }
        let size = usize::try_from(octal(&header[124..136]).ok_or(TarError::BadHeader(pos))?)
            .map_err(|_| TarError::BadHeader(pos))?;
        let kind = header[156];
        let mut name = cstr(&header[..100]);
        let prefix = cstr(&header[345..500]);
        if header[257..262] == *b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        let body = pos + 512;
        let end = body
            .checked_add(size)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| TarError::Truncated(name.clone()))?;
        match kind {
            b'L' => long_name = Some(cstr(&data[body..end])),
            b'x' => {
                if let Some(path) = pax_path(&data[body..end]) {
                    long_name = Some(path);
                }
            }
            b'g' => {}
            _ => {
                if out.len() >= max_members {
                    return Err(TarError::TooManyMembers(max_members));
                }
                let is_file = kind == b'0' || kind == 0 || kind == b'7';
                out.push(Member {
                    name: long_name.take().unwrap_or(name),
                    offset: body,
                    size,
                    is_file,
                });
            }
        }
        pos = body + size.div_ceil(512) * 512;
    }
    Ok(out)
}

fn pax_path(records: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(records);
    text.lines().find_map(|line| {
        line.split_once(' ')
            .and_then(|(_, kv)| kv.strip_prefix("path="))
            .map(str::to_string)
    })
}
