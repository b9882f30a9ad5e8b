//! Kyverno `ClusterPolicy` / `Policy` (`kyverno.io/v1`) `verifyImages` rules, as far as an offline check can
//! decide them. Read from kyverno 111e07b: the types (`api/kyverno/v1/image_verification_types.go`,
//! `rule_types.go`, `spec_types.go`), the policy validation that refuses documents
//! (`pkg/validation/policy/validate.go`, `ImageVerification.Validate`), and the engine:
//! - a `verifyImages` entry applies when one of its `imageReferences` (Kyverno's wildcard, see [`wildcard`])
//!   matches the image as `ImageInfo.String()` writes it (`registry/path:tag`, or `registry/path@digest` when
//!   a digest is given) and no `skipImageReferences` does (`pkg/engine/internal/imageverifier.go`,
//!   `matchReferences`);
//! - its attestor sets are checked as [`attestor`](super::attestor) says; a rule fails when any entry that
//!   applies fails;
//! - `required` (default true) is the validate step's check that the image was verified
//!   (`pkg/engine/handlers/validation/validate_image.go`): it refuses an entry without attestors, and does
//!   not relax a signature check that failed;
//! - a failing rule blocks only when its failure action is `Enforce` (`pkg/engine/api/engineresponse.go`,
//!   `ruleAction`: an Enforce `verifyImages[].failureAction` wins, else the first explicit one, else the
//!   spec's `validationFailureAction`, default `Audit`); an Audit failure admits and is reported;
//! - an image no rule matches is admitted: Kyverno has no no-match deny.
//!
//! Offline the image is known by its digest, so `verifyDigest` holds for a pod that names it by digest, or
//! once `mutateDigest` (default true) has pinned it; with `mutateDigest: false` a note says the pod must name
//! the digest. `match`/`exclude`, preconditions and namespaces are not evaluated: the rule is applied to
//! every image. Everything else not read here is not evaluated and refuses the images it governs.

use super::Decision;
use super::attestor::{AttestorSet, Origin};
use super::cip::unknown_keys;
use super::wildcard;
use crate::finding::{Finding, Kind};
use crate::signature::bundle::root::TrustRoot;
use crate::signature::check::{Outcome, Trust};
use crate::signature::keys::TrustedKey;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// One Kyverno policy document.
pub struct KyvernoPolicy {
    /// `Kyverno ClusterPolicy NAME` or `Kyverno Policy NAMESPACE/NAME`.
    pub label: String,
    pub rules: Vec<Rule>,
    /// `applyRules: One`: the first rule that applies is the only one.
    pub apply_one: bool,
    /// `admission: false`: the policy is not applied at admission.
    pub admission: bool,
    /// Said once per image a rule of the policy governs.
    pub notes: Vec<String>,
    /// Why no rule of the policy can admit anything offline (unknown spec fields).
    pub not_evaluated: Vec<String>,
}

/// One rule with `verifyImages`.
pub struct Rule {
    pub name: String,
    pub enforce: bool,
    pub images: Vec<ImageRule>,
    pub notes: Vec<String>,
    pub not_evaluated: Vec<String>,
}

/// One `verifyImages[]` entry.
pub struct ImageRule {
    pub path: String,
    pub references: Vec<String>,
    pub skip: Vec<String>,
    pub attestors: Vec<AttestorSet>,
    pub required: bool,
    pub notes: Vec<String>,
    pub not_evaluated: Vec<String>,
}

const SPEC: [&str; 15] = [
    "rules",
    "applyRules",
    "failurePolicy",
    "validationFailureAction",
    "validationFailureActionOverrides",
    "emitWarning",
    "admission",
    "background",
    "schemaValidation",
    "webhookTimeoutSeconds",
    "mutateExistingOnPolicyUpdate",
    "generateExistingOnPolicyUpdate",
    "generateExisting",
    "useServerSideApply",
    "webhookConfiguration",
];
const RULE: [&str; 13] = [
    "name",
    "context",
    "reportProperties",
    "match",
    "exclude",
    "imageExtractors",
    "preconditions",
    "celPreconditions",
    "mutate",
    "validate",
    "generate",
    "verifyImages",
    "skipBackgroundRequests",
];
const VERIFY: [&str; 21] = [
    "failureAction",
    "type",
    "image",
    "imageReferences",
    "skipImageReferences",
    "key",
    "roots",
    "subject",
    "issuer",
    "additionalExtensions",
    "attestors",
    "attestations",
    "annotations",
    "repository",
    "cosignOCI11",
    "mutateDigest",
    "verifyDigest",
    "validate",
    "required",
    "imageRegistryCredentials",
    "useCache",
];

