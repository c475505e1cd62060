//! Bounded decompression: every decoder stops at a caller-given output cap, so a bomb is a
//! reported limit, never an OOM.

use std::io::Read;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Zlib,
    Gzip,
    Bz2,
    Xz,
    /// `.lzma` "alone" format (LZMA1 with a 13-byte header), as `lzma.compress(format=FORMAT_ALONE)`.
    Lzma,
    Lz4,
    /// Raw deflate, as zip members use it.
    Deflate,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Zlib => "zlib",
            Codec::Gzip => "gzip",
            Codec::Bz2 => "bz2",
            Codec::Xz => "xz",
            Codec::Lzma => "lzma",
            Codec::Lz4 => "lz4",
            Codec::Deflate => "deflate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecompressError {
    /// Output would exceed the cap: the data decompressed at least this far.
    TooLarge {
        cap: usize,
    },
    Corrupt(String),
}

impl std::fmt::Display for DecompressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecompressError::TooLarge { cap } => write!(f, "decompressed size exceeds {cap} bytes"),
            DecompressError::Corrupt(why) => write!(f, "corrupt compressed data: {why}"),
        }
    }
}

/// Decompresses `input` with `codec`, refusing to produce more than `cap` bytes.
pub fn decompress(codec: Codec, input: &[u8], cap: usize) -> Result<Vec<u8>, DecompressError> {
    match codec {
        Codec::Zlib => read_capped(flate2::read::ZlibDecoder::new(input), cap),
        Codec::Gzip => read_capped(flate2::read::MultiGzDecoder::new(input), cap),
        Codec::Deflate => read_capped(flate2::read::DeflateDecoder::new(input), cap),
        Codec::Bz2 => read_capped(bzip2::read::MultiBzDecoder::new(input), cap),
        Codec::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(input), cap),
        Codec::Xz => read_capped(lzma_rust2::XzReader::new_mem_limit(input, true, LZMA_MEMORY_KB), cap),
        Codec::Lzma => {
            let reader = lzma_rust2::LzmaReader::new_mem_limit(input, LZMA_MEMORY_KB, None)
                .map_err(|e| DecompressError::Corrupt(e.to_string()))?;
            read_capped(reader, cap)
        }
    }
}

/// Dictionary memory an xz or lzma stream may ask for: xz -9 needs 64 MiB; a stream that
/// declares more is reported as unscannable rather than allowed to claim gigabytes.
const LZMA_MEMORY_KB: u32 = 96 * 1024;

fn read_capped(reader: impl Read, cap: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    let limit = (cap as u64).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Corrupt(e.to_string()))?;
    if out.len() > cap {
        return Err(DecompressError::TooLarge { cap });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn zlib_round_trip_and_cap() {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[7u8; 10_000]).unwrap();
        let packed = enc.finish().unwrap();
        assert_eq!(decompress(Codec::Zlib, &packed, 10_000).unwrap().len(), 10_000);
        assert_eq!(
            decompress(Codec::Zlib, &packed, 9_999),
            Err(DecompressError::TooLarge { cap: 9_999 })
        );
    }

    #[test]
    fn corrupt_input_is_an_error() {
        assert!(matches!(
            decompress(Codec::Gzip, b"\x1f\x8b\x08garbage", 100),
            Err(DecompressError::Corrupt(_))
        ));
        assert!(decompress(Codec::Xz, b"\xfd7zXZ\x00broken", 100).is_err());
    }
}
