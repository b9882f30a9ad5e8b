//! A real registry for the remote tests (SPEC §10): Debian's `docker-registry` (CNCF distribution 2.8)
//! on 127.0.0.1 with a temp config and storage — plain HTTP, TLS with a generated CA, htpasswd Basic
//! auth, or the Bearer token flow with a token endpoint served by this harness — plus `push_layout`,
//! which uploads the committed OCI layouts through the distribution API, and `run`, which runs the
//! airlock binary with a hermetic environment and a hang guard.
//!
//! Processes: each registry runs under a small `sh` watchdog that kills it when this test process is
//! gone (even after SIGKILL), and `Drop` kills it at once. Nothing is left behind.
//!
//! Tools: `docker-registry`, `openssl` (Tls, Token), `htpasswd` from apache2-utils (Basic; Python's
//! `bcrypt` as a fallback). `.ci/run` installs them; a missing tool FAILS the test with a message.

use super::Output;
use super::hostile::{Hostile, Request, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const REGISTRY_BIN: &str = "docker-registry";
pub const USER: &str = "airlock";
pub const PASSWORD: &str = "s3cret-Passw0rd";
pub const TOKEN_SERVICE: &str = "airlock-test-registry";
pub const TOKEN_ISSUER: &str = "airlock-test-token-issuer";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP, anonymous, read-write.
    Plain,
    /// HTTPS with a server certificate for IP 127.0.0.1 from a generated CA (`cert_dir/ca.crt`).
    Tls,
    /// HTTPS with a self-signed server certificate (`CA:TRUE`, as `openssl req -x509` makes it), which
    /// `cert_dir/registry.crt` holds.
    SelfSigned,
    /// Plain HTTP, htpasswd Basic auth (`creds`).
    Basic,
    /// Plain HTTP, `auth: token`: Bearer tokens from the harness's token endpoint, which grants
    /// access only to requests that carry `creds` as Basic auth (anonymous: a token without access).
    Token,
}

/// One token request the token endpoint answered.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// Each requested scope (`repository:airlock/single:pull`).
    pub scopes: Vec<String>,
    /// Whether the credentials were right (a token with access was issued).
    pub authorized: bool,
}

struct TokenServer {
    /// Serves while the registry runs.
    _server: Hostile,
    log: Arc<Mutex<Vec<TokenRequest>>>,
}

