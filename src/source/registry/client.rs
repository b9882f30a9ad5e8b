//! One registry host over HTTP(S), synchronous (ureq) so rayon workers call it directly: the Bearer
//! token dance with a cache per scope, Basic auth, bounded retries of 429/5xx honouring `Retry-After`,
//! redirects that never carry credentials to another host, size caps, and the per-image deadline.

use super::auth::{Challenge, Credential, CredentialSources, parse_challenge};
use super::trace::{Exchange, Trace};
use crate::source::SourceError;
use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ureq::Agent;

/// Error bodies and tokens are read up to this size (SPEC §8).
const SMALL_LIMIT: u64 = 1 << 20;
const MAX_RETRIES: u32 = 3;
const MAX_REDIRECTS: u32 = 5;
/// Without a per-image deadline, one request may take this long.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// TLS and credentials, shared by every host.
#[derive(Clone)]
pub struct HttpConfig {
    pub tls_verify: bool,
    /// The system roots.
    pub system_roots: Arc<Vec<CertificateDer<'static>>>,
    /// `--cert-dir` certificates: trusted for every host, each as itself too.
    pub cert_dir: Arc<Vec<CertificateDer<'static>>>,
    pub credentials: CredentialSources,
    /// `--debug`: where each request is traced, credentials redacted.
    pub trace: Option<Trace>,
}

/// A response whose body is either read (bounded) or handed out as a stream.
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    /// The `rel="next"` target of a `Link` header (pagination), as a path under the host.
    pub next: Option<String>,
    /// `Location` (an upload's next URL), resolved against the request's URL.
    pub location: Option<String>,
    /// The registry answered a manifest push with `OCI-Subject`: it keeps the referrers of the subject.
    pub subject: bool,
    pub body: Body,
}

/// The HTTP methods of the distribution API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One request to a host: what, where, for which scope, with which body.
pub struct Call<'a> {
    pub method: Method,
    /// A path under the host (`/v2/…`), or a URL the host gave (an upload's `Location`), which must be on
    /// the host itself: credentials never go elsewhere.
    pub target: &'a str,
    pub accept: &'a str,
    /// `(name, value)` headers besides `Accept` and `Authorization` (`Content-Type`, `Content-Range`).
    pub headers: Vec<(&'static str, String)>,
    /// The request body; sent (with its length) for `POST`, `PUT` and `PATCH`.
    pub body: &'a [u8],
    /// The token scope (`repository:NAME:pull`, `repository:NAME:pull,push`).
    pub scope: String,
    pub want: Want,
}

impl<'a> Call<'a> {
    /// A `GET`/`HEAD` of `path` for `repo`'s pull scope.
    pub fn pull(head: bool, path: &'a str, accept: &'a str, repo: &str, want: Want) -> Call<'a> {
        Call {
            method: if head { Method::Head } else { Method::Get },
            target: path,
            accept,
            headers: Vec::new(),
            body: &[],
            scope: format!("repository:{repo}:pull"),
            want,
        }
    }
}

pub enum Body {
    Bytes(Vec<u8>),
    Stream(Box<dyn Read + Send>),
    None,
}

/// How a request wants its body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// At most this many bytes; more is an error.
    Bytes(u64),
    Stream,
    Head,
}

/// One registry host (`host:port`).
pub struct Host {
    pub name: String,
    agent: Agent,
    insecure_agent: Agent,
    config: HttpConfig,
    /// `https://host` or, after a fallback allowed by `--tls-verify=false`, `http://host`.
    base: Mutex<String>,
    tokens: Mutex<HashMap<String, String>>,
    /// The host asked for Basic auth once: send it up front from then on.
    basic: Mutex<bool>,
    credential: Mutex<Option<Option<Credential>>>,
    /// Whether the host answers the referrers API, once learnt (SPEC §5.2: asked once per registry).
    pub referrers_api: Mutex<Option<bool>>,
}

