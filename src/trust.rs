//! A run's trust, loaded from its `TrustRequest`: keys (and Rekor keys), a containers policy, keyless
//! identities against a trusted root, or the cluster's admission policies; what each image's signatures must
//! satisfy, the keys the report names, and the identity rule it records.

use crate::session::{Keyless, Pattern, TrustRequest};
use crate::signature::bundle::{self, root::TrustRoot};
use crate::signature::cert::{CertTrust, Matcher};
use crate::signature::check::Trust;
use crate::signature::identity::IdentityPolicy;
use crate::signature::keys::TrustedKey;
use crate::signature::policy::Policy;
use crate::verify::Verification;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The trust of a run, loaded: what signatures must satisfy, the keys for the report, the identity rule.
pub struct LoadedTrust {
    pub verification: Option<Verification>,
    pub keys: Vec<TrustedKey>,
    pub identity: String,
}

fn load_keys(files: &[PathBuf]) -> Result<Vec<TrustedKey>, String> {
    files.iter().map(|f| TrustedKey::load_one(f).map_err(|e| e.to_string())).collect()
}

/// Loads the run's trust (exit 2 when a key, policy or trusted root cannot be read).
pub fn load(t: &TrustRequest) -> Result<LoadedTrust, String> {
    let keys = load_keys(&t.keys)?;
    let rekor_keys = load_keys(&t.rekor_keys)?;
    if !rekor_keys.is_empty() && keys.is_empty() {
        return Err("--rekor-pubkey needs at least one --sigstore-pubkey".into());
    }
    let identity = match &t.signed_identity {
        Some(spec) => IdentityPolicy::parse_cli(spec).map_err(|e| format!("--signed-identity: {e}"))?,
        None => IdentityPolicy::Default,
    };
    if !t.cluster_policies.is_empty() {
        let root = match &t.cluster_trusted_root {
            Some(path) => {
                let root = TrustRoot::load(path).map_err(|e| format!("--trusted-root {e}"))?;
                check_keyless_root(&root, path)?;
                Some(Arc::new(root))
            }
            None => None,
        };
        let policies = crate::admission::ClusterPolicies::load(&t.cluster_policies, root)?;
        let keys = policies.keys();
        let identity = "per --cluster-policy (cosign: the payload's digest)".to_string();
        return Ok(LoadedTrust { verification: Some(Verification::Cluster(policies)), keys, identity });
    }
    if let Some(path) = &t.policy {
        let policy = Policy::load(path)?;
        let identity = "per --policy requirement".to_string();
        return Ok(LoadedTrust { verification: Some(Verification::Policy(policy)), keys: Vec::new(), identity });
    }
    let shown = identity.to_string();
    if let Some(k) = &t.keyless {
        let (certificate, root, bundle_identity) = keyless_trust(k)?;
        let trust = Trust {
            keys: Vec::new(),
            rekor_keys: Vec::new(),
            identity,
            certificate: Some(Box::new(certificate)),
            bundle_root: Some(Arc::new(root)),
            bundle_identity: Some(bundle_identity),
        };
        return Ok(LoadedTrust { verification: Some(Verification::Keys(trust)), keys: Vec::new(), identity: shown });
    }
    let bundle_root = (!rekor_keys.is_empty()).then(|| Arc::new(TrustRoot::from_rekor_keys(&rekor_keys)));
    let verification = (!keys.is_empty()).then(|| {
        Verification::Keys(Trust {
            keys: keys.clone(),
            rekor_keys,
            identity,
            certificate: None,
            bundle_root,
            bundle_identity: None,
        })
    });
    Ok(LoadedTrust { verification, keys, identity: shown })
}

/// `--trusted-root` with `--certificate-identity[-regexp]` and `--certificate-oidc-issuer[-regexp]`: the
/// certificate rules of `.sig` signatures (SPEC §6.5) and of bundles (§6.6), from the one trusted root.
fn keyless_trust(k: &Keyless) -> Result<(CertTrust, TrustRoot, bundle::Identity), String> {
    let root = TrustRoot::load(&k.trusted_root).map_err(|e| format!("--trusted-root {e}"))?;
    let matcher = |p: &Pattern, flag: &str| match p {
        Pattern::Exact(e) => Ok(Matcher::Exact(e.clone())),
        Pattern::Regexp(r) => Matcher::regex(r).map_err(|e| format!("--{flag}-regexp: {e}")),
    };
    let identity = matcher(&k.identity, "certificate-identity")?;
    let issuer = matcher(&k.issuer, "certificate-oidc-issuer")?;
    check_keyless_root(&root, &k.trusted_root)?;
    let certificate = CertTrust::fulcio(&root, issuer.clone(), identity.clone());
    Ok((certificate, root, bundle::Identity { subject: identity, issuer }))
}

/// A trusted root keyless signatures can be checked against: a certificate authority and a log.
fn check_keyless_root(root: &TrustRoot, path: &Path) -> Result<(), String> {
    if root.fulcio.is_empty() || root.tlogs.is_empty() {
        return Err(format!("--trusted-root {}: no certificate authority or no transparency log", path.display()));
    }
    Ok(())
}