/// A running registry; killed on drop.
pub struct Registry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// A folder holding only `ca.crt`, for airlock's `--cert-dir` (Tls).
    pub cert_dir: Option<PathBuf>,
    /// `(user, password)` (Basic, Token).
    pub creds: Option<(String, String)>,
    pub mode: Mode,
    /// The filesystem storage root (shared with the plain side-car `push_layout` uses).
    pub storage: PathBuf,
    token: Option<TokenServer>,
    /// Killed when the registry is dropped.
    _process: Process,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry in `mode` with empty storage; waits until `/v2/` answers.
    pub fn start(mode: Mode) -> Registry {
        require_tool(REGISTRY_BIN, "docker-registry");
        let tmp = tempfile::tempdir().expect("tempdir");
        let storage = tmp.path().join("storage");
        std::fs::create_dir_all(&storage).expect("mkdir storage");
        Registry::launch(mode, storage, tmp)
    }

    /// A plain registry over the storage of `other` (running at the same time; distribution keeps no
    /// state outside its filesystem storage when no blob-descriptor cache is configured).
    pub fn plain_sidecar(other: &Registry) -> Registry {
        Registry::launch(Mode::Plain, other.storage.clone(), tempfile::tempdir().expect("tempdir"))
    }

    fn launch(mode: Mode, storage: PathBuf, tmp: tempfile::TempDir) -> Registry {
        let dir = tmp.path().to_path_buf();
        let mut cert_dir = None;
        let mut creds = None;
        let mut token = None;
        let mut tls = String::new();
        let mut auth = String::new();
        match mode {
            Mode::Plain => {}
            Mode::Tls => {
                let certs = make_tls_certs(&dir);
                tls = format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    dir.join("server.crt").display(),
                    dir.join("server.key").display()
                );
                cert_dir = Some(certs);
            }
            Mode::SelfSigned => {
                let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
                let mut a = vec!["req", "-x509", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"];
                a.extend(["-days", "3", "-keyout", "server.key", "-out", "server.crt"]);
                a.extend(ec);
                openssl(&dir, &a);
                let certs = dir.join("certs");
                std::fs::create_dir_all(&certs).expect("mkdir certs");
                std::fs::copy(dir.join("server.crt"), certs.join("registry.crt")).expect("copy registry.crt");
                tls = format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    dir.join("server.crt").display(),
                    dir.join("server.key").display()
                );
                cert_dir = Some(certs);
            }
            Mode::Basic => {
                let htpasswd = dir.join("htpasswd");
                std::fs::write(&htpasswd, bcrypt_line(USER, PASSWORD)).expect("write htpasswd");
                auth = format!("auth:\n  htpasswd:\n    realm: airlock-test\n    path: {}\n", htpasswd.display());
                creds = Some((USER.to_string(), PASSWORD.to_string()));
            }
            Mode::Token => {
                let (server, log, bundle) = start_token_server(&dir);
                auth = format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                    server.addr,
                    bundle.display()
                );
                token = Some(TokenServer { _server: server, log });
                creds = Some((USER.to_string(), PASSWORD.to_string()));
            }
        }
        let log = dir.join("registry.log");
        let config = dir.join("config.yml");
        let mut last = String::new();
        for _attempt in 0..6 {
            let addr = format!("127.0.0.1:{}", free_port());
            std::fs::write(&config, registry_config(&storage, &addr, &tls, &auth)).expect("write config");
            let process = Process::spawn(&config, &log);
            match wait_ready(&process, &addr, mode, &log) {
                Ok(()) => {
                    return Registry { addr, cert_dir, creds, mode, storage, token, _process: process, log, _tmp: tmp };
                }
                Err(text) => {
                    drop(process);
                    if text.contains("address already in use") {
                        last = text;
                        continue; // another process took the port between our probe and the bind
                    }
                    panic!("docker-registry ({mode:?}) did not start:\n{text}");
                }
            }
        }
        panic!("docker-registry ({mode:?}) could not bind a free port:\n{last}");
    }

    /// `user:password` for `--creds`.
    /// Kills the registry process now (SIGKILL), keeping its storage: an outage in the middle of a run.
    pub fn kill(&self) {
        let _ = Command::new("kill").args(["-9", &self._process.pid.to_string()]).status();
    }

    pub fn creds_arg(&self) -> String {
        let (u, p) = self.creds.as_ref().expect("this registry has no credentials");
        format!("{u}:{p}")
    }

    /// The registry's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The token requests the token endpoint answered, in order (Token mode).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        let t = self.token.as_ref().expect("not a Token registry");
        t.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn clear_token_requests(&self) {
        let t = self.token.as_ref().expect("not a Token registry");
        t.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

fn registry_config(storage: &Path, addr: &str, tls: &str, auth: &str) -> String {
    format!(
        "version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: false
http:
  addr: {addr}
  secret: airlock-test-http-secret
  headers:
    X-Content-Type-Options: [nosniff]
{tls}{auth}health:
  storagedriver:
    enabled: false
",
        storage = storage.display()
    )
}

/// A port that was free a moment ago (the registry binds it; `launch` retries on a race).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("addr").port()
}

