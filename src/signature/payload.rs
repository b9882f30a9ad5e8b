//! The simple-signing payload, parsed as strictly as containers/image's "paranoid" parser: exact key sets,
//! no duplicate keys, case-sensitive, nothing after the object. Also the duplicate-preserving JSON tree it needs.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// The only `critical.type` accepted.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The claims of a simple-signing payload. Nothing here is checked against the image yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference`, as written.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`, as written (the caller parses and compares it).
    pub manifest_digest: String,
    /// `optional.creator`.
    pub creator: Option<String>,
    /// `optional.timestamp` (seconds since the epoch).
    pub timestamp: Option<i64>,
}

/// Why a payload (or another strictly parsed JSON document) was rejected; the texts are containers/image's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("invalid JSON: {0}")]
    Syntax(String),
    #[error("Unexpected data after JSON object")]
    TrailingData,
    #[error("JSON object expected for {field}, got {got}")]
    NotObject { field: &'static str, got: &'static str },
    #[error("Duplicate key {0:?}")]
    DuplicateKey(String),
    #[error("Unknown key {0:?}")]
    UnknownKey(String),
    #[error("Key {0:?} missing in a JSON object")]
    MissingKey(&'static str),
    #[error("Field {field} must be a {expected}, got {got}")]
    WrongType { field: &'static str, expected: &'static str, got: &'static str },
    #[error("Field optional.timestamp is not an integer")]
    TimestampNotInteger,
    #[error("Unrecognized signature type {0}")]
    UnrecognizedType(String),
}

/// Parses a simple-signing payload with containers/image's rules, in its order. `optional` must be present
/// (it may be `null`); its unknown members are ignored, a `null` `creator` or `timestamp` counts as absent.
pub fn parse_strict(payload: &[u8]) -> Result<SimpleSigning, PayloadError> {
    let root = parse_json(payload)?;
    let [critical, optional] = exact_fields(root.as_object("payload")?, ["critical", "optional"])?;

    let (mut creator, mut timestamp) = (None, None);
    if *optional != Json::Null {
        let mut seen = Vec::new();
        for (key, value) in optional.as_object("optional")? {
            if seen.contains(&key) {
                return Err(PayloadError::DuplicateKey(key.clone()));
            }
            seen.push(key);
            match (key.as_str(), value) {
                (_, Json::Null) => {}
                ("creator", value) => creator = Some(value.as_str("optional.creator")?.to_string()),
                ("timestamp", Json::Number(n)) => timestamp = Some(integer_value(n)?),
                ("timestamp", other) => return Err(other.wrong_type("optional.timestamp", "number")),
                _ => {}
            }
        }
    }

    let [kind, image, identity] = exact_fields(critical.as_object("critical")?, ["type", "image", "identity"])?;
    let kind = kind.as_str("critical.type")?;
    if kind != SIGNATURE_TYPE {
        return Err(PayloadError::UnrecognizedType(kind.to_string()));
    }
    let [digest] = exact_fields(image.as_object("critical.image")?, ["docker-manifest-digest"])?;
    let manifest_digest = digest.as_str("critical.image.docker-manifest-digest")?.to_string();
    let [reference] = exact_fields(identity.as_object("critical.identity")?, ["docker-reference"])?;
    let docker_reference = reference.as_str("critical.identity.docker-reference")?.to_string();
    // What the exact parse above does not reach (duplicates inside `optional`'s own values) still has one
    // meaning only.
    crate::oci::json::check(payload, crate::oci::json::fields::PAYLOAD)
        .map_err(|e| PayloadError::Syntax(e.to_string()))?;
    Ok(SimpleSigning { docker_reference, manifest_digest, creator, timestamp })
}

/// Go decodes the timestamp as a float64 and accepts it when it converts to an int64 unchanged.
fn integer_value(n: &serde_json::Number) -> Result<i64, PayloadError> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        // 2^63 is exactly representable; anything from there up does not fit.
        Some(f) if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) => {
            Ok(f as i64)
        }
        _ => Err(PayloadError::TimestampNotInteger),
    }
}

