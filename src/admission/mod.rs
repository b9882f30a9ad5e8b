//! `--cluster-policy FILE` (SPEC §6.7): the cluster's own admission policy as the trust input, so a bundle is
//! known to be admitted before it is imported. Two controllers' documents are read:
//! - sigstore policy-controller: `ClusterImagePolicy` (see [`cip`]) and the `config-policy-controller`
//!   ConfigMap's `no-match-policy`. Its rules (`pkg/webhook/validator.go`, `validateContainerImage`): every
//!   policy whose globs match the image must admit it; an image no policy matches follows `no-match-policy`
//!   (default `deny`);
//! - Kyverno: `ClusterPolicy` / `Policy` `verifyImages` rules (see [`kyverno`]); an image no rule matches is
//!   admitted.
//!
//! A cluster admits an image only if every controller given admits it. Kyverno's `ImageValidatingPolicy`
//! (CEL) is refused (exit 2), never passed.

pub mod attestor;
pub mod cip;
pub mod glob;
pub mod kyverno;
pub mod wildcard;

use crate::finding::{Finding, Kind};
use crate::signature::bundle::root::TrustRoot;
use crate::signature::check::{Outcome, Trust};
use crate::signature::keys::TrustedKey;
use cip::{AuthorityKind, ClusterImagePolicy};
use kyverno::KyvernoPolicy;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// policy-controller's `no-match-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoMatch {
    Deny,
    Allow,
    Warn,
}

/// Every admission policy given, by controller.
pub struct ClusterPolicies {
    pub policies: Vec<ClusterImagePolicy>,
    pub no_match: NoMatch,
    pub kyverno: Vec<KyvernoPolicy>,
}

/// What the cluster would do with one image.
#[derive(Default)]
pub struct Decision {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    /// `ClusterImagePolicy P, authority A` / `Kyverno ClusterPolicy P, rule R (…)` for each policy that
    /// admitted it.
    pub admitted_by: Vec<String>,
}

