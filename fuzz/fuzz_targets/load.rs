//! Arbitrary bytes as a spec file: load → check/resolve → lower → emit must
//! never panic, whatever the input (see `common::check`).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        common::check(text);
    }
});