impl Host {
    pub fn new(name: &str, config: HttpConfig) -> Host {
        let api = if name == "docker.io" { "registry-1.docker.io" } else { name };
        let agent = super::tls::verifying_agent(name, &config);
        Host {
            name: name.to_string(),
            agent,
            insecure_agent: super::tls::insecure_agent(),
            base: Mutex::new(format!("https://{api}")),
            config,
            tokens: Mutex::new(HashMap::new()),
            basic: Mutex::new(false),
            credential: Mutex::new(None),
            referrers_api: Mutex::new(None),
        }
    }

    fn credential(&self) -> Result<Option<Credential>, SourceError> {
        let mut cached = lock(&self.credential);
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let c = self.config.credentials.lookup(&self.name).map_err(SourceError::Io)?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// Reaches the host once (`GET /v2/`, no credentials): any HTTP answer means it is there. A host that
    /// cannot be reached gets one message naming the cause and the fix (SPEC §5.2).
    pub fn ping(&self) -> Result<(), String> {
        loop {
            let base = lock(&self.base).clone();
            let call = Call::pull(false, "/v2/", "application/json", "", Want::Bytes(SMALL_LIMIT));
            match self.send_following(&call, &format!("{base}/v2/"), None) {
                Ok(_) => return Ok(()),
                Err(e) if !self.config.tls_verify && base.starts_with("https://") && e.is_transport() => {
                    *lock(&self.base) = base.replacen("https://", "http://", 1);
                }
                Err(e) => return Err(super::errors::unreachable(&self.name, &base, e, self.config.tls_verify)),
            }
        }
    }

    /// `GET`/`HEAD` `path` (under `/v2/`) for `repo`'s pull scope.
    pub fn request(
        &self,
        head: bool,
        path: &str,
        accept: &str,
        repo: &str,
        want: Want,
    ) -> Result<Response, SourceError> {
        self.call(&Call::pull(head, path, accept, repo, want))
    }

    /// Sends `call`: the token dance for its scope, retries of busy answers, plain HTTP after a TLS
    /// failure when `--tls-verify=false` allows it.
    pub fn call(&self, call: &Call) -> Result<Response, SourceError> {
        let mut scope = call.scope.clone();
        let mut auth_retried = false;
        let mut retries = 0;
        loop {
            let base = lock(&self.base).clone();
            let url = self.url_of(&base, call.target)?;
            let authorization = self.authorization(&scope)?;
            let resp = match self.send_following(call, &url, authorization.as_deref()) {
                Ok(r) => r,
                Err(e) if !self.config.tls_verify && base.starts_with("https://") && e.is_transport() => {
                    // --tls-verify=false also allows plain HTTP (containers-image behaviour).
                    *lock(&self.base) = base.replacen("https://", "http://", 1);
                    continue;
                }
                Err(e) => return Err(e.into_source(&url)),
            };
            if resp.status == 401 && resp.elsewhere {
                // A redirect target asking for credentials gets none of the origin's (SPEC §5.3).
                return Err(SourceError::Io(format!(
                    "{url}: redirected to {} which asks for credentials; the credentials of {} are not sent there",
                    resp.answered_by, self.name
                )));
            }
            if resp.status == 401 && self.authorization(&scope)? != authorization {
                // Another job learnt the challenge after this request left: send it again with what is
                // known now (concurrency never changes a result, SPEC §5.2).
                if !auth_retried {
                    auth_retried = true;
                    continue;
                }
            }
            match resp.status {
                401 if !auth_retried => {
                    auth_retried = true;
                    self.learn_challenge(&resp, &mut scope, &url)?;
                    continue;
                }
                401 => {
                    // One more token for the scope an `insufficient_scope` answer names.
                    if let Some(c) = resp.challenge.as_ref().filter(|c| c.param("error") == Some("insufficient_scope"))
                        && let Some(s) = c.param("scope").filter(|s| *s != scope && retries == 0)
                    {
                        scope = s.to_string();
                        self.fetch_token(c, &scope)?;
                        retries += 1;
                        continue;
                    }
                    return Err(super::errors::status_error(&url, &resp.inner));
                }
                429 | 502 | 503 | 504 if retries < MAX_RETRIES => {
                    retries += 1;
                    backoff(&resp, retries, &url)?;
                    continue;
                }
                _ => return Ok(resp.inner),
            }
        }
    }

    /// The first 401 of a request: learn its challenge — a Bearer token for the scope it names, or Basic
    /// when there are credentials (whoever learnt it first) — so the request can be sent again.
    fn learn_challenge(&self, resp: &Answer, scope: &mut String, url: &str) -> Result<(), SourceError> {
        match resp.challenge.as_ref() {
            Some(c) if c.scheme == "bearer" => {
                if let Some(s) = c.param("scope").filter(|s| !s.is_empty()) {
                    *scope = s.to_string();
                }
                self.fetch_token(c, scope)
            }
            Some(c) if c.scheme == "basic" && self.credential()?.is_some() => {
                *lock(&self.basic) = true;
                Ok(())
            }
            _ => Err(super::errors::status_error(url, &resp.inner)),
        }
    }

    fn authorization(&self, scope: &str) -> Result<Option<String>, SourceError> {
        if let Some(token) = lock(&self.tokens).get(scope) {
            return Ok(Some(format!("Bearer {token}")));
        }
        let basic = *lock(&self.basic);
        if basic && let Some(Credential::Basic { user, password }) = self.credential()? {
            return Ok(Some(basic_header(&user, &password)));
        }
        Ok(None)
    }

    /// The token flow: GET the realm with service and scope (Basic credentials when known), or POST a
    /// refresh token (docker `identitytoken`).
    fn fetch_token(&self, c: &Challenge, scope: &str) -> Result<(), SourceError> {
        let realm = c
            .param("realm")
            .ok_or_else(|| SourceError::Io(format!("{}: Bearer challenge without realm", self.name)))?;
        if !(realm.starts_with("https://") || realm.starts_with("http://")) {
            return Err(SourceError::Io(format!("{}: token realm {realm:?} is not an http(s) URL", self.name)));
        }
        let service = c.param("service").unwrap_or_default();
        let agent = if self.config.tls_verify { &self.agent } else { &self.insecure_agent };
        let timeout = request_timeout();
        let credential = self.credential()?;
        let (method, scheme) = match &credential {
            Some(Credential::IdentityToken(_)) => ("POST", Some("refresh_token")),
            Some(Credential::Basic { .. }) => ("GET", Some("Basic")),
            None => ("GET", None),
        };
        let shown = format!("{realm}?service={service}&scope={scope}");
        let exchange = Exchange::start(self.config.trace.as_ref(), method, &shown, scheme);
        let result = match credential {
            Some(Credential::IdentityToken(refresh)) => {
                agent.post(realm).config().timeout_global(Some(timeout)).build().send_form([
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                    ("service", service),
                    ("scope", scope),
                    ("client_id", "airlock"),
                ])
            }
            credential => {
                let mut req = agent.get(realm).query("service", service).query("scope", scope);
                if let Some(Credential::Basic { user, password }) = credential {
                    req = req.header("Authorization", &basic_header(&user, &password));
                }
                req.config().timeout_global(Some(timeout)).build().call()
            }
        };
        let mut resp = result.map_err(|e| {
            exchange.done(&e.to_string());
            SourceError::Io(format!("token request to {realm}: {e}"))
        })?;
        let status = resp.status().as_u16();
        exchange.done(&format!("HTTP {status}"));
        let body = resp.body_mut().with_config().limit(SMALL_LIMIT).read_to_vec();
        let body = body.map_err(|e| SourceError::Io(format!("token response from {realm}: {e}")))?;
        if status != 200 {
            return Err(SourceError::Io(format!(
                "token request to {realm} for {scope}: HTTP {status} (authentication required: check --creds / --authfile)"
            )));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| SourceError::Io(format!("token response from {realm}: {e}")))?;
        let token = json
            .get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SourceError::Io(format!("token response from {realm} has no token")))?;
        lock(&self.tokens).insert(scope.to_string(), token.to_string());
        Ok(())
    }

