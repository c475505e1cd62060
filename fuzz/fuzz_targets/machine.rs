//! The symbolic machine on one stream, with small limits so that limits are exercised too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use picklegate::formats::pickle::{run_stream, Limits, Observer};

struct Quiet;
impl Observer<'_> for Quiet {}

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_opcodes: 100_000, max_container_items: 64, max_logical_size: 1_000_000, ..Limits::default() };
    run_stream(data, 0, &limits, &mut Quiet);
});
