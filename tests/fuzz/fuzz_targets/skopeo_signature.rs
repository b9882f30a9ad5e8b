//! A skopeo `dir:` `signature-N` body (`parse_sigstore_file`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = airlock::source::skopeo_dir::parse_sigstore_file(data);
});
