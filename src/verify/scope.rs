//! Which digests must be signed (SPEC §6.3 `--signature-scope`), checked for each name the image is
//! known by: an entry whose names disagree must be accepted under every one of them.

use super::Scope;
use super::result::SignatureReport;
use super::walk::Walk;
use crate::digest::Digest;
use crate::finding::{Finding, Kind};
use crate::reference::DockerRef;
use crate::signature::check::{self, Outcome, Trust};
use crate::signature::policy::{Policy, Requirement};
use crate::source::Source;

impl Walk<'_> {
    /// Applies `--policy`: each name gets the requirements of its own scope.
    pub(super) fn policy(&mut self, sig_source: &dyn Source, policy: &Policy, identities: &[DockerRef], hint: bool) {
        let names: Vec<Option<&DockerRef>> =
            if identities.is_empty() { vec![None] } else { identities.iter().map(Some).collect() };
        for identity in names {
            let (scope, requirements) = policy.requirements_for(identity);
            for requirement in requirements {
                match requirement {
                    Requirement::Accept => self.result.note(format!("policy scope {scope:?} accepts anything")),
                    Requirement::Reject => self.result.fail(Finding::new(
                        Kind::BadSignature,
                        format!("the policy rejects every image in scope {scope:?}"),
                    )),
                    Requirement::Sigstore(req) => match req.trust() {
                        Ok(trust) => self.signatures(sig_source, trust, identity.cloned().as_slice(), hint),
                        Err(e) => self.result.fail(Finding::new(
                            Kind::Error,
                            format!("policy scope {scope:?}: the requirement cannot be evaluated: {e}"),
                        )),
                    },
                    Requirement::Unsupported(why) => {
                        self.result.fail(Finding::new(Kind::Error, format!("policy scope {scope:?}: {why}")))
                    }
                }
            }
        }
    }

    /// `--cluster-policy`: every policy whose globs match one of the image's names (tag and digest forms)
    /// must admit its own digest, as policy-controller decides at admission.
    pub(super) fn cluster(
        &mut self,
        sig_source: &dyn Source,
        policies: &crate::admission::ClusterPolicies,
        identities: &[DockerRef],
        top: &Digest,
    ) {
        let names: Vec<String> =
            identities.iter().flat_map(|i| [i.to_string(), format!("{}@{top}", i.name())]).collect();
        let repo = identities.first().or(self.repo);
        let verify = |trust: &Trust| check::check(sig_source, repo, identities.first(), top, trust);
        let decision = policies.decide(&names, &verify);
        decision.notes.into_iter().for_each(|n| self.result.note(n));
        decision.findings.into_iter().for_each(|f| self.result.fail(f));
        for by in decision.admitted_by {
            // in the report too: the audit record names what admitted the image
            self.result.note(format!("admitted by {by}"));
            if !self.result.signed_by.contains(&by) {
                self.result.signed_by.push(by.clone());
            }
            self.result.admitted_by.push(by);
        }
    }

    /// Applies the signature scope over the selected manifests and the indexes above them, for every
    /// identity; signatures are looked up in every PATH of the run (`sig_source`).
    pub(super) fn signatures(&mut self, sig_source: &dyn Source, trust: &Trust, identities: &[DockerRef], hint: bool) {
        if self.selected.is_empty() && self.indexes.is_empty() {
            return;
        }
        if identities.is_empty() {
            if hint {
                self.result.fail(Finding::new(
                    Kind::IdentityMismatch,
                    "the image has no usable name to check signed identities against; name it with --reference REF",
                ));
            }
            self.signatures_as(sig_source, trust, None, "", true);
            return;
        }
        let several = identities.len() > 1;
        for (i, identity) in identities.iter().enumerate() {
            let prefix = if several { format!("as {identity}: ") } else { String::new() };
            self.signatures_as(sig_source, trust, Some(identity), &prefix, i == 0);
        }
    }

    /// One identity's pass. `record`: this pass fills the per-platform signature reports.
    fn signatures_as(
        &mut self,
        sig_source: &dyn Source,
        trust: &Trust,
        identity: Option<&DockerRef>,
        prefix: &str,
        record: bool,
    ) {
        let repo = identity.or(self.repo);
        let mut outcomes: Vec<(Digest, Outcome)> = Vec::new();
        let mut outcome = |d: &Digest| -> Outcome {
            if let Some((_, o)) = outcomes.iter().find(|(x, _)| x == d) {
                return o.clone();
            }
            let o = check::check(sig_source, repo, identity, d, trust);
            outcomes.push((d.clone(), o.clone()));
            o
        };
        let scope = self.opts.scope;
        let mut reports: Vec<(Digest, SignatureReport)> = Vec::new();
        let mut failures: Vec<Finding> = Vec::new();
        let mut accepted_keys: Vec<String> = Vec::new();
        if scope == Scope::All || (scope == Scope::Auto && !self.indexes.is_empty()) {
            for index in self.indexes.clone() {
                let o = outcome(&index.digest);
                if let Outcome::Accepted(a) = &o {
                    accepted_keys.push(a.signer.clone());
                }
                if let (Scope::All, Outcome::Rejected { kind, message }) = (scope, &o) {
                    failures.push(Finding::new(*kind, format!("{prefix}index {}: {message}", index.digest)));
                }
                reports.push((index.digest.clone(), report_of(&o)));
            }
        }
        for (desc, ancestors) in self.selected.clone() {
            let own = outcome(&desc.digest);
            let covered = scope == Scope::Auto && ancestors.iter().any(|a| matches!(outcome(a), Outcome::Accepted(_)));
            let mut report = report_of(&own);
            match &own {
                Outcome::Accepted(a) => accepted_keys.push(a.signer.clone()),
                Outcome::Rejected { .. } if covered => report.status = "covered-by-index".into(),
                Outcome::Rejected { kind, message } => {
                    let label = self.label(&desc.digest);
                    failures.push(Finding::new(*kind, format!("{prefix}{label}: {message}")));
                }
            }
            reports.push((desc.digest.clone(), report));
        }
        if record {
            for p in &mut self.result.platforms {
                if let Some((_, r)) = reports.iter().find(|(d, _)| *d == p.digest) {
                    p.signature = Some(r.clone());
                }
            }
        }
        for f in failures {
            self.result.fail(f);
        }
        accepted_keys.sort_unstable();
        accepted_keys.dedup();
        for signer in accepted_keys {
            if !self.result.signed_by.contains(&signer) {
                self.result.signed_by.push(signer);
            }
        }
    }

    fn label(&self, digest: &Digest) -> String {
        match self.result.platforms.iter().find(|p| &p.digest == digest).and_then(|p| p.platform.clone()) {
            Some(p) => format!("{p} {digest}"),
            None => digest.to_string(),
        }
    }
}

fn report_of(o: &Outcome) -> SignatureReport {
    match o {
        Outcome::Accepted(a) => SignatureReport {
            status: "verified".into(),
            scheme: Some(a.scheme.clone()),
            key_sha256: Some(a.signer_sha256.clone()),
            identity: a.identity.clone(),
            identity_bound: a.identity.is_some(),
            rekor: a.rekor,
            sigstore: a.evidence.clone(),
        },
        Outcome::Rejected { kind, .. } => SignatureReport {
            status: if *kind == Kind::Unsigned { "unsigned".into() } else { "rejected".into() },
            scheme: None,
            key_sha256: None,
            identity: None,
            identity_bound: false,
            rekor: false,
            sigstore: None,
        },
    }
}
