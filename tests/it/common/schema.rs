//! Validates reports against `src/report.schema.json`: the subset of JSON Schema it uses (`type`,
//! `const`, `enum`, `pattern` as an anchored character-class check, `required`, `properties`,
//! `additionalProperties`, `items`, `oneOf`, `$ref` into `$defs`).

use serde_json::Value;
use std::sync::OnceLock;

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = std::fs::read_to_string(super::root().join("src/report.schema.json")).expect("report schema");
        serde_json::from_str(&text).expect("the schema is JSON")
    })
}

/// Panics with every violation when `report` does not match the schema.
pub fn check_report(report: &Value) {
    let mut errors = Vec::new();
    check(schema(), report, "$", &mut errors);
    assert!(errors.is_empty(), "the report does not match src/report.schema.json:\n{}", errors.join("\n"));
}

fn type_ok(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        _ => false,
    }
}

/// The patterns the schema uses: `^[0-9a-f]{64}$` and `^[a-z0-9]+:[0-9a-f]+$`.
fn pattern_ok(pattern: &str, s: &str) -> bool {
    let hex = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match pattern {
        "^[0-9a-f]{64}$" => s.len() == 64 && hex(s),
        "^[a-z0-9]+:[0-9a-f]+$" => s.split_once(':').is_some_and(|(a, h)| {
            !a.is_empty() && a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) && hex(h)
        }),
        other => panic!("the schema validator does not know pattern {other}"),
    }
}

fn check(schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local $ref");
        return check(&self::schema()["$defs"][name], v, at, errors);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                check(o, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!("{at}: matches {matching} of oneOf"));
        }
        return;
    }
    match schema.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => return errors.push(format!("{at}: not a {t}: {v}")),
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)) => {
            return errors.push(format!("{at}: not one of {ts:?}: {v}"));
        }
        _ => {}
    }
    if let Some(c) = schema.get("const").filter(|c| *c != v) {
        errors.push(format!("{at}: {v} is not {c}"));
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array).filter(|e| !e.contains(v)) {
        errors.push(format!("{at}: {v} is not one of {e:?}"));
    }
    if let (Some(p), Some(s)) = (schema.get("pattern").and_then(Value::as_str), v.as_str())
        && !pattern_ok(p, s)
    {
        errors.push(format!("{at}: {s:?} does not match {p}"));
    }
    if let Some(obj) = v.as_object() {
        for r in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let key = r.as_str().unwrap_or_default();
            if !obj.contains_key(key) {
                errors.push(format!("{at}: missing {key:?}"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            match (props.and_then(|p| p.get(k)), schema.get("additionalProperties")) {
                (Some(s), _) => check(s, val, &format!("{at}.{k}"), errors),
                (None, Some(Value::Bool(false))) => errors.push(format!("{at}: unexpected {k:?}")),
                (None, Some(s @ Value::Object(_))) => check(s, val, &format!("{at}.{k}"), errors),
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            check(items, item, &format!("{at}[{i}]"), errors);
        }
    }
}
