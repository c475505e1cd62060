//! The opcode reader: any bytes, read until an error or the end.
#![no_main]
use libfuzzer_sys::fuzz_target;
use picklegate::formats::pickle::Reader;

fuzz_target!(|data: &[u8]| {
    let mut reader = Reader::new(data, 0);
    while reader.next_op().is_ok() && reader.position() < data.len() {}
});
