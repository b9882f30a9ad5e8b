//! The first PEM block of a file, as Go's `encoding/pem` finds it.

use base64::Engine as _;

pub struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// `Ok(None)` when there is no `-----BEGIN` line at all.
pub fn first_block(data: &[u8]) -> Result<Option<Block>, String> {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines().map(|l| l.trim_end_matches([' ', '\t', '\r']));
    let label = loop {
        let Some(line) = lines.next() else { return Ok(None) };
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            break rest.strip_suffix("-----").ok_or("malformed BEGIN line")?.to_string();
        }
    };
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    let mut in_headers = true;
    loop {
        let line = lines.next().ok_or_else(|| format!("missing \"{end}\" line"))?;
        if line == end {
            break;
        }
        // Go accepts RFC 1421 headers ("Key: value") before the body; they carry nothing for a public key.
        if in_headers && line.contains(':') {
            continue;
        }
        in_headers = false;
        body.push_str(line.trim());
    }
    let der = super::GO_STD_BASE64.decode(body.as_bytes()).map_err(|e| format!("invalid base64 in PEM body: {e}"))?;
    Ok(Some(Block { label, der }))
}
