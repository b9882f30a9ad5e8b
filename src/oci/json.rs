//! The one strict JSON reader (SPEC §8 "One meaning per document"). Every importer decodes with Go's
//! `encoding/json`, which matches object keys to struct fields case-insensitively (Unicode simple
//! folding: `K`/`k`/`K` and `S`/`s`/`ſ` are one key, `fold.go` `foldName`) and keeps the last of two
//! duplicates; serde does neither. So a document is refused when any object has a duplicate key, or when
//! an object Go decodes into a struct has two keys equal under folding, or a key that Go would fold
//! onto a field airlock reads (`Manifests`, `Digest`, `ſize`). Free-form maps (`annotations`, `Labels`)
//! are Go maps with exact keys: there only exact duplicates are refused.
//!
//! The check walks the bytes without building a tree; the typed parse reads the same bytes afterwards.

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// The fields airlock reads from each kind of document: a key that folds onto one of them without being it
/// is a second spelling only Go would see.
pub mod fields {
    /// OCI and Docker manifests and indexes, their descriptors and platforms.
    pub const MANIFEST: &[&str] = &[
        "schemaVersion",
        "mediaType",
        "manifests",
        "config",
        "layers",
        "subject",
        "artifactType",
        "annotations",
        "digest",
        "size",
        "urls",
        "platform",
        "data",
        "architecture",
        "os",
        "os.version",
        "os.features",
        "variant",
        "features",
    ];
    /// Image configs (OCI and Docker).
    pub const CONFIG: &[&str] =
        &["architecture", "os", "variant", "os.version", "os.features", "rootfs", "diff_ids", "type"];
    /// A layout's `oci-layout` file.
    pub const LAYOUT: &[&str] = &["imageLayoutVersion"];
    /// A docker-archive `manifest.json`.
    pub const DOCKER_ARCHIVE: &[&str] = &["Config", "RepoTags", "Layers", "LayerSources", "Parent"];
    /// hangar's `index.json`.
    pub const HANGAR: &[&str] = &[
        "list",
        "version",
        "source",
        "tag",
        "images",
        "arch",
        "os",
        "osVersion",
        "osFeatures",
        "variant",
        "mediaType",
        "layers",
        "config",
        "digest",
        "annotations",
    ];
    /// Simple-signing payloads.
    pub const PAYLOAD: &[&str] =
        &["critical", "optional", "type", "image", "identity", "docker-manifest-digest", "docker-reference"];
    /// A skopeo `dir:` `signature-N` body.
    pub const SKOPEO_SIGNATURE: &[&str] = &["mimeType", "payload", "annotations"];
    /// Sigstore bundles, DSSE envelopes, in-toto statements, Rekor entries and SETs.
    pub const BUNDLE: &[&str] = &[
        "mediaType",
        "_type",
        "subject",
        "predicateType",
        "predicate",
        "name",
        "digest",
        "payload",
        "payloadType",
        "signatures",
        "sig",
        "keyid",
        "verificationMaterial",
        "dsseEnvelope",
        "messageSignature",
        "messageDigest",
        "algorithm",
        "signature",
        "publicKey",
        "hint",
        "certificate",
        "x509CertificateChain",
        "certificates",
        "rawBytes",
        "tlogEntries",
        "timestampVerificationData",
        "rfc3161Timestamps",
        "signedTimestamp",
        "logIndex",
        "logId",
        "keyId",
        "kindVersion",
        "kind",
        "version",
        "integratedTime",
        "inclusionPromise",
        "signedEntryTimestamp",
        "inclusionProof",
        "rootHash",
        "treeSize",
        "hashes",
        "checkpoint",
        "envelope",
        "canonicalizedBody",
        "apiVersion",
        "spec",
        "body",
        "content",
        "hash",
        "value",
        "logID",
        "data",
        "SignedEntryTimestamp",
        "Payload",
    ];
}

/// Keys whose object value Go decodes into a map (exact keys).
const MAPS: &[&str] = &["annotations", "labels", "exposedports", "volumes", "digest"];
/// Keys whose value Go decodes into `interface{}` (maps all the way down).
const FREE_FORM: &[&str] = &["predicate", "optional"];

/// How Go decodes an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Into a struct: keys folded.
    Struct,
    /// Into a `map[string]T`: exact keys; the values are structs again.
    Map,
    /// Into `interface{}`: exact keys at every depth.
    FreeForm,
}