fn wait_ready(p: &Process, addr: &str, mode: Mode, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let read_log = || std::fs::read_to_string(log).unwrap_or_default();
    while Instant::now() < deadline {
        if !p.alive() {
            return Err(read_log());
        }
        let up = match mode {
            // distribution answers `/v2/` with its API-version header (200 anonymous, 401 with auth)
            Mode::Plain | Mode::Basic | Mode::Token => http(addr, "GET", "/v2/", &[], b"").is_ok_and(|r| {
                (r.status == 200 || r.status == 401) && r.header("docker-distribution-api-version").is_some()
            }),
            Mode::Tls | Mode::SelfSigned => {
                TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_millis(200)).is_ok()
            }
        };
        if up {
            // a port race shows as our process exiting right after someone else answered
            std::thread::sleep(Duration::from_millis(150));
            if p.alive() {
                return Ok(());
            }
            return Err(read_log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no answer on {addr} within 20 s\n{}", read_log()))
}

/// `docker-registry serve CONFIG` under a watchdog shell that kills it when the test process exits.
struct Process {
    watchdog: Child,
    pid: u32,
}

impl Process {
    fn spawn(config: &Path, log: &Path) -> Process {
        const SCRIPT: &str = r#"P=$1; L=$2; shift 2
"$@" >"$L" 2>&1 &
C=$!
echo "$C"
while kill -0 "$P" 2>/dev/null && [ -d "/proc/$C" ] && ! grep -q '^State:.*Z' "/proc/$C/status" 2>/dev/null; do sleep 0.5; done
kill -9 "$C" 2>/dev/null
wait "$C" 2>/dev/null
exit 0"#;
        let mut watchdog = Command::new("sh")
            .args(["-c", SCRIPT, "airlock-test-registry-watchdog"])
            .arg(std::process::id().to_string())
            .arg(log)
            .arg(REGISTRY_BIN)
            .arg("serve")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start sh for {REGISTRY_BIN}: {e}"));
        let mut line = String::new();
        BufReader::new(watchdog.stdout.take().expect("stdout")).read_line(&mut line).expect("read pid");
        let pid = line.trim().parse().unwrap_or_else(|_| panic!("watchdog did not report a pid: {line:?}"));
        Process { watchdog, pid }
    }

    fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .is_ok_and(|s| !s.lines().any(|l| l.starts_with("State:") && l.contains('Z')))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // the registry is the watchdog's child: it is only reaped (and its pid reusable) after the
        // watchdog notices, so while the watchdog runs, the pid is still ours
        if matches!(self.watchdog.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-9", &self.pid.to_string()]).status();
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until && matches!(self.watchdog.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.watchdog.kill();
        }
        let _ = self.watchdog.wait();
    }
}

/// Panics with an install hint unless `tool` is on PATH (never skip: the remote tests must run).
pub fn require_tool(tool: &str, package: &str) {
    if let Some(message) = missing_tool_message(tool, package) {
        panic!("{message}");
    }
}

/// The failure message for a missing `tool`, or None when it is on PATH.
pub fn missing_tool_message(tool: &str, package: &str) -> Option<String> {
    let found =
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()));
    (!found).then(|| {
        format!(
            "`{tool}` is not installed, and the remote-registry tests need it (SPEC §10): \
             `apt-get install -y {package}` (`.ci/run` does this)"
        )
    })
}

fn openssl(dir: &Path, args: &[&str]) {
    require_tool("openssl", "openssl");
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a server certificate for IP 127.0.0.1 in `dir`; returns a folder holding only `ca.crt`.
fn make_tls_certs(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("ca.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3_ca\n[dn]\nCN = airlock test CA\n\
         [v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n",
    )
    .expect("ca.cnf");
    std::fs::write(dir.join("server.cnf"), "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = 127.0.0.1\n")
        .expect("server.cnf");
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
    )
    .expect("server.ext");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut a = vec!["req", "-x509", "-config", "ca.cnf", "-days", "3", "-keyout", "ca.key", "-out", "ca.crt"];
    a.extend(ec);
    openssl(dir, &a);
    let mut a = vec!["req", "-new", "-config", "server.cnf", "-keyout", "server.key", "-out", "server.csr"];
    a.extend(ec);
    openssl(dir, &a);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).expect("mkdir certs");
    std::fs::copy(dir.join("ca.crt"), certs.join("ca.crt")).expect("copy ca.crt");
    certs
}