impl ClusterPolicies {
    /// Reads every document of every file; `Err` (exit 2) names the file and document.
    pub fn load(files: &[PathBuf], root: Option<Arc<TrustRoot>>) -> Result<ClusterPolicies, String> {
        let mut all = ClusterPolicies { policies: Vec::new(), no_match: NoMatch::Deny, kyverno: Vec::new() };
        for path in files {
            let file = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|e| format!("--cluster-policy {file}: {e}"))?;
            let docs: Vec<Value> =
                crate::yaml::documents(&bytes).map_err(|e| format!("--cluster-policy {file}: {e}"))?;
            for (i, doc) in docs.iter().enumerate() {
                all.add(doc, &format!("--cluster-policy {file} (document {})", i + 1), root.as_ref())?;
            }
        }
        if all.policies.is_empty() && all.kyverno.is_empty() {
            return Err("--cluster-policy: no ClusterImagePolicy or Kyverno policy in the files given".into());
        }
        Ok(all)
    }

    fn add(&mut self, doc: &Value, at: &str, root: Option<&Arc<TrustRoot>>) -> Result<(), String> {
        let api = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        match (api, kind) {
            ("policy.sigstore.dev/v1beta1" | "policy.sigstore.dev/v1alpha1", "ClusterImagePolicy") => {
                self.policies.push(ClusterImagePolicy::parse(doc, at, root)?);
            }
            ("v1", "ConfigMap") if doc["metadata"]["name"] == "config-policy-controller" => {
                self.no_match = match doc["data"]["no-match-policy"].as_str() {
                    None | Some("deny") => NoMatch::Deny,
                    Some("allow") => NoMatch::Allow,
                    Some("warn") => NoMatch::Warn,
                    Some(other) => return Err(format!("{at}: no-match-policy {other:?} is not allow, deny or warn")),
                };
            }
            ("kyverno.io/v1", "ClusterPolicy" | "Policy") => self.kyverno.push(KyvernoPolicy::parse(doc, at, root)?),
            (a, k) if a.starts_with("kyverno.io/") || a.starts_with("policies.kyverno.io/") => {
                return Err(format!(
                    "{at}: Kyverno {k:?} ({a:?}) is not evaluated (only kyverno.io/v1 ClusterPolicy and Policy \
                     verifyImages are); refusing it rather than passing images"
                ));
            }
            (a, k) => return Err(format!("{at}: {k:?} ({a:?}) is not an admission policy this check reads")),
        }
        Ok(())
    }

    /// Every key a key authority holds (the report's `keys`).
    pub fn keys(&self) -> Vec<TrustedKey> {
        let authorities = self.policies.iter().flat_map(|p| &p.authorities);
        let trusts = authorities.filter_map(|a| if let AuthorityKind::Signed(t) = &a.kind { Some(t) } else { None });
        let mut keys: Vec<TrustedKey> = trusts.flatten().flat_map(|(_, t)| t.keys.iter().cloned()).collect();
        keys.extend(self.kyverno.iter().flat_map(KyvernoPolicy::keys));
        keys
    }

    /// Decides one image, known by `names` (tag and digest forms), whose own digest's signatures
    /// `verify(trust)` checks (cosign's rules: legacy `.sig`, payload digest only).
    /// Every controller given decides: policy-controller when a `ClusterImagePolicy` was given, Kyverno when
    /// one of its policies was.
    pub fn decide(&self, names: &[String], verify: &dyn Fn(&Trust) -> Outcome) -> Decision {
        let mut decision = Decision::default();
        if !self.policies.is_empty() {
            self.policy_controller(names, verify, &mut decision);
        }
        if !self.kyverno.is_empty() {
            kyverno::decide(&self.kyverno, names, verify, self.policies.is_empty(), &mut decision);
        }
        decision
    }

    fn policy_controller(&self, names: &[String], verify: &dyn Fn(&Trust) -> Outcome, decision: &mut Decision) {
        let matching: Vec<&ClusterImagePolicy> = self.policies.iter().filter(|p| p.governs(names)).collect();
        if matching.is_empty() {
            let what = "no ClusterImagePolicy matches this image";
            match self.no_match {
                NoMatch::Deny => decision.findings.push(Finding::new(
                    Kind::Unsigned,
                    format!("{what}, and policy-controller's no-match-policy is deny (its default)"),
                )),
                NoMatch::Allow => decision.notes.push(format!("{what}; no-match-policy allow admits it")),
                NoMatch::Warn => decision.notes.push(format!("{what}; no-match-policy warn admits it with a warning")),
            }
            return;
        }
        for policy in matching {
            decision.notes.extend(policy.notes.iter().map(|n| format!("ClusterImagePolicy {}: {n}", policy.name)));
            match admit(policy, verify) {
                Ok(authority) => {
                    decision.admitted_by.push(format!("ClusterImagePolicy {}, authority {authority}", policy.name))
                }
                Err(f) if policy.warn => {
                    decision.notes.push(format!("mode warn, admitted with a warning: {}", f.message))
                }
                Err(f) => decision.findings.push(f),
            }
        }
    }
}

/// The authority of `policy` that admits the image, or why none does.
fn admit(policy: &ClusterImagePolicy, verify: &dyn Fn(&Trust) -> Outcome) -> Result<String, Finding> {
    let prefix = format!("ClusterImagePolicy {}", policy.name);
    if !policy.not_evaluated.is_empty() {
        let why = policy.not_evaluated.join("; ");
        return Err(Finding::new(Kind::Error, format!("{prefix}: cannot be evaluated offline: {why}")));
    }
    let mut reasons: Vec<(Kind, String)> = Vec::new();
    for a in &policy.authorities {
        match &a.kind {
            AuthorityKind::Static { pass: true, .. } => return Ok(format!("{} (static pass)", a.name)),
            AuthorityKind::Static { pass: false, message } => reasons
                .push((Kind::BadSignature, format!("authority {}: disallowed by static policy: {message}", a.name))),
            AuthorityKind::NotEvaluated(why) => {
                reasons.push((Kind::Error, format!("authority {}: not evaluated: {why}", a.name)))
            }
            AuthorityKind::Signed(trusts) => {
                for (shown, trust) in trusts {
                    match verify(trust) {
                        Outcome::Accepted(_) => return Ok(format!("{} ({shown})", a.name)),
                        Outcome::Rejected { kind, message } => {
                            reasons.push((kind, format!("authority {} ({shown}): {message}", a.name)))
                        }
                    }
                }
            }
        }
    }
    if reasons.is_empty() {
        return Err(Finding::new(Kind::Unsigned, format!("{prefix}: no authorities")));
    }
    let kind = reasons.iter().map(|(k, _)| *k).find(|k| *k != Kind::Error).unwrap_or(Kind::Error);
    let all: Vec<String> = reasons.into_iter().map(|(_, m)| m).collect();
    Err(Finding::new(kind, format!("{prefix} refuses it: {}", all.join("; "))))
}
