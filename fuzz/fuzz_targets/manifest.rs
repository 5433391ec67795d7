//! Arbitrary bytes through `wpod validate`'s loader, as YAML and as JSON: no panic, and
//! every diagnostic inside the input.

#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| wpod_fuzz::check(bytes));