/// An htpasswd line with a bcrypt hash (distribution accepts nothing else).
fn bcrypt_line(user: &str, password: &str) -> String {
    let has = |t: &str| {
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(t).is_file()))
    };
    if has("htpasswd") {
        let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("run htpasswd");
        assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
        return String::from_utf8(out.stdout).expect("utf-8").trim().to_string() + "\n";
    }
    let py = Command::new("python3")
        .args(["-c", "import bcrypt,sys; print(sys.argv[1] + ':' + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt(5)).decode())", user, password])
        .output();
    match py {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).expect("utf-8"),
        _ => panic!(
            "no bcrypt tool for the htpasswd file: `apt-get install -y apache2-utils` (htpasswd; `.ci/run` does this)"
        ),
    }
}

// ---------------------------------------------------------------------------------------------------
// The token endpoint (Mode::Token)

/// Generates the signing key and certificate, starts the endpoint; returns it, its request log and
/// the `rootcertbundle` path.
fn start_token_server(dir: &Path) -> (Hostile, Arc<Mutex<Vec<TokenRequest>>>, PathBuf) {
    std::fs::write(
        dir.join("token.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3\n[dn]\nCN = airlock test token signer\n\
         [v3]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nsubjectKeyIdentifier = hash\n",
    )
    .expect("token.cnf");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-config",
            "token.cnf",
            "-days",
            "3",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.crt",
        ],
    );
    openssl(dir, &["pkcs8", "-topk8", "-nocrypt", "-in", "token.key", "-outform", "DER", "-out", "token.p8"]);
    openssl(dir, &["x509", "-in", "token.crt", "-outform", "DER", "-out", "token.der"]);
    let pkcs8 = std::fs::read(dir.join("token.p8")).expect("token.p8");
    let key =
        aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .expect("token signing key");
    use base64::Engine as _;
    let x5c = base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join("token.der")).expect("der"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let log = log.clone();
        let counter = std::sync::atomic::AtomicU64::new(0);
        Hostile::start(move |req: &Request| {
            let jti = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            token_endpoint(req, &key, &x5c, jti, &log)
        })
    };
    (server, log, dir.join("token.crt"))
}