/// A failure action as Kyverno spells it (`audit`/`enforce` are its deprecated forms); `None`: not given.
fn action(v: Option<&Value>, what: &str) -> Result<Option<bool>, String> {
    match v.and_then(Value::as_str) {
        None if v.is_none_or(Value::is_null) => Ok(None),
        Some("Enforce" | "enforce") => Ok(Some(true)),
        Some("Audit" | "audit") => Ok(Some(false)),
        _ => Err(format!("{what} {} is neither Audit nor Enforce", v.map(Value::to_string).unwrap_or_default())),
    }
}

impl KyvernoPolicy {
    /// Reads one document; `Err` only for a document Kyverno itself would refuse.
    pub fn parse(doc: &Value, at: &str, root: Option<&Arc<TrustRoot>>) -> Result<KyvernoPolicy, String> {
        let name = doc["metadata"]["name"].as_str().unwrap_or("(unnamed)");
        let namespace = doc["metadata"]["namespace"].as_str();
        let label = match (doc["kind"].as_str(), namespace) {
            (Some("Policy"), ns) => format!("Kyverno Policy {}/{name}", ns.unwrap_or("default")),
            _ => format!("Kyverno ClusterPolicy {name}"),
        };
        let err = |why: String| format!("{at}: {label}: {why}");
        let spec = doc.get("spec").and_then(Value::as_object).ok_or_else(|| err("no spec".into()))?;
        let mut policy = KyvernoPolicy {
            label: label.clone(),
            rules: Vec::new(),
            apply_one: false,
            admission: spec.get("admission").and_then(Value::as_bool) != Some(false),
            notes: Vec::new(),
            not_evaluated: unknown_keys(spec, &SPEC, "spec"),
        };
        if label.starts_with("Kyverno Policy") {
            policy.notes.push(format!(
                "a namespaced Policy governs only pods in namespace {}: evaluated as if the image runs there",
                namespace.unwrap_or("default")
            ));
        }
        policy.apply_one = match spec.get("applyRules").and_then(Value::as_str) {
            None | Some("All") => false,
            Some("One") => true,
            Some(other) => return Err(err(format!("applyRules {other:?} is neither All nor One"))),
        };
        let spec_enforce = action(spec.get("validationFailureAction"), "validationFailureAction").map_err(err)?;
        let overrides = spec.get("validationFailureActionOverrides").and_then(Value::as_array);
        let override_enforce =
            overrides.into_iter().flatten().any(|o| matches!(o["action"].as_str(), Some("Enforce" | "enforce")));
        if overrides.is_some_and(|o| !o.is_empty()) {
            policy.notes.push(
                "validationFailureActionOverrides depend on the pod's namespace: an Enforce among them is read as Enforce"
                    .into(),
            );
        }
        let defaults =
            Defaults { enforce: spec_enforce == Some(true) || override_enforce, audit: spec_enforce != Some(true) };
        let origin = Origin { at, root };
        for (i, r) in spec.get("rules").and_then(Value::as_array).into_iter().flatten().enumerate() {
            match Rule::parse(r, i, &defaults, &origin, &label).map_err(err)? {
                Ok(rule) => policy.rules.push(rule),
                Err(note) => policy.notes.push(note),
            }
        }
        Ok(policy)
    }

    /// Every key an attestor entry holds (the report's `keys`).
    pub fn keys(&self) -> Vec<TrustedKey> {
        let sets = self.rules.iter().flat_map(|r| &r.images).flat_map(|i| &i.attestors);
        sets.flat_map(AttestorSet::keys).collect()
    }
}

/// The spec-level failure action a rule falls back to.
struct Defaults {
    /// Enforce: the spec says so, or one of its overrides does.
    enforce: bool,
    /// What `ImageVerification.Validate` reads as Audit (the spec's action is not Enforce).
    audit: bool,
}

