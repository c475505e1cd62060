//! joblib: a NumpyArrayWrapper whose BUILD state and trailing bytes come from the fuzzer, raw
//! and compressed.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = b"\x80\x04\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93)\x81".to_vec();
    file.extend_from_slice(data);
    picklegate::analyze::analyze(&file);
    let mut zlib = flate2_free_zlib(&file);
    zlib.truncate(zlib.len().min(1 << 16));
    picklegate::analyze::analyze(&zlib);
});

/// A stored (uncompressed) zlib stream, so the compressed path is reached without a compressor.
fn flate2_free_zlib(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    for (i, chunk) in data.chunks(65_535).enumerate() {
        let last = (i + 1) * 65_535 >= data.len();
        out.push(u8::from(last));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    if data.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}
