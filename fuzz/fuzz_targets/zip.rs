//! The tolerant zip reader: central directory, local headers, member reads (capped).
#![no_main]
use libfuzzer_sys::fuzz_target;
use picklegate::formats::zip;

fuzz_target!(|data: &[u8]| {
    if let Ok(archive) = zip::open(data, 10_000) {
        for entry in &archive.entries {
            let _ = zip::peek_member(data, entry, 4096);
            let _ = zip::read_member(data, entry, 1 << 20);
        }
    }
});
