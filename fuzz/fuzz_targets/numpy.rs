//! .npy headers, and .npz/.npy through the analysis.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut npy = picklegate::formats::numpy::MAGIC.to_vec();
    npy.extend_from_slice(data);
    let _ = picklegate::formats::numpy::parse(&npy);
    picklegate::analyze::analyze(&npy);
});
