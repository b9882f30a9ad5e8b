use super::*;

fn policy(json: &str) -> Result<Policy, String> {
    Policy::from_bytes(Path::new("policy.json"), json.as_bytes())
}

fn only(p: &Policy) -> &Requirement {
    &p.requirements_for(None).1[0]
}

#[test]
fn scopes_go_from_specific_to_general() {
    let r = DockerRef::parse("reg.example.com:5000/a/b/c:v1").unwrap();
    assert_eq!(
        scopes_of(&r),
        [
            "reg.example.com:5000/a/b/c:v1",
            "reg.example.com:5000/a/b/c",
            "reg.example.com:5000/a/b",
            "reg.example.com:5000/a",
            "reg.example.com:5000",
            "*.example.com",
            "*.com"
        ]
    );
}

#[test]
fn chooses_the_most_specific_scope() {
    let p = policy(
        r#"{"default":[{"type":"reject"}],"transports":{"docker":{
            "reg.example.com/team":[{"type":"sigstoreSigned","keyPath":"testdata/keys/p256.pub"}],
            "reg.example.com/team/open":[{"type":"insecureAcceptAnything"}],
            "*.example.com":[{"type":"reject"}]}}}"#,
    )
    .unwrap();
    let at = |s: &str| p.requirements_for(Some(&DockerRef::parse(s).unwrap())).0.to_string();
    assert_eq!(at("reg.example.com/team/app:v1"), "reg.example.com/team");
    assert_eq!(at("reg.example.com/team/open:v1"), "reg.example.com/team/open");
    assert_eq!(at("other.example.com/x:v1"), "*.example.com");
    assert_eq!(at("docker.io/library/x:v1"), "default");
}

