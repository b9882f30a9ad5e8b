//! The hangar image-list parser and everything computed from one list line.
#![no_main]

use airlock::imagelist::parse_list;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (lines, warnings) = parse_list(text);
    for w in &warnings {
        let _ = w.to_string();
    }
    for line in &lines {
        let _ = line.candidates();
        let _ = line.hangar_ref();
        let _ = line.docker_ref();
        let _ = line.hangar_docker_ref();
        let o = line.with_overrides(Some("r.example"), Some("p"));
        let _ = o.candidates();
        let _ = o.hangar_ref();
        let _ = line.with_overrides(Some(""), None).candidates();
    }
});
