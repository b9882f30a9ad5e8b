//! What a registry's answers and failures mean: "not found" (the only "no signature"), error codes for
//! messages, and the one message for a host that cannot be reached, naming the fix.

use super::client::{Body, Response, Transport};
use crate::source::SourceError;

/// The one message for a host that cannot be reached, with the fix.
pub(super) fn unreachable(name: &str, base: &str, e: Transport, tls_verify: bool) -> String {
    let url = format!("{base}/v2/");
    let e = match e {
        Transport::Net(e) => e,
        Transport::Other(m) | Transport::TooLarge(m) => return format!("registry {name}: {m}"),
    };
    let text = e.to_string();
    let (io_kind, tls) = match &e {
        ureq::Error::Io(io) => (Some(io.kind()), io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())),
        ureq::Error::Rustls(r) => (None, Some(r)),
        _ => (None, None),
    };
    let cause = match (&e, tls) {
        (ureq::Error::HostNotFound, _) => format!("{name} cannot be resolved (DNS): check the registry name"),
        _ if text.contains("failed to lookup address") => {
            format!("{name} cannot be resolved (DNS): check the registry name")
        }
        _ if io_kind == Some(std::io::ErrorKind::ConnectionRefused) => {
            format!("the connection to {name} was refused: is the registry running, and is the port right?")
        }
        (ureq::Error::Timeout(_), _) => format!("{name} did not answer in time (--timeout)"),
        (_, Some(rustls::Error::InvalidCertificate(c))) => format!(
            "the TLS certificate of {name} is not trusted ({c:?}): put its CA certificate (or the server's own \
             self-signed certificate) in --cert-dir DIR or /etc/containers/certs.d/{name}/ca.crt, or use \
             --tls-verify=false"
        ),
        (_, Some(rustls::Error::InvalidMessage(_))) if tls_verify => {
            format!(
                "{name} does not speak TLS (a plain-HTTP registry?): use --tls-verify=false for a plain-HTTP registry"
            )
        }
        (ureq::Error::Tls(_), _) | (_, Some(_)) => format!(
            "the TLS handshake with {name} failed ({text}): check the certificate with --cert-dir DIR, or use \
             --tls-verify=false"
        ),
        _ => format!("{name} cannot be reached ({text})"),
    };
    format!("registry {url}: {cause}")
}

/// An error for a response that was not a success, with the registry's error code when it gave one.
pub fn status_error(url: &str, resp: &Response) -> SourceError {
    let detail = match &resp.body {
        Body::Bytes(b) => error_codes(b).unwrap_or_default(),
        _ => String::new(),
    };
    let hint = match resp.status {
        401 => " (unauthorized: check --creds / --authfile)",
        403 => " (forbidden)",
        _ => "",
    };
    SourceError::Io(format!("{url}: HTTP {}{hint}{detail}", resp.status))
}

/// `{"errors":[{"code":"…","message":"…"}]}` → `: CODE message; …`.
pub fn error_codes(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let errors = v.get("errors")?.as_array()?;
    let parts: Vec<String> = errors
        .iter()
        .take(5)
        .map(|e| {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("?");
            let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
            format!("{code} {msg}").trim().to_string()
        })
        .collect();
    Some(format!(": {}", parts.join("; ")))
}

/// True for "this does not exist": 404, `MANIFEST_UNKNOWN`, or Harbor's `UNKNOWN` + "not found".
pub fn is_not_found(resp: &Response) -> bool {
    if resp.status == 404 {
        return true;
    }
    let Body::Bytes(b) = &resp.body else { return false };
    let Some(v) = serde_json::from_slice::<serde_json::Value>(b).ok() else { return false };
    v.get("errors").and_then(|e| e.as_array()).is_some_and(|errors| {
        errors.iter().any(|e| {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or_default();
            let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or_default();
            code == "MANIFEST_UNKNOWN" || (code == "UNKNOWN" && msg.to_ascii_lowercase().contains("not found"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_forms() {
        let r = |status, body: &str| Response {
            status,
            content_type: None,
            content_length: None,
            next: None,
            location: None,
            subject: false,
            body: Body::Bytes(body.as_bytes().to_vec()),
        };
        assert!(is_not_found(&r(404, "")));
        assert!(is_not_found(&r(400, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)));
        assert!(is_not_found(&r(500, r#"{"errors":[{"code":"UNKNOWN","message":"artifact x not found"}]}"#)));
        assert!(!is_not_found(&r(500, r#"{"errors":[{"code":"UNKNOWN","message":"boom"}]}"#)));
        assert!(!is_not_found(&r(401, "")));
    }
}
