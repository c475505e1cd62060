//! Legacy torch files: a valid magic-number and protocol pickle, then fuzzed pickles and storages.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // LONG1 0x1950A86A20F9469CFC6C, then the protocol 1001, as torch's _legacy_save writes them.
    let mut file = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.".to_vec();
    file.extend_from_slice(data);
    picklegate::analyze::analyze(&file);
});
