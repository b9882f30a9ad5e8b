//! YAML documents airlock reads (zarf's `zarf.yaml`; later `--cluster-policy` files), through one reader:
//! serde-saphyr (maintained, panic-free, no unsafe code; `serde_yaml` is unmaintained), with duplicate
//! keys refused at every depth (a YAML document with one has two meanings: Go's goccy/go-yaml, which zarf
//! uses, refuses it too) and a budget against alias bombs and deep nesting.

use serde::de::DeserializeOwned;
use serde_saphyr::options::DuplicateKeyPolicy;

/// The largest YAML input accepted, in bytes.
pub const LIMIT: usize = 16 << 20;

/// Every document of a YAML stream (`---`-separated), each decoded as `T`; empty documents are left out.
/// `Err` names the first problem (a duplicate key, a syntax error, a budget breach, a wrong type).
pub fn documents<T: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, String> {
    if bytes.len() > LIMIT {
        return Err(format!("{} bytes is over the {LIMIT}-byte limit for YAML", bytes.len()));
    }
    let budget = serde_saphyr::budget! {
        max_documents: 64,
        max_depth: 64,
        max_nodes: 1_000_000,
        max_aliases: 1_000,
        max_anchors: 1_000,
        max_reader_input_bytes: Some(LIMIT),
    };
    let options = serde_saphyr::options! {
        budget: budget,
        duplicate_keys: DuplicateKeyPolicy::Error,
        with_snippet: false,
    };
    let docs: Vec<Option<T>> =
        serde_saphyr::from_slice_multiple_with_options(bytes, options).map_err(|e| one_line(&e.to_string()))?;
    Ok(docs.into_iter().flatten().collect())
}

/// The parser's message on one line (it may quote the input over several).
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Doc {
        kind: String,
        #[serde(default)]
        n: u32,
    }

    #[test]
    fn reads_every_document() {
        let docs: Vec<Doc> = documents(b"kind: a\nn: 1\n---\nkind: b\n").unwrap();
        assert_eq!(docs, [Doc { kind: "a".into(), n: 1 }, Doc { kind: "b".into(), n: 0 }]);
        let none: Vec<Doc> = documents(b"").unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn refuses_duplicate_keys_at_any_depth() {
        let e = documents::<Doc>(b"kind: a\nkind: b\n").unwrap_err();
        assert!(e.to_lowercase().contains("duplicate"), "{e}");
        #[derive(serde::Deserialize)]
        struct Outer {
            #[serde(rename = "m")]
            _m: std::collections::BTreeMap<String, String>,
        }
        let e = documents::<Outer>(b"m:\n  x: 1\n  x: 2\n").err().unwrap();
        assert!(e.to_lowercase().contains("duplicate"), "{e}");
        // in a part of the document no field reads, too (goccy/go-yaml refuses it there as well)
        let e = documents::<Doc>(b"kind: a\nother: [{x: 1, x: 2}]\n").unwrap_err();
        assert!(e.contains("duplicate mapping key: x"), "{e}");
    }

    #[test]
    fn alias_bombs_and_hostile_input_are_errors_not_panics() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            bomb.push_str(&format!(
                "b{i}: &b{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
                p = if i == 0 { "a".to_string() } else { format!("b{}", i - 1) }
            ));
        }
        assert!(documents::<serde::de::IgnoredAny>(bomb.as_bytes()).is_err());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(documents::<serde::de::IgnoredAny>(deep.as_bytes()).is_err());
        assert!(documents::<Doc>(&[0xff, 0xfe, 0x00]).is_err());
        assert!(documents::<Doc>(&vec![b' '; LIMIT + 1]).is_err());
    }
}
