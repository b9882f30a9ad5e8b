//! Strict manifest/index parsing under each of the four media types, the table-of-contents parser,
//! media-type sniffing and the config platform reader.
#![no_main]

use airlock::oci::{self, manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for media_type in [oci::OCI_INDEX, oci::OCI_MANIFEST, oci::DOCKER_LIST, oci::DOCKER_MANIFEST] {
        if let Ok(doc) = manifest::parse(data, media_type) {
            let _ = doc.subject();
        }
    }
    let _ = manifest::parse_toc(data);
    if let Some(t) = manifest::sniff_media_type(data) {
        let _ = manifest::parse(data, &t);
    }
    let _ = manifest::config_platform(data);
});