    /// The URL of a call's target: a path under `base`, or a URL of this host (never another one).
    fn url_of(&self, base: &str, target: &str) -> Result<String, SourceError> {
        if !target.contains("://") {
            return Ok(format!("{base}{target}"));
        }
        let host_of = |u: &str| authority(u).split_once("://").map(|(_, h)| h.to_string()).unwrap_or_default();
        if host_of(target) != host_of(base) {
            return Err(SourceError::Io(format!(
                "{}: the registry sent an upload to {} (another host); airlock sends nothing there",
                self.name,
                super::trace::redact_url(target)
            )));
        }
        Ok(target.to_string())
    }

    /// Sends one request; `GET` and `HEAD` follow redirects, dropping credentials when the host changes.
    fn send_following(&self, call: &Call, url: &str, authorization: Option<&str>) -> Result<Answer, Transport> {
        let mut url = url.to_string();
        let origin = authority(&url).to_string();
        let head = call.method == Method::Head;
        let follows = matches!(call.method, Method::Get | Method::Head);
        for _ in 0..=MAX_REDIRECTS {
            let auth = authorization.filter(|_| authority(&url) == origin);
            let agent = if self.config.tls_verify { &self.agent } else { &self.insecure_agent };
            let exchange = Exchange::start(self.config.trace.as_ref(), call.method.name(), &url, auth);
            let mut builder =
                ureq::http::Request::builder().method(call.method.name()).uri(&url).header("Accept", call.accept);
            if let Some(a) = auth {
                builder = builder.header("Authorization", a);
            }
            for (name, value) in &call.headers {
                builder = builder.header(*name, value);
            }
            let timeout = Some(request_timeout());
            let built = if matches!(call.method, Method::Get | Method::Head | Method::Delete) {
                builder.body(()).map(|r| agent.run(agent.configure_request(r).timeout_global(timeout).build()))
            } else {
                builder.body(call.body).map(|r| agent.run(agent.configure_request(r).timeout_global(timeout).build()))
            };
            let result = built.map_err(|e| Transport::Other(format!("{url}: {e}")))?;
            let mut resp = result.map_err(|e| {
                exchange.done(&e.to_string());
                Transport::from(e)
            })?;
            let status = resp.status().as_u16();
            exchange.done(&format!("HTTP {status}"));
            let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            if follows && (300..400).contains(&status) && status != 304 {
                let location = header("location").ok_or(Transport::Other(format!("HTTP {status} without Location")))?;
                url = resolve(&url, &location);
                continue;
            }
            let content_type =
                header("content-type").map(|t| t.split(';').next().unwrap_or_default().trim().to_string());
            let content_length = header("content-length").and_then(|l| l.parse().ok());
            let challenge = header("www-authenticate").and_then(|h| parse_challenge(&h));
            let next = header("link").and_then(|l| next_link(&l)).map(|n| match n.strip_prefix(authority(&url)) {
                Some(path) => path.to_string(),
                None => n,
            });
            let location = header("location").map(|l| resolve(&url, &l));
            let subject = header("oci-subject").is_some();
            let retry_after = header("retry-after").and_then(|s| s.trim().parse::<u64>().ok()).map(Duration::from_secs);
            let ok = (200..300).contains(&status);
            let body = if head {
                Body::None
            } else if ok && call.want == Want::Stream {
                Body::Stream(Box::new(resp.into_body().into_reader()))
            } else {
                let limit = match call.want {
                    Want::Bytes(n) if ok => n,
                    _ => SMALL_LIMIT,
                };
                match resp.body_mut().with_config().limit(limit).read_to_vec() {
                    Ok(b) => Body::Bytes(b),
                    Err(ureq::Error::BodyExceedsLimit(_)) if ok => {
                        return Err(Transport::TooLarge(format!("{url}: response larger than the {limit}-byte limit")));
                    }
                    Err(ureq::Error::BodyExceedsLimit(_)) => Body::None,
                    Err(e) => return Err(Transport::from(e)),
                }
            };
            return Ok(Answer {
                status,
                elsewhere: authority(&url) != origin,
                answered_by: authority(&url).to_string(),
                challenge,
                retry_after,
                inner: Response { status, content_type, content_length, next, location, subject, body },
            });
        }
        Err(Transport::Other(format!("more than {MAX_REDIRECTS} redirects from {url}")))
    }
}