/// Why a document was refused, with where in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(pub String);

/// Checks `bytes` as one JSON document (only white space after it) under the rules above; `fields` are
/// the fields airlock reads from this kind of document (one of [`fields`]).
pub fn check(bytes: &[u8], fields: &[&str]) -> Result<(), JsonError> {
    let known: HashMap<String, &str> = fields.iter().map(|n| (fold(n), *n)).collect();
    let rules = Rules { fields, known };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Check { shape: Shape::Struct, path: &Path::Root, rules: &rules }
        .deserialize(&mut de)
        .map_err(|e| JsonError(e.to_string()))?;
    de.end().map_err(|e| JsonError(format!("data after the JSON document: {e}")))
}

/// Checks `bytes` for exact duplicate keys only, at every depth (a parser that matches keys exactly, as
/// containers-image's paranoid policy parser does, refuses every other spelling itself).
pub fn check_exact(bytes: &[u8]) -> Result<(), JsonError> {
    let rules = Rules { fields: &[], known: HashMap::new() };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Check { shape: Shape::FreeForm, path: &Path::Root, rules: &rules }
        .deserialize(&mut de)
        .map_err(|e| JsonError(e.to_string()))?;
    de.end().map_err(|e| JsonError(format!("data after the JSON document: {e}")))
}

/// Checks `bytes`, then decodes them as `T`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], fields: &[&str]) -> Result<T, JsonError> {
    check(bytes, fields)?;
    serde_json::from_slice(bytes).map_err(|e| JsonError(e.to_string()))
}

/// The fields of one kind of document, and their folded spellings.
struct Rules<'a> {
    fields: &'a [&'a str],
    known: HashMap<String, &'a str>,
}

/// Go's simple-fold class of a key, as one string (a superset of `bytes.EqualFold`: every pair Go folds
/// together gets the same string here).
pub fn fold(key: &str) -> String {
    if key.is_ascii() {
        return key.to_ascii_lowercase();
    }
    key.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    let single = |mut it: std::iter::Peekable<std::char::ToLowercase>| {
        let first = it.next()?;
        it.peek().is_none().then_some(first)
    };
    let mut upper = c.to_uppercase();
    let up = match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    };
    single(up.to_lowercase().peekable()).or_else(|| single(c.to_lowercase().peekable())).unwrap_or(c)
}

/// Where a value sits, for messages (`manifests[3].annotations`).
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, k) => write!(f, "{k}"),
            Path::Key(parent, k) => write!(f, "{parent}.{k}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

impl Path<'_> {
    fn at(&self) -> String {
        match self {
            Path::Root => "the top-level object".to_string(),
            other => other.to_string(),
        }
    }
}

