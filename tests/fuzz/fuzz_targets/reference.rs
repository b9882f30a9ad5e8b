//! `DockerRef::parse`, with a round-trip property: a parsed reference prints as a string that parses
//! again to an equal reference (normalisation is idempotent).
#![no_main]

use airlock::reference::DockerRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(r) = DockerRef::parse(s) else { return };
    let _ = (r.name(), r.domain(), r.path(), r.tag(), r.digest(), r.is_name_only(), r.name_only());
    let printed = r.to_string();
    match DockerRef::parse(&printed) {
        Ok(again) => assert_eq!(again, r, "{s:?} printed as {printed:?}, which parses to something else"),
        Err(e) => panic!("{s:?} parsed, but its printed form {printed:?} does not: {e}"),
    }
});
