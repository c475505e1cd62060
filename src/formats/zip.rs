//! A tolerant zip reader that reads archives the way PyTorch's miniz-based reader does: from the
//! central directory, ignoring CRCs and flag bits, locating data through each local header. Every
//! irregularity a strict reader would refuse is reported as an [`Anomaly`] rather than an error,
//! because attackers use them to make scanners give up while torch still loads the file.

use crate::formats::compress::{decompress, Codec, DecompressError};
use std::borrow::Cow;

#[derive(Debug, Clone)]
pub struct Entry {
    /// Name in the central directory (what torch looks records up by).
    pub name: String,
    /// Name in the local header, when it differs.
    pub local_name: Option<String>,
    pub method: u16,
    pub flags: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub size: u64,
    /// Offset of the member's local header in the file.
    pub header_offset: usize,
    /// Offset of the member's data in the file.
    pub data_offset: usize,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// Bytes before the first local header (a prefix that strict readers may treat differently).
    DataBeforeArchive {
        len: usize,
    },
    LocalNameMismatch {
        central: String,
        local: String,
    },
    EncryptedFlag {
        name: String,
        flags: u16,
    },
    UnusualFlags {
        name: String,
        flags: u16,
    },
    DuplicateName {
        name: String,
    },
    UnsafeName {
        name: String,
    },
    BadLocalHeader {
        name: String,
    },
    /// Data after the end-of-central-directory record.
    TrailingData {
        len: usize,
    },
}

#[derive(Debug)]
pub struct Archive {
    pub entries: Vec<Entry>,
    pub anomalies: Vec<Anomaly>,
    /// Where the archive's first byte is (non-zero when something precedes it).
    pub start: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipError {
    NoEndOfCentralDirectory,
    Truncated(&'static str),
    TooManyEntries(u64),
}

impl std::fmt::Display for ZipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZipError::NoEndOfCentralDirectory => write!(f, "no end-of-central-directory record"),
            ZipError::Truncated(what) => write!(f, "zip {what} runs past the end of the file"),
            ZipError::TooManyEntries(n) => write!(f, "zip has {n} entries, more than the limit"),
        }
    }
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// Position of the end-of-central-directory record, searching back over a maximal comment.
pub fn find_eocd(data: &[u8]) -> Option<usize> {
    if data.len() < 22 {
        return None;
    }
    let lowest = data.len().saturating_sub(22 + 65_535);
    (lowest..=data.len() - 22)
        .rev()
        .find(|&i| data[i..i + 4] == *b"PK\x05\x06")
}

