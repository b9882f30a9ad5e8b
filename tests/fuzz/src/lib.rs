//! Helpers shared by the archive fuzz targets.

use airlock::source::{Attached, Source};
use airlock::source::archive::ArchiveOptions;
use std::path::PathBuf;
use std::sync::OnceLock;

/// One scratch file per fuzzing process (the archive readers take a path, not bytes). The name has no
/// `.001` suffix, so `archive::parts` never looks for split siblings.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("airlock-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir.join("input")
    })
}

/// Writes `data` to the scratch file, opens it as whatever source its content says it is, and drives
/// every read path an offline verification would: entries, the one pass (damage and hashing), and each
/// entry's top descriptor read, checked and searched for signatures.
pub fn exercise_archive(data: &[u8]) {
    let path = scratch();
    std::fs::write(path, data).expect("write the scratch file");
    let Ok(source) = airlock::source::detect::open(path, ArchiveOptions::default()) else { return };
    drive(source.as_ref());
}

fn drive(source: &dyn Source) {
    let _ = source.info();
    let entries = source.entries();
    let _ = source.scan(true);
    for entry in &entries {
        let _ = entry.identities();
        if let Ok(desc) = &entry.descriptor {
            let _ = source.read(None, desc);
            let _ = source.check_blob(None, desc, true);
            let _ = source.attachments(None, &desc.digest, Attached::Signatures);
            let _ = source.attachments(None, &desc.digest, Attached::Referrers);
        }
    }
}
