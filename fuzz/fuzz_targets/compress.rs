//! Every decompressor, capped; the first byte picks the codec.
#![no_main]
use libfuzzer_sys::fuzz_target;
use picklegate::formats::compress::{decompress, Codec};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let codecs = [Codec::Zlib, Codec::Gzip, Codec::Bz2, Codec::Xz, Codec::Lzma, Codec::Lz4, Codec::Deflate];
    let codec = codecs[usize::from(pick) % codecs.len()];
    if let Ok(out) = decompress(codec, rest, 1 << 20) {
        assert!(out.len() <= 1 << 20);
    }
});