impl Rule {
    /// `Ok(Err(note))` for a rule that verifies no images.
    fn parse(
        r: &Value,
        index: usize,
        defaults: &Defaults,
        origin: &Origin,
        label: &str,
    ) -> Result<Result<Rule, String>, String> {
        let map = r.as_object().ok_or_else(|| format!("rules[{index}] is not an object"))?;
        let name = map.get("name").and_then(Value::as_str).map_or_else(|| format!("rules[{index}]"), str::to_string);
        let listed = map.get("verifyImages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if listed.is_empty() {
            return Ok(Err(format!(
                "rule {name} verifies no images: not evaluated (airlock decides image signatures)"
            )));
        }
        let mut rule = Rule {
            name: name.clone(),
            enforce: defaults.enforce,
            images: Vec::new(),
            notes: Vec::new(),
            not_evaluated: unknown_keys(map, &RULE, &format!("rule {name}")),
        };
        for (field, note) in [
            ("match", "match/exclude (kinds, namespaces, subjects) are not evaluated: applied to every image"),
            ("exclude", "match/exclude (kinds, namespaces, subjects) are not evaluated: applied to every image"),
            ("preconditions", "preconditions are not evaluated: the rule is applied as if they hold"),
            ("celPreconditions", "preconditions are not evaluated: the rule is applied as if they hold"),
            ("imageExtractors", "imageExtractors (images in custom resources) are not evaluated"),
        ] {
            if map.contains_key(field) && !rule.notes.iter().any(|n| n == note) {
                rule.notes.push(note.into());
            }
        }
        let (mut first, mut any_enforce) = (None, false);
        // `validate.go` carries an entry's own action over to the entries after it that set none
        let mut audit = defaults.audit;
        for (i, v) in listed.iter().enumerate() {
            let own = action(v.get("failureAction"), "failureAction")?;
            any_enforce |= own == Some(true);
            first = first.or(own);
            audit = own.map_or(audit, |enforce| !enforce);
            let at = format!("{}: {label}, rule {name}, verifyImages[{i}]", origin.at);
            let origin = Origin { at: &at, root: origin.root };
            rule.images.push(ImageRule::parse(v, i, audit, &origin)?);
        }
        if any_enforce || first.is_some() {
            rule.enforce = any_enforce;
        }
        Ok(Ok(rule))
    }
}

impl ImageRule {
    /// `audit`: the failure action `ImageVerification.Validate` is given for this entry.
    fn parse(v: &Value, index: usize, audit: bool, origin: &Origin) -> Result<ImageRule, String> {
        let path = format!("verifyImages[{index}]");
        let map = v.as_object().ok_or_else(|| format!("{path} is not an object"))?;
        let bool_or = |k: &str, default: bool| map.get(k).and_then(Value::as_bool).unwrap_or(default);
        let strings = |k: &str| -> Vec<String> {
            let list = map.get(k).and_then(Value::as_array).into_iter().flatten();
            list.filter_map(Value::as_str).map(str::to_string).collect()
        };
        let mut references = strings("imageReferences");
        references.extend(map.get("image").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string));
        if references.is_empty() {
            return Err(format!("{path}: an image reference is required"));
        }
        if audit && bool_or("mutateDigest", true) {
            return Err(format!("{path}: mutateDigest must be set to false for the Audit failure action"));
        }
        let mut rule = ImageRule {
            path: path.clone(),
            references,
            skip: strings("skipImageReferences"),
            attestors: Vec::new(),
            required: bool_or("required", true),
            notes: Vec::new(),
            not_evaluated: not_evaluated(map, &path)?,
        };
        if map.contains_key("imageRegistryCredentials") {
            rule.notes.push(format!("{path}: imageRegistryCredentials only say how Kyverno reaches the registry"));
        }
        if bool_or("verifyDigest", true) && !bool_or("mutateDigest", true) {
            rule.notes.push(format!(
                "{path}: verifyDigest with mutateDigest false: Kyverno admits it only for a pod that names it by digest"
            ));
        }
        let mut sets: Vec<Value> = map.get("attestors").and_then(Value::as_array).cloned().unwrap_or_default();
        sets.extend(deprecated_attestor(map));
        for (i, set) in sets.iter().enumerate() {
            rule.attestors.push(AttestorSet::parse(set, format!("{path}.attestors[{i}]"), origin)?);
        }
        Ok(rule)
    }

    /// Does this entry govern the image, known by `forms` (Kyverno's spellings of its names)?
    fn applies(&self, forms: &[String]) -> bool {
        let any = |patterns: &[String], f: &str| patterns.iter().any(|p| wildcard::matches(p, f));
        forms.iter().any(|f| any(&self.references, f) && !any(&self.skip, f))
    }

    /// The attestor entries that verified the image, or why it is refused.
    fn verify(&self, verify: &dyn Fn(&Trust) -> Outcome) -> Result<String, (Kind, String)> {
        if !self.not_evaluated.is_empty() {
            return Err((Kind::Error, format!("{}: not evaluated: {}", self.path, self.not_evaluated.join("; "))));
        }
        if self.attestors.is_empty() {
            return match self.required {
                true => Err((
                    Kind::Unsigned,
                    format!("{} has no attestors and required is true: Kyverno finds the image unverified", self.path),
                )),
                false => Ok(format!("{}: no attestors, required false", self.path)),
            };
        }
        let mut shown = Vec::new();
        for set in &self.attestors {
            shown.extend(set.verify(verify)?);
        }
        Ok(shown.join(", "))
    }
}

