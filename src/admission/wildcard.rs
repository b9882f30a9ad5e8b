//! Kyverno's wildcards (`ext/wildcard/match.go`, kyverno 111e07b, which calls `github.com/IGLOU-EU/go-wildcard`
//! v1.0.3 `Match`): `*` is any run of characters, `/` included, `?` exactly one character, everything else is
//! literal, and the whole text must match; an empty pattern matches only the empty text. Kyverno matches
//! `imageReferences` with it against the image as its `ImageInfo.String()` writes it, and certificate
//! subjects and issuers too (`pkg/image/verifiers/cpol/cosign/cosign.go`, `matchCertificateData`).

/// Does `pattern` match all of `text`?
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // the last `*` seen and the text position it is currently made to cover up to
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The same pattern as a regular expression body (for the certificate matchers): `*` → `(?s:.*)`,
/// `?` → `(?s:.)`, every other character literal.
pub fn to_regex(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        match c {
            '*' => out.push_str("(?s:.*)"),
            '?' => out.push_str("(?s:.)"),
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kyverno's own table (`ext/wildcard/match_test.go`, TestMatch), row for row: (pattern, text, matched).
    const KYVERNO: &[(&str, &str, bool)] = &[
        ("*", "s3:GetObject", true),
        ("", "s3:GetObject", false),
        ("", "", true),
        ("s3:*", "s3:ListMultipartUploadParts", true),
        ("s3:ListBucketMultipartUploads", "s3:ListBucket", false),
        ("s3:ListBucket", "s3:ListBucket", true),
        ("s3:ListBucketMultipartUploads", "s3:ListBucketMultipartUploads", true),
        ("my-bucket/oo*", "my-bucket/oo", true),
        ("my-bucket/In*", "my-bucket/India/Karnataka/", true),
        ("my-bucket/In*", "my-bucket/Karnataka/India/", false),
        ("my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Ban", true),
        ("my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Ban/Ban/Ban/Ban/Ban", true),
        ("my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Area1/Area2/Area3/Ban", true),
        ("my-bucket/In*/Ka*/Ban", "my-bucket/India/State1/State2/Karnataka/Area1/Area2/Area3/Ban", true),
        ("my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Bangalore", false),
        ("my-bucket/In*/Ka*/Ban*", "my-bucket/India/Karnataka/Bangalore", true),
        ("my-bucket/*", "my-bucket/India", true),
        ("my-bucket/oo*", "my-bucket/odo", false),
        ("my-bucket?/abc*", "mybucket/abc", false),
        ("my-bucket?/abc*", "my-bucket1/abc", true),
        ("my-?-bucket/abc*", "my--bucket/abc", false),
        ("my-?-bucket/abc*", "my-1-bucket/abc", true),
        ("my-?-bucket/abc*", "my-k-bucket/abc", true),
        ("my??bucket/abc*", "mybucket/abc", false),
        ("my??bucket/abc*", "my4abucket/abc", true),
        ("my-bucket?abc*", "my-bucket/abc", true),
        ("my-bucket/abc?efg", "my-bucket/abcdefg", true),
        ("my-bucket/abc?efg", "my-bucket/abc/efg", true),
        ("my-bucket/abc????", "my-bucket/abc", false),
        ("my-bucket/abc????", "my-bucket/abcde", false),
        ("my-bucket/abc????", "my-bucket/abcdefg", true),
        ("my-bucket/abc?", "my-bucket/abc", false),
        ("my-bucket/abc?", "my-bucket/abcd", true),
        ("my-bucket/abc?", "my-bucket/abcde", false),
        ("my-bucket/mnop*?", "my-bucket/mnop", false),
        ("my-bucket/mnop*?", "my-bucket/mnopqrst/mnopqr", true),
        ("my-bucket/mnop*?", "my-bucket/mnopqrst/mnopqrs", true),
        ("my-bucket/mnop*?", "my-bucket/mnop", false),
        ("my-bucket/mnop*?", "my-bucket/mnopq", true),
        ("my-bucket/mnop*?", "my-bucket/mnopqr", true),
        ("my-bucket/mnop*?and", "my-bucket/mnopqand", true),
        ("my-bucket/mnop*?and", "my-bucket/mnopand", false),
        ("my-bucket/mnop*?and", "my-bucket/mnopqand", true),
        ("my-bucket/mnop*?", "my-bucket/mn", false),
        ("my-bucket/mnop*?", "my-bucket/mnopqrst/mnopqrs", true),
        ("my-bucket/mnop*??", "my-bucket/mnopqrst", true),
        ("my-bucket/mnop*qrst", "my-bucket/mnopabcdegqrst", true),
        ("my-bucket/mnop*?and", "my-bucket/mnopqand", true),
        ("my-bucket/mnop*?and", "my-bucket/mnopand", false),
        ("my-bucket/mnop*?and?", "my-bucket/mnopqanda", true),
        ("my-bucket/mnop*?and", "my-bucket/mnopqanda", false),
        ("my-?-bucket/abc*", "my-bucket/mnopqanda", false),
    ];

    #[test]
    fn kyverno_wildcard_table() {
        for (pattern, text, want) in KYVERNO {
            assert_eq!(matches(pattern, text), *want, "{pattern:?} on {text:?}");
            let re = regex::Regex::new(&format!("^(?:{})$", to_regex(pattern))).unwrap();
            assert_eq!(re.is_match(text), *want, "as a regexp: {pattern:?} on {text:?}");
        }
    }

    /// Image references as Kyverno writes them (`pkg/utils/image/infos.go`): no `index.docker.io`, no
    /// policy-controller segment rule, `.` literal.
    #[test]
    fn image_references() {
        let digest = "registry.airlock.test/airlock/single@sha256:2a4e";
        assert!(matches("registry.airlock.test/*", "registry.airlock.test/airlock/multi:v1"), "* crosses /");
        assert!(matches("registry.airlock.test/*", digest));
        assert!(!matches("registry.airlock.test/airlock/single", "registry.airlock.test/airlock/single:v1"));
        assert!(matches("registry.airlock.test/airlock/single:v?", "registry.airlock.test/airlock/single:v1"));
        assert!(!matches("registry.airlock.test/airlock/single:v?", digest));
        assert!(!matches("registry*airlock.test/*", "registryXairlock.test"), "nothing after the /");
        assert!(!matches("registry.airlock.test/*", "registryXairlock.test/airlock/multi:v1"), ". is literal");
        assert!(!matches("index.docker.io/*", "docker.io/busybox:latest"), "no Docker Hub normalisation");
        let unicode = "registry.airlock.test/é:v1";
        assert!(matches("registry.airlock.test/?:v1", unicode), "? is one character, not one byte");
        assert_eq!(to_regex("a.b*c?"), r"a\.b(?s:.*)c(?s:.)");
    }
}