struct Check<'a> {
    shape: Shape,
    path: &'a Path<'a>,
    rules: &'a Rules<'a>,
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Check<'_> {
    fn child_shape(&self, key: &str) -> Shape {
        match self.shape {
            Shape::FreeForm => Shape::FreeForm,
            Shape::Map => Shape::Struct,
            Shape::Struct => {
                let folded = fold(key);
                if FREE_FORM.contains(&folded.as_str()) {
                    Shape::FreeForm
                } else if MAPS.contains(&folded.as_str()) {
                    Shape::Map
                } else {
                    Shape::Struct
                }
            }
        }
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let shape = if self.shape == Shape::FreeForm { Shape::FreeForm } else { Shape::Struct };
        let mut i = 0;
        loop {
            let path = Path::Index(self.path, i);
            if seq.next_element_seed(Check { shape, path: &path, rules: self.rules })?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut exact: HashSet<String> = HashSet::new();
        let mut folded: HashMap<String, String> = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if exact.contains(&key) {
                return Err(de::Error::custom(format!("{}: duplicate key {key:?}", self.path.at())));
            }
            if self.shape == Shape::Struct {
                let f = fold(&key);
                if let Some(other) = folded.get(&f) {
                    return Err(de::Error::custom(format!(
                        "{}: keys {other:?} and {key:?} are one key to Go's encoding/json (case-insensitive)",
                        self.path.at()
                    )));
                }
                if let Some(field) = self.rules.known.get(&f)
                    && !self.rules.fields.contains(&key.as_str())
                {
                    return Err(de::Error::custom(format!(
                        "{}: key {key:?} is {field:?} to Go's encoding/json (case-insensitive)",
                        self.path.at()
                    )));
                }
                folded.insert(f, key.clone());
            }
            let shape = self.child_shape(&key);
            let path = Path::Key(self.path, &key);
            map.next_value_seed(Check { shape, path: &path, rules: self.rules })?;
            exact.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(doc: &str) -> String {
        check(doc.as_bytes(), fields::MANIFEST).expect_err(doc).0
    }

    fn ok(doc: &[u8]) {
        check(doc, fields::MANIFEST).unwrap();
    }

    #[test]
    fn plain_documents_pass() {
        ok(br#"{"schemaVersion":2,"manifests":[{"digest":"x","size":1,"annotations":{"a":"1","A":"2"}}]}"#);
        ok(br#"{"config":{"Labels":{"maintainer":"x","Maintainer":"y"}}}"#);
        ok(br#"{"predicate":{"x":{"Y":1,"y":2}}}"#);
        ok(b"[1, \"a\", null, true, 2.5]");
        // a Docker config's container config has `Image`; only a payload reads `image`
        check(br#"{"architecture":"amd64","os":"linux","config":{"Image":"x"}}"#, fields::CONFIG).unwrap();
        assert!(check(br#"{"critical":{"Image":{}}}"#, fields::PAYLOAD).is_err());
    }

    #[test]
    fn exact_duplicates_fail_at_any_depth() {
        assert!(err(r#"{"a":1,"a":2}"#).contains("duplicate key \"a\""));
        let e = err(r#"{"manifests":[{"annotations":{"k":"1","k":"2"}}]}"#);
        assert!(e.contains("manifests[0].annotations: duplicate key \"k\""), "{e}");
        assert!(err(r#"{"predicate":{"x":[{"z":1,"z":1}]}}"#).contains("duplicate key \"z\""));
    }

    #[test]
    fn case_folded_keys_fail_where_go_decodes_a_struct() {
        let e = err(r#"{"manifests":[],"Manifests":[]}"#);
        assert!(e.contains("keys \"manifests\" and \"Manifests\" are one key"), "{e}");
        let e = err(r#"{"manifests":[{"digest":"a","Digest":"b"}]}"#);
        assert!(e.contains("manifests[0]: keys"), "{e}");
        assert!(err(r#"{"platform":{"architecture":"amd64","ARCHITECTURE":"arm64"}}"#).contains("one key"));
        assert!(check(br#"{"list":[],"List":[]}"#, fields::HANGAR).unwrap_err().0.contains("one key"));
    }

    #[test]
    fn a_second_spelling_of_a_known_field_fails_alone() {
        assert!(err(r#"{"schemaVersion":2,"Manifests":[]}"#).contains("\"Manifests\" is \"manifests\""));
        assert!(err(r#"{"Annotations":{"a":"b"}}"#).contains("is \"annotations\""));
        // Go folds the long s and the Kelvin sign onto ASCII letters.
        assert!(err("{\"\u{17f}ize\":1}").contains("is \"size\""));
        assert!(check("{\"\u{212a}ind\":\"x\"}".as_bytes(), fields::BUNDLE).unwrap_err().0.contains("is \"kind\""));
        // An unknown key is only unknown.
        ok(br#"{"Whatever":1}"#);
        // Each kind of document has its own spellings.
        check(br#"[{"Config":"c","RepoTags":[],"Layers":[]}]"#, fields::DOCKER_ARCHIVE).unwrap();
        assert!(check(br#"[{"config":"c"}]"#, fields::DOCKER_ARCHIVE).unwrap_err().0.contains("is \"Config\""));
    }

    #[test]
    fn folding_matches_go_for_its_special_letters() {
        assert_eq!(fold("\u{17f}"), fold("S"));
        assert_eq!(fold("\u{212a}"), fold("k"));
        assert_eq!(fold("\u{2126}"), fold("\u{3c9}"));
        assert_ne!(fold("a"), fold("b"));
    }

    #[test]
    fn trailing_data_and_bad_json_fail() {
        assert!(err(r#"{"a":1} x"#).contains("after the JSON document"));
        ok(b"{\"a\":1}\n  ");
        assert!(check(b"{\"a\":", fields::MANIFEST).is_err());
    }
}