/// The parts of one `verifyImages` entry that cannot be decided offline; `Err` for a `type` Kyverno refuses.
fn not_evaluated(map: &Map<String, Value>, path: &str) -> Result<Vec<String>, String> {
    let mut why = unknown_keys(map, &VERIFY, path);
    match map.get("type").and_then(Value::as_str) {
        None | Some("Cosign") => {}
        Some(t @ ("Notary" | "SigstoreBundle")) => why.push(format!("type {t} is not evaluated (only Cosign)")),
        Some(other) => return Err(format!("{path}: type {other:?} is not Cosign, SigstoreBundle or Notary")),
    }
    let present = |k: &str| match map.get(k) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    };
    for (field, what) in [
        ("attestations", "attestations (in-toto statements and their conditions) are not evaluated"),
        ("repository", "repository (signatures in another repository) is not read offline"),
        ("cosignOCI11", "cosignOCI11 (signatures as OCI 1.1 referrers) is not evaluated"),
        ("validate", "validate (deny conditions across attestations) is not evaluated"),
        ("annotations", "annotations (payload annotations to match) are not evaluated"),
        ("additionalExtensions", "additionalExtensions are not evaluated"),
    ] {
        if present(field) {
            why.push(what.into());
        }
    }
    if has_variable(&Value::Object(map.clone())) {
        why.push("a {{variable}} is not substituted offline".into());
    }
    Ok(why)
}

/// Any string holding a Kyverno variable (`{{ … }}`, substituted from the admission request at run time).
fn has_variable(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{"),
        Value::Array(a) => a.iter().any(has_variable),
        Value::Object(o) => o.values().any(has_variable),
        _ => false,
    }
}

/// The deprecated `key` / `issuer`+`subject`+`roots` fields as the attestor set `ImageVerification.Convert`
/// makes of them.
fn deprecated_attestor(map: &Map<String, Value>) -> Option<Value> {
    let text = |k: &str| map.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let entry = match (text("key"), text("issuer")) {
        (Some(key), _) => json!({"keys": {"publicKeys": key}}),
        (None, Some(issuer)) => {
            let mut keyless = json!({"issuer": issuer});
            for k in ["subject", "roots"] {
                if let Some(v) = text(k) {
                    keyless[k] = json!(v);
                }
            }
            json!({ "keyless": keyless })
        }
        (None, None) => return None,
    };
    Some(json!({"entries": [entry]}))
}

/// How Kyverno spells an image it is given as `name` (`pkg/utils/image/infos.go`): `registry/path@digest` when
/// a digest is given (the tag dropped, `ImageInfo.String()`), else `registry/path:tag`; a Docker Hub official
/// image a pod writes as `busybox` is `docker.io/busybox` to Kyverno (`reference.Parse` adds no `library/`).
fn forms(names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        let form = match name.split_once('@') {
            Some((left, digest)) => {
                let repo = match left.rfind(':') {
                    Some(i) if !left[i + 1..].contains('/') => &left[..i],
                    _ => left,
                };
                format!("{repo}@{digest}")
            }
            None => name.clone(),
        };
        if let Some(rest) = form.strip_prefix("docker.io/library/").filter(|r| !r.contains('/')) {
            out.push(format!("docker.io/{rest}"));
        }
        out.push(form);
    }
    out.dedup();
    out
}