/// A JSON value that keeps every object member in document order, duplicates included (serde_json's `Value`
/// silently keeps only the last one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Parses exactly one JSON value; only white space may follow it.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Json, PayloadError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Json::deserialize(&mut de).map_err(|e| PayloadError::Syntax(e.to_string()))?;
    de.end().map_err(|_| PayloadError::TrailingData)?;
    Ok(value)
}

/// The members of `object` named in `names`, each present exactly once, and no others.
pub(crate) fn exact_fields<'a, const N: usize>(
    object: &'a [(String, Json)],
    names: [&'static str; N],
) -> Result<[&'a Json; N], PayloadError> {
    let mut found: [Option<&Json>; N] = [None; N];
    for (key, value) in object {
        match names.iter().position(|n| n == key) {
            Some(i) if found[i].is_some() => return Err(PayloadError::DuplicateKey(key.clone())),
            Some(i) => found[i] = Some(value),
            None => return Err(PayloadError::UnknownKey(key.clone())),
        }
    }
    let mut out = [&Json::Null; N];
    for (i, name) in names.iter().enumerate() {
        out[i] = found[i].ok_or(PayloadError::MissingKey(name))?;
    }
    Ok(out)
}

impl Json {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    pub(crate) fn wrong_type(&self, field: &'static str, expected: &'static str) -> PayloadError {
        PayloadError::WrongType { field, expected, got: self.kind() }
    }

    pub(crate) fn as_object(&self, field: &'static str) -> Result<&[(String, Json)], PayloadError> {
        match self {
            Json::Object(members) => Ok(members),
            other => Err(PayloadError::NotObject { field, got: other.kind() }),
        }
    }

