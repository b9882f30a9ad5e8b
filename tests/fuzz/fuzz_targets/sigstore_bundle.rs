//! The sigstore bundle verifier (SPEC §6.6) on hostile bundles, against the production trusted root: the
//! parse, every log-entry, checkpoint, RFC 3161 and certificate check must fail cleanly, never panic. The
//! same bytes are also fed to the trusted-root parser, the TSA token parser and the checkpoint parser.
#![no_main]

use std::sync::OnceLock;

use airlock::signature::bundle::root::TrustRoot;
use airlock::signature::bundle::{self, Artifact, Identity, Policy, Purpose, merkle, tsa};
use airlock::signature::cert::Matcher;
use libfuzzer_sys::fuzz_target;

fn root() -> &'static TrustRoot {
    static ROOT: OnceLock<TrustRoot> = OnceLock::new();
    ROOT.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/interop/sigstore-conformance/production-trusted-root/trusted_root.json");
        TrustRoot::load(std::path::Path::new(path)).expect("the production trusted root (read in place)")
    })
}

fuzz_target!(|data: &[u8]| {
    let root = root();
    let identity = Identity { subject: Matcher::regex(".*").expect("re"), issuer: Matcher::regex(".*").expect("re") };
    for purpose in [Purpose::Blob, Purpose::Image] {
        let policy = Policy { keys: &[], root: Some(root), identity: Some(&identity), purpose, now: 1_900_000_000 };
        let _ = bundle::verify(data, &Artifact::Digest([0; 32]), &policy);
        let _ = bundle::verify(data, &Artifact::Bytes(b"a"), &policy);
    }
    let _ = TrustRoot::parse("fuzz".into(), data);
    let _ = tsa::verify_timestamp(data, b"signature", &root.tsas);
    if let (Ok(text), Some(log)) = (std::str::from_utf8(data), root.tlogs.first()) {
        let _ = merkle::verify_checkpoint(text, log);
    }
});