/// What every Kyverno policy does with one image, added to `decision`. `alone`: no other controller's
/// policy was given.
pub fn decide(
    policies: &[KyvernoPolicy],
    names: &[String],
    verify: &dyn Fn(&Trust) -> Outcome,
    alone: bool,
    decision: &mut Decision,
) {
    let forms = forms(names);
    let mut matched = false;
    for policy in policies {
        let mut noted = false;
        for rule in &policy.rules {
            let applicable: Vec<&ImageRule> = rule.images.iter().filter(|i| i.applies(&forms)).collect();
            if applicable.is_empty() {
                continue;
            }
            matched = true;
            let prefix = format!("{}, rule {}", policy.label, rule.name);
            if !noted {
                decision.notes.extend(policy.notes.iter().map(|n| format!("{}: {n}", policy.label)));
                noted = true;
            }
            if !policy.admission {
                decision.notes.push(format!("{prefix}: spec.admission is false: not applied at admission"));
                continue;
            }
            decision.notes.extend(rule.notes.iter().map(|n| format!("{prefix}: {n}")));
            decision.notes.extend(applicable.iter().flat_map(|i| &i.notes).map(|n| format!("{prefix}: {n}")));
            match outcome(policy, rule, &applicable, verify) {
                Ok(by) => decision.admitted_by.push(format!("{prefix} ({by})")),
                Err((kind, why)) if rule.enforce => {
                    decision.findings.push(Finding::new(kind, format!("{prefix} refuses it: {why}")))
                }
                Err((_, why)) => decision
                    .notes
                    .push(format!("{prefix}: failureAction Audit, admitted (Kyverno only reports it): {why}")),
            }
            if policy.apply_one {
                break;
            }
        }
    }
    if !matched {
        let alone = if alone { ", and no other controller's policy was given" } else { "" };
        decision.notes.push(format!(
            "no Kyverno verifyImages rule matches this image: Kyverno admits it (it has no no-match deny){alone}"
        ));
    }
}

/// One rule on one image: every `verifyImages` entry that applies must pass.
fn outcome(
    policy: &KyvernoPolicy,
    rule: &Rule,
    applicable: &[&ImageRule],
    verify: &dyn Fn(&Trust) -> Outcome,
) -> Result<String, (Kind, String)> {
    let whole: Vec<&String> = policy.not_evaluated.iter().chain(&rule.not_evaluated).collect();
    if !whole.is_empty() {
        let why: Vec<&str> = whole.iter().map(|s| s.as_str()).collect();
        return Err((Kind::Error, format!("not evaluated: {}", why.join("; "))));
    }
    let (mut passed, mut failed) = (Vec::new(), Vec::new());
    for image in applicable {
        match image.verify(verify) {
            Ok(by) => passed.push(by),
            Err(reason) => failed.push(reason),
        }
    }
    if failed.is_empty() {
        return Ok(passed.join("; "));
    }
    let kind = failed.iter().map(|(k, _)| *k).find(|k| *k != Kind::Error).unwrap_or(Kind::Error);
    Err((kind, failed.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ImageInfo.String()` drops the tag when a digest is given; Docker Hub names keep `docker.io/`.
    #[test]
    fn kyverno_spells_names_its_way() {
        let names = [
            "registry.airlock.test/airlock/single:v1".to_string(),
            "registry.airlock.test/airlock/single:v1@sha256:2a4e".to_string(),
            "localhost:5000/a@sha256:2a4e".to_string(),
            "docker.io/library/busybox:1".to_string(),
        ];
        assert_eq!(
            forms(&names),
            [
                "registry.airlock.test/airlock/single:v1",
                "registry.airlock.test/airlock/single@sha256:2a4e",
                "localhost:5000/a@sha256:2a4e",
                "docker.io/busybox:1",
                "docker.io/library/busybox:1",
            ]
        );
    }
}
