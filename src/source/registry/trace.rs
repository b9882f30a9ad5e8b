//! `--debug` request tracing: one line per HTTP exchange (method, URL, how it was authorized, the answer and
//! how long it took). Credentials never appear: an `Authorization` header is named by its scheme alone, a
//! URL's user information and the values of query parameters that may carry a signature (a redirect to
//! object storage) are replaced by `<redacted>`, and token request bodies are not printed.

use std::sync::Arc;
use std::time::Instant;

/// Receives each trace line.
pub type Trace = Arc<dyn Fn(String) + Send + Sync>;

/// Query parameters whose values are printed: the registry API's own, none of them secret.
const PLAIN_QUERY: [&str; 5] = ["n", "last", "service", "scope", "artifactType"];

/// One exchange being traced.
pub struct Exchange<'a> {
    trace: Option<&'a Trace>,
    method: &'a str,
    url: &'a str,
    authorization: Option<&'a str>,
    started: Instant,
}

impl<'a> Exchange<'a> {
    pub fn start(trace: Option<&'a Trace>, method: &'a str, url: &'a str, authorization: Option<&'a str>) -> Self {
        Exchange { trace, method, url, authorization, started: Instant::now() }
    }

    /// Traces the answer: `HTTP 200`, or what went wrong below HTTP.
    pub fn done(&self, outcome: &str) {
        let Some(trace) = self.trace else { return };
        let auth = match self.authorization.map(|a| a.split(' ').next().unwrap_or_default()) {
            Some(scheme) => format!(" (Authorization: {scheme} <redacted>)"),
            None => String::new(),
        };
        let ms = self.started.elapsed().as_millis();
        trace(format!("{} {}{auth} -> {outcome} in {ms} ms", self.method, redact_url(self.url)));
    }
}

/// `url` without its user information, and with the values of query parameters other than the registry
/// API's own replaced.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}"),
        None => authority.to_string(),
    };
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut out =
        if scheme.is_empty() { format!("{authority}{path}") } else { format!("{scheme}://{authority}{path}") };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if PLAIN_QUERY.contains(&k) => format!("{k}={v}"),
                Some((k, _)) => format!("{k}=<redacted>"),
                None => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn urls_lose_user_information_and_signed_query_values() {
        assert_eq!(redact_url("https://u:secret@host:5000/v2/a/b"), "https://<redacted>@host:5000/v2/a/b");
        assert_eq!(
            redact_url("https://s3.example/blob?X-Amz-Signature=abc&X-Amz-Credential=k&n=10"),
            "https://s3.example/blob?X-Amz-Signature=<redacted>&X-Amz-Credential=<redacted>&n=10"
        );
        assert_eq!(
            redact_url("https://auth.example/token?service=reg&scope=repository:a:pull"),
            "https://auth.example/token?service=reg&scope=repository:a:pull"
        );
        assert_eq!(redact_url("http://host/v2/"), "http://host/v2/");
    }

    #[test]
    fn a_traced_exchange_names_the_scheme_never_the_credential() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let trace: Trace = Arc::new(move |l| sink.lock().unwrap().push(l));
        Exchange::start(Some(&trace), "GET", "https://h/v2/", Some("Basic YWlybG9jazpodW50ZXIy")).done("HTTP 200");
        Exchange::start(Some(&trace), "HEAD", "https://h/v2/x", None).done("HTTP 404");
        let lines = lines.lock().unwrap();
        assert!(
            lines[0].starts_with("GET https://h/v2/ (Authorization: Basic <redacted>) -> HTTP 200 in "),
            "{lines:?}"
        );
        assert!(!lines[0].contains("YWlybG9j"), "{lines:?}");
        assert!(lines[1].starts_with("HEAD https://h/v2/x -> HTTP 404 in "), "{lines:?}");
    }
}
