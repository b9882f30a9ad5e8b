//! The simple-signing payload parser (containers/image's "paranoid" rules).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = airlock::signature::payload::parse_strict(data);
});