/// Reads the central directory.
pub fn open(data: &[u8], max_entries: u64) -> Result<Archive, ZipError> {
    let eocd = find_eocd(data).ok_or(ZipError::NoEndOfCentralDirectory)?;
    let mut count = u64::from(u16_at(data, eocd + 10).ok_or(ZipError::Truncated("end record"))?);
    let mut cd_size = u64::from(u32_at(data, eocd + 12).ok_or(ZipError::Truncated("end record"))?);
    let mut cd_offset = u64::from(u32_at(data, eocd + 16).ok_or(ZipError::Truncated("end record"))?);
    let comment_len = usize::from(u16_at(data, eocd + 20).unwrap_or(0));
    let mut anomalies = Vec::new();
    let record_end = eocd + 22 + comment_len;
    if record_end < data.len() {
        anomalies.push(Anomaly::TrailingData {
            len: data.len() - record_end,
        });
    }
    // ZIP64: the locator sits just before the end record.
    let mut cd_end_marker = eocd;
    if eocd >= 20 && data[eocd - 20..eocd - 16] == *b"PK\x06\x07" {
        if let Some(z64) = u64_at(data, eocd - 12).and_then(|o| usize::try_from(o).ok()) {
            let z64 = find_zip64_record(data, z64, eocd - 20);
            if let Some(rec) = z64 {
                count = u64_at(data, rec + 32).unwrap_or(count);
                cd_size = u64_at(data, rec + 40).unwrap_or(cd_size);
                cd_offset = u64_at(data, rec + 48).unwrap_or(cd_offset);
                cd_end_marker = rec;
            }
        }
    }
    if count > max_entries {
        return Err(ZipError::TooManyEntries(count));
    }
    // Bytes in front of the archive shift every offset, as Python's zipfile computes it.
    let shift = (cd_end_marker as u64).saturating_sub(cd_size).saturating_sub(cd_offset) as usize;
    let cd_start = usize::try_from(cd_offset).unwrap_or(usize::MAX).saturating_add(shift);
    let mut entries: Vec<Entry> = Vec::new();
    // Names seen so far (a linear search per entry would be quadratic in hostile archives).
    let mut seen = std::collections::HashSet::new();
    let mut pos = cd_start;
    for _ in 0..count {
        if data.get(pos..pos.saturating_add(4)) != Some(b"PK\x01\x02") {
            return Err(ZipError::Truncated("central directory"));
        }
        let header = data
            .get(pos..pos + 46)
            .ok_or(ZipError::Truncated("central directory"))?;
        let flags = u16_at(header, 8).unwrap_or(0);
        let method = u16_at(header, 10).unwrap_or(0);
        let crc32 = u32_at(header, 16).unwrap_or(0);
        let mut compressed_size = u64::from(u32_at(header, 20).unwrap_or(0));
        let mut size = u64::from(u32_at(header, 24).unwrap_or(0));
        let name_len = usize::from(u16_at(header, 28).unwrap_or(0));
        let extra_len = usize::from(u16_at(header, 30).unwrap_or(0));
        let comment_len = usize::from(u16_at(header, 32).unwrap_or(0));
        let mut local_offset = u64::from(u32_at(header, 42).unwrap_or(0));
        let name_bytes = data
            .get(pos + 46..pos + 46 + name_len)
            .ok_or(ZipError::Truncated("central directory"))?;
        let name = decode_name(name_bytes, flags);
        let extra = data
            .get(pos + 46 + name_len..pos + 46 + name_len + extra_len)
            .unwrap_or(&[]);
        apply_zip64_extra(extra, &mut size, &mut compressed_size, &mut local_offset);
        pos += 46 + name_len + extra_len + comment_len;

        let local = usize::try_from(local_offset)
            .unwrap_or(usize::MAX)
            .saturating_add(shift);
        let Some(local_header) = data
            .get(local..local.saturating_add(30))
            .filter(|h| h[..4] == *b"PK\x03\x04")
        else {
            anomalies.push(Anomaly::BadLocalHeader { name });
            continue;
        };
        let local_name_len = usize::from(u16_at(local_header, 26).unwrap_or(0));
        let local_extra_len = usize::from(u16_at(local_header, 28).unwrap_or(0));
        let local_name = data
            .get(local + 30..local + 30 + local_name_len)
            .map(|b| decode_name(b, flags));
        let data_offset = local + 30 + local_name_len + local_extra_len;
        let local_name = local_name.filter(|l| *l != name);
        if let Some(l) = &local_name {
            anomalies.push(Anomaly::LocalNameMismatch {
                central: name.clone(),
                local: l.clone(),
            });
        }
        if flags & 0x41 != 0 {
            anomalies.push(Anomaly::EncryptedFlag {
                name: name.clone(),
                flags,
            });
        }
        if flags & 0x2020 != 0 {
            anomalies.push(Anomaly::UnusualFlags {
                name: name.clone(),
                flags,
            });
        }
        if name.starts_with('/')
            || name.starts_with('\\')
            || name.split(['/', '\\']).any(|p| p == "..")
            || name.contains(':')
        {
            anomalies.push(Anomaly::UnsafeName { name: name.clone() });
        }
        if !seen.insert(name.clone()) {
            anomalies.push(Anomaly::DuplicateName { name: name.clone() });
        }
        entries.push(Entry {
            name,
            local_name,
            method,
            flags,
            crc32,
            compressed_size,
            size,
            header_offset: local,
            data_offset,
        });
    }
    let first_header = entries.iter().map(|e| e.header_offset).min().unwrap_or(shift);
    if first_header > 0 {
        anomalies.insert(0, Anomaly::DataBeforeArchive { len: first_header });
    }
    Ok(Archive {
        entries,
        anomalies,
        start: first_header,
    })
}

fn find_zip64_record(data: &[u8], at: usize, before: usize) -> Option<usize> {
    if data.get(at..at.saturating_add(4)) == Some(b"PK\x06\x06") {
        return Some(at);
    }
    // With data prepended, search backwards from the locator.
    let lowest = before.saturating_sub(1 << 16);
    (lowest..=before.saturating_sub(56))
        .rev()
        .find(|&i| data[i..i + 4] == *b"PK\x06\x06")
}

fn apply_zip64_extra(mut extra: &[u8], size: &mut u64, compressed: &mut u64, offset: &mut u64) {
    while extra.len() >= 4 {
        let id = u16::from_le_bytes([extra[0], extra[1]]);
        let len = usize::from(u16::from_le_bytes([extra[2], extra[3]]));
        let body = extra.get(4..4 + len).unwrap_or(&[]);
        if id == 0x0001 {
            let mut fields = body
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
            if *size == 0xffff_ffff {
                *size = fields.next().unwrap_or(*size);
            }
            if *compressed == 0xffff_ffff {
                *compressed = fields.next().unwrap_or(*compressed);
            }
            if *offset == 0xffff_ffff {
                *offset = fields.next().unwrap_or(*offset);
            }
        }
        extra = extra.get(4 + len..).unwrap_or(&[]);
    }
}

