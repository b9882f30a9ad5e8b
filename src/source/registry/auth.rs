//! Registry credentials and challenges: `--creds`, `--authfile`, `$REGISTRY_AUTH_FILE`, containers
//! `auth.json`, docker `config.json` (`auth`, `username`/`password`, `identitytoken`), and the
//! `WWW-Authenticate` header of a 401.

use base64::Engine as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to present to one registry host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Basic {
        user: String,
        password: String,
    },
    /// An OAuth2 refresh token (docker `identitytoken`), exchanged at the token realm.
    IdentityToken(String),
}

/// Where credentials come from, in containers-image's order.
#[derive(Clone, Debug, Default)]
pub struct CredentialSources {
    /// `--creds USER:PASS`, for every host.
    pub explicit: Option<(String, String)>,
    /// `--authfile FILE` (then `$REGISTRY_AUTH_FILE` is not consulted).
    pub authfile: Option<PathBuf>,
}

impl CredentialSources {
    /// The credential for `host` (`host:port`), if any source has one. Unreadable or malformed auth
    /// files given explicitly are errors; default locations that are absent are skipped.
    pub fn lookup(&self, host: &str) -> Result<Option<Credential>, String> {
        if let Some((user, password)) = &self.explicit {
            return Ok(Some(Credential::Basic { user: user.clone(), password: password.clone() }));
        }
        if let Some(file) = &self.authfile {
            return from_file(file, host, true);
        }
        for file in default_files() {
            if let Some(c) = from_file(&file, host, false)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

fn default_files() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        files.push(f);
    }
    if let Some(run) = env("XDG_RUNTIME_DIR") {
        files.push(run.join("containers/auth.json"));
    }
    let home = env("HOME");
    if let Some(config) = env("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config"))) {
        files.push(config.join("containers/auth.json"));
    }
    if let Some(docker) = env("DOCKER_CONFIG").or_else(|| home.map(|h| h.join(".docker"))) {
        files.push(docker.join("config.json"));
    }
    files
}

/// Reads `auths` of one auth file. `required`: a missing file is an error.
fn from_file(file: &Path, host: &str, required: bool) -> Result<Option<Credential>, String> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("auth file {}: {e}", file.display())),
    };
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("auth file {}: invalid JSON: {e}", file.display()))?;
    let Some(auths) = json.get("auths").and_then(|a| a.as_object()) else { return Ok(None) };
    let wanted = normalise_key(host);
    let entry = auths.iter().find(|(k, _)| normalise_key(k) == wanted).map(|(_, v)| v);
    let Some(entry) = entry else { return Ok(None) };
    if let Some(token) = entry.get("identitytoken").and_then(|t| t.as_str()).filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.to_string())));
    }
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()).filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .map_err(|e| format!("auth file {}: {host}: auth is not base64: {e}", file.display()))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| format!("auth file {}: {host}: auth is not UTF-8", file.display()))?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| format!("auth file {}: {host}: auth is not user:password", file.display()))?;
        return Ok(Some(Credential::Basic { user: user.to_string(), password: password.to_string() }));
    }
    let user = entry.get("username").and_then(|u| u.as_str());
    let password = entry.get("password").and_then(|p| p.as_str());
    Ok(match (user, password) {
        (Some(u), Some(p)) => Some(Credential::Basic { user: u.to_string(), password: p.to_string() }),
        _ => None,
    })
}

/// `https://index.docker.io/v1/` → `docker.io`; `reg:5000/path` → `reg:5000`.
fn normalise_key(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
}

/// Parses `Bearer realm="…",service="…",scope="…"` (the first challenge; quoted strings may hold commas).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect::<String>().trim().to_string();
        }
        params.insert(key, value);
    }
    Some(Challenge { scheme: scheme.to_ascii_lowercase(), params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        let b = parse_challenge("Basic realm=\"Registry Realm\"").unwrap();
        assert_eq!((b.scheme.as_str(), b.param("realm")), ("basic", Some("Registry Realm")));
    }

    #[test]
    fn auth_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.json");
        std::fs::write(
            &f,
            r#"{"auths":{"https://reg.example:5000/v2/":{"auth":"dXNlcjpwYTpzcw=="},"tok.example":{"identitytoken":"rt"},"up.example":{"username":"u","password":"p"}}}"#,
        )
        .unwrap();
        let sources = CredentialSources { explicit: None, authfile: Some(f.clone()) };
        assert_eq!(
            sources.lookup("reg.example:5000").unwrap(),
            Some(Credential::Basic { user: "user".into(), password: "pa:ss".into() })
        );
        assert_eq!(sources.lookup("tok.example").unwrap(), Some(Credential::IdentityToken("rt".into())));
        assert_eq!(
            sources.lookup("up.example").unwrap(),
            Some(Credential::Basic { user: "u".into(), password: "p".into() })
        );
        assert_eq!(sources.lookup("other.example").unwrap(), None);
        let missing = CredentialSources { explicit: None, authfile: Some(dir.path().join("nope.json")) };
        assert!(missing.lookup("x").is_err());
        std::fs::write(&f, "{").unwrap();
        assert!(sources.lookup("x").is_err());
    }

    #[test]
    fn docker_hub_keys() {
        assert_eq!(normalise_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalise_key("registry-1.docker.io"), "docker.io");
    }
}
