//! The tar reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(members) = picklegate::formats::tar::members(data, 10_000) {
        for m in members {
            assert!(m.offset + m.size <= data.len());
        }
    }
});