fn decode_name(bytes: &[u8], flags: u16) -> String {
    if flags & 0x800 != 0 {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            // CP437 names: keep them readable without claiming a decoding.
            Err(_) => bytes
                .iter()
                .map(|&b| if b.is_ascii() { b as char } else { '\u{fffd}' })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadMemberError {
    OutOfBounds,
    UnsupportedMethod(u16),
    Decompress(DecompressError),
}

impl std::fmt::Display for ReadMemberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadMemberError::OutOfBounds => write!(f, "member data runs past the end of the file"),
            ReadMemberError::UnsupportedMethod(m) => write!(f, "unsupported compression method {m}"),
            ReadMemberError::Decompress(e) => write!(f, "{e}"),
        }
    }
}

/// A member's bytes: borrowed when stored, decompressed (capped) when deflated.
pub fn read_member<'d>(data: &'d [u8], entry: &Entry, cap: usize) -> Result<Cow<'d, [u8]>, ReadMemberError> {
    let len = usize::try_from(entry.compressed_size).map_err(|_| ReadMemberError::OutOfBounds)?;
    let raw = data
        .get(entry.data_offset..entry.data_offset.saturating_add(len))
        .ok_or(ReadMemberError::OutOfBounds)?;
    match entry.method {
        0 => Ok(Cow::Borrowed(raw)),
        8 => decompress(Codec::Deflate, raw, cap)
            .map(Cow::Owned)
            .map_err(ReadMemberError::Decompress),
        m => Err(ReadMemberError::UnsupportedMethod(m)),
    }
}

/// The first bytes of a member (for sniffing), without inflating all of it.
pub fn peek_member<'d>(data: &'d [u8], entry: &Entry, n: usize) -> Option<Cow<'d, [u8]>> {
    let len = usize::try_from(entry.compressed_size).ok()?;
    let raw = data.get(entry.data_offset..entry.data_offset.saturating_add(len))?;
    match entry.method {
        0 => Some(Cow::Borrowed(&raw[..raw.len().min(n)])),
        8 => {
            use std::io::Read;
            let mut out = Vec::with_capacity(n);
            flate2::read::DeflateDecoder::new(raw)
                .take(n as u64)
                .read_to_end(&mut out)
                .ok()?;
            Some(Cow::Owned(out))
        }
        _ => None,
    }
}

/// CRC-32 of a member's uncompressed bytes.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

#[cfg(test)]
/// A stored zip with the given members, written by hand.
pub(crate) fn build(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, body) in members {
        let offset = out.len() as u32;
        let crc = crc32(body);
        out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(body);
        central.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(body.len() as u32).to_le_bytes());
        central.extend_from_slice(&(body.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0u8; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_members_and_prefix() {
        let zip = build(&[("a/data.pkl", b"N."), ("a/version", b"3\n")]);
        let archive = open(&zip, 100).unwrap();
        assert_eq!(archive.entries.len(), 2);
        assert!(archive.anomalies.is_empty(), "{:?}", archive.anomalies);
        assert_eq!(&*read_member(&zip, &archive.entries[0], 100).unwrap(), b"N.");

        let mut prefixed = b"JUNKJUNK".to_vec();
        prefixed.extend_from_slice(&zip);
        let archive = open(&prefixed, 100).unwrap();
        assert_eq!(archive.anomalies[0], Anomaly::DataBeforeArchive { len: 8 });
        assert_eq!(&*read_member(&prefixed, &archive.entries[0], 100).unwrap(), b"N.");
    }

    #[test]
    fn duplicates_and_unsafe_names() {
        let zip = build(&[("x/data.pkl", b"N."), ("x/data.pkl", b"K\x01."), ("../evil.pkl", b"N.")]);
        let archive = open(&zip, 100).unwrap();
        assert!(archive.anomalies.contains(&Anomaly::DuplicateName {
            name: "x/data.pkl".into()
        }));
        assert!(archive.anomalies.contains(&Anomaly::UnsafeName {
            name: "../evil.pkl".into()
        }));
        assert_eq!(archive.entries.len(), 3);
    }

    #[test]
    fn many_members_are_read_in_linear_time() {
        let names: Vec<String> = (0..20_000).map(|i| format!("m/{i}")).collect();
        let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), b"x".as_slice())).collect();
        let archive = open(&build(&members), 100_000).unwrap();
        assert_eq!(archive.entries.len(), 20_000);
        assert!(archive.anomalies.is_empty());
    }

    #[test]
    fn entry_limit_and_garbage() {
        let zip = build(&[("a", b"1"), ("b", b"2")]);
        assert_eq!(open(&zip, 1).unwrap_err(), ZipError::TooManyEntries(2));
        assert_eq!(
            open(b"not a zip at all, clearly", 10).unwrap_err(),
            ZipError::NoEndOfCentralDirectory
        );
    }
}