    pub(crate) fn as_str(&self, field: &'static str) -> Result<&str, PayloadError> {
        match self {
            Json::String(s) => Ok(s),
            other => Err(other.wrong_type(field, "string")),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v).map(Json::Number).ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00";

    fn payload(critical: &str, optional: &str) -> String {
        format!(r#"{{"critical":{critical},"optional":{optional}}}"#)
    }

    fn critical(identity: &str, image: &str, kind: &str) -> String {
        format!(r#"{{"identity":{identity},"image":{image},"type":{kind}}}"#)
    }

    fn good_critical() -> String {
        critical(
            r#"{"docker-reference":"192.168.64.2:5000/skopeo-signed:tag"}"#,
            &format!(r#"{{"docker-manifest-digest":"{DIGEST}"}}"#),
            r#""cosign container image signature""#,
        )
    }

    fn err(text: &str) -> String {
        parse_strict(text.as_bytes()).expect_err(text).to_string()
    }

    #[test]
    fn containers_image_payload() {
        let text = payload(&good_critical(), r#"{"creator":"containers/image 5.21.2-dev","timestamp":1657296609}"#);
        let parsed = parse_strict(text.as_bytes()).expect("valid");
        assert_eq!(
            parsed,
            SimpleSigning {
                docker_reference: "192.168.64.2:5000/skopeo-signed:tag".into(),
                manifest_digest: DIGEST.into(),
                creator: Some("containers/image 5.21.2-dev".into()),
                timestamp: Some(1657296609),
            }
        );
    }

    #[test]
    fn cosign_payload_with_null_optional() {
        let parsed = parse_strict(payload(&good_critical(), "null").as_bytes()).expect("valid");
        assert_eq!(parsed.creator, None);
        assert_eq!(parsed.timestamp, None);
        // Members in any order, white space anywhere.
        let spaced = format!(" \n{{ \"optional\" : {{}} ,\t\"critical\" : {} }}\n\r\t ", good_critical());
        assert!(parse_strict(spaced.as_bytes()).is_ok());
    }

    #[test]
    fn optional_members() {
        let ok = |optional: &str| parse_strict(payload(&good_critical(), optional).as_bytes());
        let parsed = ok(r#"{"foo":"bar","n":[1,{"a":{}}],"creator":"me","timestamp":1.0e3,"z":null}"#).expect("valid");
        assert_eq!(parsed.creator.as_deref(), Some("me"));
        assert_eq!(parsed.timestamp, Some(1000));
        assert_eq!(ok(r#"{"timestamp":-5}"#).expect("valid").timestamp, Some(-5));
        assert_eq!(ok(r#"{"creator":null,"timestamp":null}"#).expect("valid"), ok("{}").expect("valid"));
        let e = |optional: &str| err(&payload(&good_critical(), optional));
        assert_eq!(e(r#"{"timestamp":1.5}"#), "Field optional.timestamp is not an integer");
        assert_eq!(e(r#"{"timestamp":1e30}"#), "Field optional.timestamp is not an integer");
        assert_eq!(e(r#"{"timestamp":18446744073709551615}"#), "Field optional.timestamp is not an integer");
        assert_eq!(e(r#"{"timestamp":"1"}"#), "Field optional.timestamp must be a number, got string");
        assert_eq!(e(r#"{"creator":5}"#), "Field optional.creator must be a string, got number");
        assert_eq!(e(r#"{"creator":"a","creator":"b"}"#), r#"Duplicate key "creator""#);
        assert_eq!(e(r#"{"x":1,"x":2}"#), r#"Duplicate key "x""#);
        assert_eq!(e("[]"), "JSON object expected for optional, got array");
        assert_eq!(e(r#""x""#), "JSON object expected for optional, got string");
    }

    #[test]
    fn top_level_keys() {
        let c = good_critical();
        assert_eq!(err(&format!(r#"{{"critical":{c}}}"#)), r#"Key "optional" missing in a JSON object"#);
        assert_eq!(err(r#"{"optional":null}"#), r#"Key "critical" missing in a JSON object"#);
        assert_eq!(err(&format!(r#"{{"critical":{c},"optional":null,"extra":1}}"#)), r#"Unknown key "extra""#);
        assert_eq!(err(&format!(r#"{{"Critical":{c},"optional":null}}"#)), r#"Unknown key "Critical""#);
        assert_eq!(
            err(&format!(r#"{{"critical":{c},"optional":null,"optional":{{}}}}"#)),
            r#"Duplicate key "optional""#
        );
        assert_eq!(
            err(&format!(r#"{{"critical":{c},"critical":{c},"optional":null}}"#)),
            r#"Duplicate key "critical""#
        );
        // Like Go, an unknown key is reported at its first occurrence.
        assert_eq!(err(&format!(r#"{{"critical":{c},"x":1,"x":1,"optional":null}}"#)), r#"Unknown key "x""#);
        assert_eq!(err("[]"), "JSON object expected for payload, got array");
        assert_eq!(err(&payload("null", "null")), "JSON object expected for critical, got null");
    }

    #[test]
    fn critical_keys() {
        let image = format!(r#"{{"docker-manifest-digest":"{DIGEST}"}}"#);
        let identity = r#"{"docker-reference":"r/x:1"}"#;
        let kind = r#""cosign container image signature""#;
        let e = |critical: &str| err(&payload(critical, "null"));
        assert_eq!(e(&format!(r#"{{"image":{image},"type":{kind}}}"#)), r#"Key "identity" missing in a JSON object"#);
        assert_eq!(
            e(&format!(r#"{{"identity":{identity},"type":{kind}}}"#)),
            r#"Key "image" missing in a JSON object"#
        );
        assert_eq!(
            e(&format!(r#"{{"identity":{identity},"image":{image}}}"#)),
            r#"Key "type" missing in a JSON object"#
        );
        assert_eq!(
            e(&format!(r#"{{"identity":{identity},"image":{image},"type":{kind},"extra":{{}}}}"#)),
            r#"Unknown key "extra""#
        );
        assert_eq!(
            e(&format!(r#"{{"identity":{identity},"image":{image},"type":{kind},"type":{kind}}}"#)),
            r#"Duplicate key "type""#
        );
        assert_eq!(e(&format!(r#"{{"identity":{identity},"image":{image},"Type":{kind}}}"#)), r#"Unknown key "Type""#);
        assert_eq!(
            e(&critical(identity, &image, r#""atomic container signature""#)),
            "Unrecognized signature type atomic container signature"
        );
        assert_eq!(
            e(&critical(identity, &image, r#""Cosign container image signature""#)),
            "Unrecognized signature type Cosign container image signature"
        );
        assert_eq!(e(&critical(identity, &image, "1")), "Field critical.type must be a string, got number");
        assert_eq!(e(&critical(identity, &image, "null")), "Field critical.type must be a string, got null");
    }

    #[test]
    fn image_and_identity_keys() {
        let identity = r#"{"docker-reference":"r/x:1"}"#;
        let image = format!(r#"{{"docker-manifest-digest":"{DIGEST}"}}"#);
        let kind = r#""cosign container image signature""#;
        let e = |identity: &str, image: &str| err(&payload(&critical(identity, image, kind), "null"));
        assert_eq!(e(identity, "{}"), r#"Key "docker-manifest-digest" missing in a JSON object"#);
        assert_eq!(
            e(identity, &format!(r#"{{"docker-manifest-digest":"{DIGEST}","docker-manifest-digest":"{DIGEST}"}}"#)),
            r#"Duplicate key "docker-manifest-digest""#
        );
        assert_eq!(e(identity, &format!(r#"{{"docker-manifest-digest":"{DIGEST}","x":1}}"#)), r#"Unknown key "x""#);
        assert_eq!(
            e(identity, r#"{"docker-manifest-digest":7}"#),
            "Field critical.image.docker-manifest-digest must be a string, got number"
        );
        assert_eq!(e(identity, "[]"), "JSON object expected for critical.image, got array");
        assert_eq!(e("{}", &image), r#"Key "docker-reference" missing in a JSON object"#);
        assert_eq!(
            e(r#"{"docker-reference":"a:1","docker-reference":"b:1"}"#, &image),
            r#"Duplicate key "docker-reference""#
        );
        assert_eq!(e(r#"{"Docker-Reference":"a:1"}"#, &image), r#"Unknown key "Docker-Reference""#);
        assert_eq!(
            e(r#"{"docker-reference":["a"]}"#, &image),
            "Field critical.identity.docker-reference must be a string, got array"
        );
        // The digest claim is not interpreted here.
        let odd = payload(&critical(identity, r#"{"docker-manifest-digest":"not a digest"}"#, kind), "null");
        assert_eq!(parse_strict(odd.as_bytes()).expect("valid").manifest_digest, "not a digest");
    }

    #[test]
    fn trailing_data_and_syntax() {
        let good = payload(&good_critical(), "null");
        assert_eq!(err(&format!("{good}x")), "Unexpected data after JSON object");
        assert_eq!(err(&format!("{good}{{}}")), "Unexpected data after JSON object");
        assert_eq!(err(&format!("{good}\n{good}")), "Unexpected data after JSON object");
        assert!(err("").starts_with("invalid JSON: "));
        assert!(err("&").starts_with("invalid JSON: "));
        assert!(err(&good[..good.len() - 1]).starts_with("invalid JSON: "));
        assert!(parse_strict(b"{\"critical\":\xff}").is_err());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(err(&payload(&good_critical(), &format!(r#"{{"x":{deep}}}"#))).starts_with("invalid JSON: "));
    }

    #[test]
    fn json_tree_keeps_duplicates() {
        let tree = parse_json(br#"{"a":1,"b":{"c":[{"d":1,"d":2}]},"a":2}"#).expect("valid");
        assert_eq!(tree.as_object("x").expect("object").len(), 3);
    }

    #[test]
    fn duplicates_deep_inside_optional_are_refused() {
        let deep = payload(&good_critical(), r#"{"x":{"d":1,"d":2}}"#);
        assert!(err(&deep).contains("optional.x: duplicate key \"d\""), "{}", err(&deep));
    }
}
