//! Same driver as `tar_archive`, seeded with hangar zips: exercises the strict zip central-directory
//! reader (classic and ZIP64 end records, local headers) and the hangar index.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airlock_fuzz::exercise_archive(data);
});