#[test]
fn parse_errors_are_containers_images() {
    for (json, want) in [
        (r#"{"default":[{"type":"insecureAcceptAnything"}],"bogus":1}"#, "Unknown key \"bogus\""),
        (r#"{"transports":{}}"#, "Default policy is missing"),
        (r#"{"default":[]}"#, "must not be empty"),
        (r#"{"default":null}"#, "must not be empty"),
        (r#"{"default":[{"type":"reject","x":1}]}"#, "Unknown key \"x\""),
        (r#"{"default":[{"type":"nope"}]}"#, "Unknown policy requirement type \"nope\""),
        (r#"{"default":[{"type":"reject"}],"default":[{"type":"reject"}]}"#, "duplicate key \"default\""),
        (r#"{"default":[{"type":"reject","type":"reject"}]}"#, "duplicate key \"type\""),
        (r#"{"default":[{"type":"sigstoreSigned"}]}"#, "exactly one of keyPath"),
        (r#"{"default":[{"type":"sigstoreSigned","keyPath":""}]}"#, "exactly one of keyPath"),
        (r#"{"default":[{"type":"sigstoreSigned","keyPaths":[]}]}"#, "\"keyPaths\" contains no entries"),
        (r#"{"default":[{"type":"sigstoreSigned","keyPath":"a","keyData":"YQ=="}]}"#, "exactly one of keyPath"),
        (r#"{"default":[{"type":"sigstoreSigned","keyData":"not base64!"}]}"#, "illegal base64 data"),
        (r#"{"default":[{"type":"sigstoreSigned","keyPath":"a","signedIdentity":null}]}"#, "match type \"\""),
        (r#"{"default":[{"type":"sigstoreSigned","keyPath":"a","signedIdentity":{}}]}"#, "match type \"\""),
        (
            r#"{"default":[{"type":"sigstoreSigned","fulcio":{"caPath":"x","oidcIssuer":"i","subjectEmail":"e"}}]}"#,
            "must be specified if fulcio is used",
        ),
        (r#"{"default":[{"type":"signedBy","keyType":"nope","keyPath":"k"}]}"#, "Unrecognized keyType value \"nope\""),
        (r#"{"default":[{"type":"signedBy","keyType":"GPGKeys"}]}"#, "none of them present"),
        (r#"{"default":[{"type":"reject"}],"transports":null}"#, "JSON object expected, got <nil>"),
        (
            r#"{"default":[{"type":"reject"}],"transports":{"oci":{"relative/path":[{"type":"reject"}]}}}"#,
            "Unknown key \"relative/path\"",
        ),
        (r#"{"default":[{"type":"reject"}],"transports":{"dir":{"/a/../b":[{"type":"reject"}]}}}"#, "Unknown key"),
        (
            r#"{"default":[{"type":"reject"}],"transports":{"docker-archive":{"/x":[{"type":"reject"}]}}}"#,
            "Unknown key",
        ),
        (
            r#"{"default":[{"type":"reject"}],"transports":{"containers-storage":{"nobracket":[{"type":"reject"}]}}}"#,
            "Unknown key",
        ),
        (
            r#"{"default":[{"type":"reject"}],"transports":{"other":{"x":[{"type":"nope"}]}}}"#,
            "Unknown policy requirement type",
        ),
    ] {
        let e = policy(json).err().unwrap_or_else(|| panic!("accepted: {json}"));
        assert!(e.contains(want), "{json}: {e}");
    }
}

#[test]
fn what_containers_image_accepts_parses() {
    for json in [
        // docker scopes are not validated; unknown transports only have their requirements checked
        r#"{"default":[{"type":"reject"}],"transports":{"docker":{"Bad//Scope":[{"type":"reject"}],"*":[{"type":"reject"}]}}}"#,
        r#"{"default":[{"type":"reject"}],"transports":{"atomic":{"x":[{"type":"reject"}]},"docker-daemon":{"y":[{"type":"reject"}]}}}"#,
        r#"{"default":[{"type":"reject"}],"transports":{"oci":{"/clean/path":[{"type":"reject"}]},"containers-storage":{"[overlay@/var/lib/containers]":[{"type":"reject"}]}}}"#,
        // a stock RHEL policy: GPG signedBy for Red Hat's registries
        r#"{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"registry.access.redhat.com":
            [{"type":"signedBy","keyType":"GPGKeys","keyPaths":["/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"]}]}}}"#,
        r#"{"default":[{"type":"signedBaseLayer","baseLayerIdentity":{"type":"matchRepository"}}]}"#,
        // key files are only read when evaluated
        r#"{"default":[{"type":"sigstoreSigned","keyPath":"/nonexistent.pub"}]}"#,
        r#"{"default":[{"type":"sigstoreSigned","keyPath":"k","signedIdentity":{"type":"exactRepository","dockerRepository":"reg.example/app:v1"}}]}"#,
    ] {
        policy(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    }
}

#[test]
fn key_data_may_hold_line_breaks() {
    use base64::Engine as _;
    let pem = std::fs::read("testdata/keys/p256.pub").unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pem);
    let wrapped: String =
        b64.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\\r\\n");
    let p = policy(&format!(r#"{{"default":[{{"type":"sigstoreSigned","keyData":"{wrapped}"}}]}}"#)).unwrap();
    let Requirement::Sigstore(s) = only(&p) else { panic!("sigstoreSigned") };
    assert_eq!(s.trust().unwrap().keys.len(), 1);
    // spaces are not line breaks
    assert!(
        policy(&format!(
            r#"{{"default":[{{"type":"sigstoreSigned","keyData":"{}"}}]}}"#,
            wrapped.replace("\\r\\n", " ")
        ))
        .is_err()
    );
}

#[test]
fn a_key_that_cannot_be_read_rejects_when_evaluated() {
    let p =
        policy(r#"{"default":[{"type":"sigstoreSigned","keyPaths":["testdata/keys/p256.pub","/nonexistent.pub"]}]}"#)
            .unwrap();
    let Requirement::Sigstore(s) = only(&p) else { panic!("sigstoreSigned") };
    let e = s.trust().err().expect("one unreadable key rejects");
    assert!(e.contains("/nonexistent.pub"), "{e}");
    assert!(p.keys().is_empty());
    let p = policy(r#"{"default":[{"type":"sigstoreSigned","keyPath":"testdata/keys/p256.pub"}]}"#).unwrap();
    assert!(p.keys().is_empty(), "nothing read before evaluation");
    let Requirement::Sigstore(s) = only(&p) else { panic!("sigstoreSigned") };
    s.trust().unwrap();
    assert_eq!(p.keys().len(), 1, "relative to the working directory");
}

#[test]
fn unsupported_requirements_parse_and_name_themselves() {
    let p = policy(r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyData":"YQ=="}]}"#).unwrap();
    assert!(matches!(only(&p), Requirement::Unsupported(m) if m.contains("GPG signedBy")));
    let p = policy(r#"{"default":[{"type":"signedBaseLayer","baseLayerIdentity":{"type":"matchExact"}}]}"#).unwrap();
    assert!(matches!(only(&p), Requirement::Unsupported(m) if m.contains("signedBaseLayer not implemented")));
}
