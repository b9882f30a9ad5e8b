//! airlock's strict JSON reader (`oci::json::check`) under every field set, with one property: whatever
//! the strict reader accepts, serde_json accepts too (it is a strict subset, never a different grammar).
#![no_main]

use airlock::oci::json::{self, fields};
use libfuzzer_sys::fuzz_target;

const FIELD_SETS: &[(&str, &[&str])] = &[
    ("MANIFEST", fields::MANIFEST),
    ("CONFIG", fields::CONFIG),
    ("LAYOUT", fields::LAYOUT),
    ("DOCKER_ARCHIVE", fields::DOCKER_ARCHIVE),
    ("HANGAR", fields::HANGAR),
    ("PAYLOAD", fields::PAYLOAD),
    ("SKOPEO_SIGNATURE", fields::SKOPEO_SIGNATURE),
    ("BUNDLE", fields::BUNDLE),
];

fuzz_target!(|data: &[u8]| {
    let mut serde_ok: Option<bool> = None;
    for (name, set) in FIELD_SETS {
        if json::check(data, set).is_ok() {
            let ok = *serde_ok.get_or_insert_with(|| serde_json::from_slice::<serde_json::Value>(data).is_ok());
            assert!(ok, "json::check accepted a document serde_json rejects (field set {name})");
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = json::fold(s);
    }
});
