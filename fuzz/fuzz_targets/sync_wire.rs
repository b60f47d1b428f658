#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnhub_fuzz_targets::sync_wire(data));