struct Answer {
    status: u16,
    /// The response came from another host than the request's (after a redirect).
    elsewhere: bool,
    /// `scheme://host:port` that answered.
    answered_by: String,
    challenge: Option<Challenge>,
    retry_after: Option<Duration>,
    inner: Response,
}

/// A failure below HTTP (connection, TLS, timeout) or a protocol limit.
pub(super) enum Transport {
    Net(ureq::Error),
    Other(String),
    /// A successful answer over the size limit: present but unusable (SPEC §8), never a network error.
    TooLarge(String),
}

impl From<ureq::Error> for Transport {
    fn from(e: ureq::Error) -> Transport {
        Transport::Net(e)
    }
}

impl Transport {
    /// Connection-level failures (where plain HTTP may be tried instead).
    fn is_transport(&self) -> bool {
        matches!(
            self,
            Transport::Net(
                ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Io(_) | ureq::Error::Protocol(_)
            )
        )
    }

    fn into_source(self, url: &str) -> SourceError {
        match self {
            Transport::Net(ureq::Error::Timeout(t)) => SourceError::Io(format!("{url}: timed out ({t}; --timeout)")),
            Transport::Net(e @ (ureq::Error::Tls(_) | ureq::Error::Rustls(_))) => SourceError::Io(format!(
                "{url}: {e} (TLS: trust the registry's CA with --cert-dir DIR, or use --tls-verify=false)"
            )),
            Transport::Net(e) => SourceError::Io(format!("{url}: {e}")),
            Transport::Other(m) => SourceError::Io(m),
            Transport::TooLarge(m) => SourceError::Malformed(m),
        }
    }
}