fn token_endpoint(
    req: &Request,
    key: &aws_lc_rs::signature::EcdsaKeyPair,
    x5c: &str,
    jti: u64,
    log: &Mutex<Vec<TokenRequest>>,
) -> Response {
    use base64::Engine as _;
    if req.path() != "/token" {
        return Response::error(404, "NOT_FOUND", "no such endpoint");
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    // GET ?service=&scope= with Basic auth (docker), or the OAuth2 POST form (grant_type=password)
    let (scopes, user, password) = if req.method == "POST" {
        let form = String::from_utf8_lossy(&req.body).into_owned();
        let get = |k: &str| super::hostile::form_values(&form, k).into_iter().next();
        let scopes: Vec<String> =
            super::hostile::form_values(&form, "scope").iter().flat_map(|s| s.split(' ')).map(str::to_string).collect();
        (scopes, get("username"), get("password"))
    } else {
        let scopes: Vec<String> = req
            .query("scope")
            .iter()
            .flat_map(|s| s.split(' '))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let basic = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic ")))
            .and_then(|b| b64.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok());
        match basic.as_deref().and_then(|s| s.split_once(':')) {
            Some((u, p)) => (scopes, Some(u.to_string()), Some(p.to_string())),
            None => (scopes, None, None),
        }
    };
    let authorized = user.as_deref() == Some(USER) && password.as_deref() == Some(PASSWORD);
    log.lock().unwrap_or_else(|p| p.into_inner()).push(TokenRequest { scopes: scopes.clone(), authorized });
    if user.is_some() && !authorized {
        return Response::error(401, "UNAUTHORIZED", "wrong user name or password")
            .header("WWW-Authenticate", "Basic realm=\"airlock-test-token\"");
    }
    let access: Vec<Value> = if authorized {
        scopes
            .iter()
            .filter_map(|s| {
                let (rest, actions) = s.rsplit_once(':')?;
                let (kind, name) = rest.split_once(':')?;
                let actions: Vec<&str> = actions.split(',').filter(|a| *a == "pull" || *a == "push").collect();
                Some(json!({"type": kind, "name": name, "actions": actions}))
            })
            .collect()
    } else {
        Vec::new() // anonymous: a valid token that grants nothing
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let header = json!({"alg": "ES256", "typ": "JWT", "x5c": [x5c]});
    let claims = json!({
        "iss": TOKEN_ISSUER,
        "sub": user.clone().unwrap_or_default(),
        "aud": TOKEN_SERVICE,
        "exp": now + 900,
        "nbf": now - 60,
        "iat": now - 60,
        "jti": format!("airlock-test-{jti}"),
        "access": access,
    });
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!("{}.{}", url.encode(header.to_string()), url.encode(claims.to_string()));
    let sig = key.sign(&aws_lc_rs::rand::SystemRandom::new(), signing_input.as_bytes()).expect("sign token");
    let token = format!("{signing_input}.{}", url.encode(sig.as_ref()));
    Response::json(200, &json!({"token": token, "access_token": token, "expires_in": 900}))
}

// ---------------------------------------------------------------------------------------------------
// A tiny blocking HTTP/1.1 client (plain HTTP, one request per connection)

pub struct HttpResponse {
    pub status: u16,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn http(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr.parse().map_err(std::io::Error::other)?, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
    } else if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        body = super::hostile::read_chunked(&mut r)?;
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(HttpResponse { status, headers, body })
}

// ---------------------------------------------------------------------------------------------------
// Pushing layouts

/// `registry.airlock.test/airlock/single:v1` → (`registry.airlock.test/airlock/single`, `v1`).
pub fn split_ref(name: &str) -> (&str, &str) {
    let slash = name.rfind('/').unwrap_or(0);
    let colon = name[slash..].find(':').map(|i| i + slash).unwrap_or_else(|| panic!("{name:?} has no tag"));
    (&name[..colon], &name[colon + 1..])
}

/// Pushes every `index.json` entry of the OCI layout `layout` (each with an
/// `org.opencontainers.image.ref.name`): blobs (monolithic upload, skipped when `HEAD` finds them),
/// manifests bottom-up by digest with `Content-Type` = the descriptor's media type, then the tag.
/// `rename` maps the stored repository (`registry.airlock.test/airlock/single`) to the pushed one
/// (`airlock/single`); `.sig` and `sha256-<hex>` tags keep their tag in the renamed repository.
///
/// Damaged fixtures are mirrored faithfully: a blob the layout lacks is borrowed from another
/// committed layout (so the manifest push verifies), then unlinked from the repository (`DELETE`),
/// so the registry answers 404 as the layout does; a blob whose bytes do not match its name is
/// pushed genuine, its damaged bytes are uploaded under their own digest, and this repository's
/// link for the named digest is pointed at them (distribution serves a repository's blob through its
/// link file), so only this repository serves the damaged bytes, as the layout does.
///
/// Registries with TLS or auth are pushed to through a plain side-car on the same storage.
pub fn push_layout(reg: &Registry, layout: &Path, rename: impl Fn(&str) -> String) {
    push_layouts(reg, layout, 1, |_, repo| rename(repo));
}

/// [`push_layout`] `copies` times, copy `i` renamed by `rename(i, repo)`, through one plain sidecar
/// (starting a registry costs more than pushing a small layout).
pub fn push_layouts(reg: &Registry, layout: &Path, copies: usize, rename: impl Fn(usize, &str) -> String) {
    let sidecar = (reg.mode != Mode::Plain).then(|| Registry::plain_sidecar(reg));
    let addr = sidecar.as_ref().map_or(reg.addr.clone(), |s| s.addr.clone());
    let mut p = Pusher {
        addr,
        layout: layout.to_path_buf(),
        storage: reg.storage.clone(),
        done: HashSet::new(),
        missing: Vec::new(),
        damaged: Vec::new(),
    };
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("read index.json"))
        .expect("index.json is JSON");
    for i in 0..copies {
        for d in index["manifests"].as_array().expect("manifests") {
            let Some(name) = d["annotations"]["org.opencontainers.image.ref.name"].as_str() else { continue };
            let (repo, tag) = split_ref(name);
            let repo = rename(i, repo);
            let media = d["mediaType"].as_str().expect("mediaType");
            let bytes = p.manifest_tree(&repo, d);
            p.put_manifest(&repo, tag, media, &bytes);
        }
    }
    p.finish();
}

struct Pusher {
    addr: String,
    layout: PathBuf,
    storage: PathBuf,
    /// (repository, digest) already in place
    done: HashSet<(String, String)>,
    /// (repository, digest) to unlink after the manifests are in
    missing: Vec<(String, String)>,
    /// (repository, named digest, digest of the damaged bytes)
    damaged: Vec<(String, String, String)>,
}

impl Pusher {
    fn layout_blob(&self, digest: &str) -> Option<Vec<u8>> {
        let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("{digest}: not sha256"));
        std::fs::read(self.layout.join("blobs/sha256").join(hex)).ok()
    }

    /// Pushes the manifest `d` names and everything below it; returns its bytes.
    fn manifest_tree(&mut self, repo: &str, d: &Value) -> Vec<u8> {
        let digest = d["digest"].as_str().expect("digest").to_string();
        let media = d["mediaType"].as_str().expect("mediaType").to_string();
        let bytes =
            self.layout_blob(&digest).unwrap_or_else(|| panic!("{}: manifest {digest} missing", self.layout.display()));
        assert_eq!(
            format!("sha256:{}", super::sha256_hex(&bytes)),
            digest,
            "{}: manifest {digest} damaged",
            self.layout.display()
        );
        if self.done.contains(&(repo.to_string(), digest.clone())) {
            return bytes;
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("manifest {digest}: {e}"));
        if let Some(children) = v["manifests"].as_array() {
            for c in children {
                let child = self.manifest_tree(repo, c);
                self.put_manifest(
                    repo,
                    c["digest"].as_str().expect("digest"),
                    c["mediaType"].as_str().expect("mt"),
                    &child,
                );
            }
        } else {
            let mut blobs: Vec<&Value> = v["layers"].as_array().map(|l| l.iter().collect()).unwrap_or_default();
            if v["config"].is_object() {
                blobs.insert(0, &v["config"]);
            }
            for b in blobs {
                if b["urls"].is_array() {
                    continue; // foreign layer: never pushed
                }
                self.blob(repo, b["digest"].as_str().expect("blob digest"));
            }
        }
        self.put_manifest(repo, &digest, &media, &bytes);
        bytes
    }

    fn blob(&mut self, repo: &str, digest: &str) {
        if !self.done.insert((repo.to_string(), digest.to_string())) {
            return;
        }
        match self.layout_blob(digest) {
            Some(bytes) if format!("sha256:{}", super::sha256_hex(&bytes)) == digest => {
                self.upload(repo, digest, &bytes)
            }
            found => {
                let genuine = borrow_blob(digest).unwrap_or_else(|| {
                    panic!(
                        "{}: blob {digest} is missing or damaged and no committed layout has it",
                        self.layout.display()
                    )
                });
                self.upload(repo, digest, &genuine);
                match found {
                    None => self.missing.push((repo.to_string(), digest.to_string())),
                    Some(damaged) => {
                        let actual = format!("sha256:{}", super::sha256_hex(&damaged));
                        self.upload(repo, &actual, &damaged);
                        self.damaged.push((repo.to_string(), digest.to_string(), actual));
                    }
                }
            }
        }
    }

    fn upload(&self, repo: &str, digest: &str, bytes: &[u8]) {
        let head = http(&self.addr, "HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], b"").expect("HEAD blob");
        if head.status == 200 {
            return;
        }
        let start = http(&self.addr, "POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"").expect("POST upload");
        assert_eq!(start.status, 202, "start upload of {digest} to {repo}: {}", start.text());
        let location = start.header("location").expect("upload Location");
        let path = match location.find("://") {
            Some(i) => &location[location[i + 3..].find('/').map_or(location.len(), |j| i + 3 + j)..],
            None => location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let target = format!("{path}{sep}digest={}", digest.replace(':', "%3A"));
        let put =
            http(&self.addr, "PUT", &target, &[("Content-Type", "application/octet-stream")], bytes).expect("PUT blob");
        assert_eq!(put.status, 201, "upload {digest} to {repo}: {}", put.text());
    }

    fn put_manifest(&mut self, repo: &str, reference: &str, media: &str, bytes: &[u8]) {
        if reference.starts_with("sha256:") && !self.done.insert((repo.to_string(), reference.to_string())) {
            return;
        }
        let r =
            http(&self.addr, "PUT", &format!("/v2/{repo}/manifests/{reference}"), &[("Content-Type", media)], bytes)
                .expect("PUT manifest");
        assert_eq!(r.status, 201, "PUT {repo}:{reference} ({media}): {}", r.text());
    }

    fn finish(&mut self) {
        for (repo, digest) in &self.missing {
            let r = http(&self.addr, "DELETE", &format!("/v2/{repo}/blobs/{digest}"), &[], b"").expect("DELETE blob");
            assert_eq!(r.status, 202, "unlink {digest} from {repo}: {}", r.text());
        }
        for (repo, named, actual) in &self.damaged {
            let hex = named.trim_start_matches("sha256:");
            let link = self
                .storage
                .join("docker/registry/v2/repositories")
                .join(repo)
                .join("_layers/sha256")
                .join(hex)
                .join("link");
            assert!(link.is_file(), "{}: no link file", link.display());
            std::fs::write(&link, actual).expect("rewrite link");
        }
    }
}

/// The genuine bytes of `digest` from any committed layout.
fn borrow_blob(digest: &str) -> Option<Vec<u8>> {
    let hex = digest.strip_prefix("sha256:")?;
    let layouts = super::root().join("testdata/layouts");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&layouts).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    dirs.into_iter().find_map(|d| {
        let bytes = std::fs::read(d.join("blobs/sha256").join(hex)).ok()?;
        (super::sha256_hex(&bytes) == hex).then_some(bytes)
    })
}

/// Reads a JSON report airlock wrote.
pub fn read_report(path: &Path, out: &Output) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("report {}: {e}\n{}", path.display(), out.describe()));
    let v =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("report {}: {e}\n{}", path.display(), out.describe()));
    super::schema::check_report(&v);
    v
}

/// Writes a containers/docker auth file `{"auths":{HOST:{"auth":base64(user:pass)}}}`.
pub fn write_auth_file(path: &Path, host: &str, user: &str, password: &str) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, json!({"auths": {host: {"auth": auth}}}).to_string()).expect("write auth file");
}

/// The keys of `v` that are objects, as a map (small helper for report assertions).
pub fn by_line(report: &Value) -> HashMap<String, Value> {
    report["results"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["line"].as_str().map(|l| (l.to_string(), r.clone()))).collect())
        .unwrap_or_default()
}
