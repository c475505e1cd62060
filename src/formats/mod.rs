//! Pure parsers over bytes: no file system, no printing, no threads.
//!
//! [`sniff`] decides what a file is from its bytes; the extension is only a hint.

pub mod compress;
pub mod joblib;
pub mod lfs;
pub mod numpy;
pub mod pickle;
pub mod safetensors;
pub mod sevenz;
pub mod tar;
pub mod torch;
pub mod zip;

use compress::Codec;

/// What a file's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pickle,
    Zip,
    Compressed(Codec),
    Tar,
    Npy,
    SevenZip,
    Zstd,
    Safetensors,
    LfsPointer,
    /// A known format that is not a model file (image, document, executable…).
    NotModel(&'static str),
    /// A model format that holds no pickle (GGUF, HDF5).
    OtherModel(&'static str),
    Unknown,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pickle => "pickle",
            Kind::Zip => "zip",
            Kind::Compressed(codec) => codec.name(),
            Kind::Tar => "tar",
            Kind::Npy => "numpy-npy",
            Kind::SevenZip => "7z",
            Kind::Zstd => "zstd",
            Kind::Safetensors => "safetensors",
            Kind::LfsPointer => "lfs-pointer",
            Kind::NotModel(_) => "not-a-model",
            Kind::OtherModel(_) => "no-pickle",
            Kind::Unknown => "unknown",
        }
    }
}

const NOT_MODELS: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"\xca\xfe\xba\xbe", "Mach-O or Java class file"),
    (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
    (b"#!", "script"),
    (b"<?xml", "XML document"),
    (b"RIFF", "RIFF media file"),
];

/// Identifies the format of `data` from its first bytes (and, for pickles, a bounded probe).
pub fn sniff(data: &[u8]) -> Kind {
    if lfs::looks_like_pointer(data) {
        return Kind::LfsPointer;
    }
    if data.starts_with(numpy::MAGIC) {
        return Kind::Npy;
    }
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        return Kind::Zip;
    }
    let magic: &[(&[u8], Kind)] = &[
        (b"\x1f\x8b", Kind::Compressed(Codec::Gzip)),
        (b"BZh", Kind::Compressed(Codec::Bz2)),
        (b"\xfd7zXZ\x00", Kind::Compressed(Codec::Xz)),
        (b"\x04\x22\x4d\x18", Kind::Compressed(Codec::Lz4)),
        (b"7z\xbc\xaf\x27\x1c", Kind::SevenZip),
        (b"\x28\xb5\x2f\xfd", Kind::Zstd),
    ];
    for (prefix, kind) in magic {
        if data.starts_with(prefix) {
            return *kind;
        }
    }
    if is_zlib(data) {
        return Kind::Compressed(Codec::Zlib);
    }
    if is_lzma_alone(data) {
        return Kind::Compressed(Codec::Lzma);
    }
    if tar::is_tar(data) {
        return Kind::Tar;
    }
    if data.first() == Some(&0x80) && data.get(1).is_some_and(|&p| p <= pickle::opcodes::HIGHEST_PROTOCOL) {
        return Kind::Pickle;
    }
    if safetensors::looks_like(data) {
        return Kind::Safetensors;
    }
    let other_models: [(&[u8], &str); 2] = [
        (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras .h5), which holds no pickle"),
        (b"GGUF", "a GGUF model, which holds no pickle"),
    ];
    for (prefix, what) in other_models {
        if data.starts_with(prefix) {
            return Kind::OtherModel(what);
        }
    }
    for (prefix, what) in NOT_MODELS {
        if data.starts_with(prefix) {
            return Kind::NotModel(what);
        }
    }
    if probe_pickle(data) {
        return Kind::Pickle;
    }
    Kind::Unknown
}

fn is_zlib(data: &[u8]) -> bool {
    matches!(data, [0x78, flg, ..] if (0x7800u16 | u16::from(*flg)) % 31 == 0 && flg & 0x20 == 0)
}

/// The 13-byte header of `.lzma` ("alone") files: properties, dictionary size, size or -1.
fn is_lzma_alone(data: &[u8]) -> bool {
    let Some(header) = data.get(..13) else { return false };
    let props = header[0];
    let dict = u32::from_le_bytes(header[1..5].try_into().expect("4 bytes"));
    let size = u64::from_le_bytes(header[5..13].try_into().expect("8 bytes"));
    props < 225
        && props == 0x5d
        && dict >= 4096
        && (dict.is_power_of_two() || (dict / 3).is_power_of_two())
        && (size == u64::MAX || size < 1 << 48)
}

/// Whether bytes that another format claims (a magic number, a tar header) also behave as a
/// pickle: `pickle.load` does not care about magic numbers, so such files are read both ways.
pub fn also_pickle(data: &[u8]) -> bool {
    data.first().is_some_and(|&b| pickle::Opcode::from_byte(b).is_some()) && probe_pickle(data)
}

/// Protocol 0 and 1 pickles have no header: run the machine a little way and see whether the
/// bytes behave like a pickle (reach STOP, or run a while, or name a global before breaking).
fn probe_pickle(data: &[u8]) -> bool {
    struct Quiet;
    impl pickle::Observer<'_> for Quiet {}
    let limits = pickle::Limits {
        max_opcodes: 256,
        ..pickle::Limits::default()
    };
    let window = &data[..data.len().min(1 << 16)];
    let report = pickle::run_stream(window, 0, &limits, &mut Quiet);
    match &report.error {
        None => report.opcodes >= 2 || data.len() <= 2,
        Some(error) => match &error.kind {
            pickle::MachineErrorKind::Limit(_) => true,
            pickle::MachineErrorKind::Read(pickle::ReadErrorKind::Truncated { .. }) => {
                report.opcodes >= 3 && error.offset + 1 >= window.len().min(data.len()) || report.globals > 0
            }
            _ => report.opcodes >= 3 && (report.globals > 0 || report.calls > 0),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(b"\x80\x04N."), Kind::Pickle);
        assert_eq!(sniff(b"(lp0\nI1\na."), Kind::Pickle);
        assert_eq!(sniff(b"cos\nsystem\n(S'true'\ntR."), Kind::Pickle);
        assert_eq!(sniff(b"cos\nsystem\n(S'true'\ntR\xff\xff\xff"), Kind::Pickle);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Kind::NotModel("PNG image"));
        assert_eq!(sniff(b"PK\x03\x04rest"), Kind::Zip);
        assert_eq!(sniff(b"\x1f\x8b\x08\x00"), Kind::Compressed(Codec::Gzip));
        assert_eq!(sniff(b"\x78\x9c\x01\x02"), Kind::Compressed(Codec::Zlib));
        assert_eq!(sniff(b"\x93NUMPY\x01\x00"), Kind::Npy);
        assert_eq!(
            sniff(b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 1\n"),
            Kind::LfsPointer
        );
        assert_eq!(sniff(b"hello world, this is a README"), Kind::Unknown);
        assert_eq!(sniff(b"{\"a\": 1}"), Kind::Unknown);
    }
}