/// Waits before a retry of a busy answer: `Retry-After`, or 1 s, 2 s, 4 s …, at most 10 s; never past
/// the image's `--timeout` (then the answer is the error).
fn backoff(resp: &Answer, retries: u32, url: &str) -> Result<(), SourceError> {
    let wait = resp.retry_after.unwrap_or(Duration::from_millis(500 << retries)).min(Duration::from_secs(10));
    if crate::deadline::remaining().is_some_and(|left| left <= wait) {
        return Err(super::errors::status_error(url, &resp.inner));
    }
    std::thread::sleep(wait);
    Ok(())
}

/// `<…>; rel="next"` of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

fn basic_header(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn request_timeout() -> Duration {
    crate::deadline::remaining().map_or(DEFAULT_TIMEOUT, |left| left.max(Duration::from_millis(1)))
}

/// `scheme://host:port` of a URL.
fn authority(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    &url[..end]
}

/// Resolves a `Location` against the request URL.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", authority(base))
    } else {
        let dir = base.rfind('/').map_or(base, |i| &base[..=i]);
        format!("{dir}{location}")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(authority("https://h:5000/v2/x"), "https://h:5000");
        assert_eq!(resolve("https://h/v2/a/b", "/c"), "https://h/c");
        assert_eq!(resolve("https://h/v2/a/b", "c"), "https://h/v2/a/c");
        assert_eq!(resolve("https://h/v2/a", "https://cdn/x"), "https://cdn/x");
        assert_eq!(
            next_link(r#"</v2/a/referrers/x?n=2&last=y>; rel="next""#).as_deref(),
            Some("/v2/a/referrers/x?n=2&last=y")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
