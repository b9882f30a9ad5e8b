//! A file opened by content (`source::detect::open`): tar, tar.gz, tar.zst (OCI layout or
//! docker-archive inside), driven through entries, hashing, damage and reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airlock_fuzz::exercise_archive(data);
});
