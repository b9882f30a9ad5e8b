//! A tiny threaded HTTP/1.1 server on a loopback address whose answers are scripted per request: what
//! a real registry will not do (lying digests, wrong Content-Type, endless lists, huge bodies, 429,
//! 500, stalls, cross-host redirects). `Content` serves an OCI layout with the distribution API so a
//! scenario only scripts the one request it wants to break and lets the rest of the protocol work.
//!
//! Every request is recorded (method, path, headers, arrival time) for assertions. The server is also
//! the harness's token endpoint (`registry::Mode::Token`).

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent: path and query.
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The address this server listens on (`ip:port`).
    pub local: String,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Every value of query parameter `key`, percent-decoded.
    pub fn query(&self, key: &str) -> Vec<String> {
        let Some((_, q)) = self.target.split_once('?') else { return Vec::new() };
        form_values(q, key)
    }
}

/// Every value of `key` in an `application/x-www-form-urlencoded` string.
pub fn form_values(form: &str, key: &str) -> Vec<String> {
    form.split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
        match (b[i], hex(b.get(i + 1)), hex(b.get(i + 2))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', ..) => {
                out.push(b' ');
                i += 1;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the body of a response is.
#[derive(Clone, Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    /// `len` copies of `byte`, written in 64 KiB pieces (never held in memory); `chunked` sends it
    /// with `Transfer-Encoding: chunked` and no length, otherwise with `Content-Length`.
    Repeat {
        byte: u8,
        len: u64,
        chunked: bool,
    },
    /// Headers with `Content-Length: declared`, then `prefix`, then nothing: the server holds the
    /// connection open (until it is dropped or `STALL_LIMIT` passes).
    Stall {
        declared: u64,
        prefix: Vec<u8>,
    },
}

/// How long a stalled response holds its connection at most.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Waited before anything is written.
    pub delay: Duration,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Body::Bytes(Vec::new()), delay: Duration::ZERO }
    }

    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status).header("Content-Type", content_type).body(Body::Bytes(body.into()))
    }

    pub fn json(status: u16, v: &Value) -> Response {
        Response::bytes(status, "application/json", v.to_string())
    }

    /// A distribution-style error document.
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        Response::json(status, &json!({"errors": [{"code": code, "message": message, "detail": null}]}))
    }

    pub fn header(mut self, k: &str, v: &str) -> Response {
        self.headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    pub fn body(mut self, body: Body) -> Response {
        self.body = body;
        self
    }

    pub fn delay(mut self, d: Duration) -> Response {
        self.delay = d;
        self
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync + 'static;

/// The scripted server. Dropping it stops accepting and ends stalled responses.
pub struct Hostile {
    /// `ip:port`
    pub addr: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    accept: Option<JoinHandle<()>>,
}

impl Hostile {
    /// Serves on 127.0.0.1 and a free port.
    pub fn start<F>(handler: F) -> Hostile
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        Hostile::start_on("127.0.0.1", handler)
    }

    /// Serves on `ip` (a loopback address: 127.0.0.2 is "another host") and a free port.
    pub fn start_on<F>(ip: &str, handler: F) -> Hostile
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        let addr = listener.local_addr().expect("local addr").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let (requests, stop, sent, addr) = (requests.clone(), stop.clone(), sent.clone(), addr.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (requests, stop, sent, handler, addr) =
                        (requests.clone(), stop.clone(), sent.clone(), handler.clone(), addr.clone());
                    std::thread::spawn(move || serve_connection(conn, &addr, &*handler, &requests, &stop, &sent));
                }
            })
        };
        Hostile { addr, requests, stop, sent, accept: Some(accept) }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Requests whose path starts with `prefix` (any method).
    pub fn count(&self, prefix: &str) -> usize {
        self.requests().iter().filter(|r| r.path().starts_with(prefix)).count()
    }

    /// Body bytes actually written to clients so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the blocking accept()
        let _ = TcpStream::connect_timeout(&self.addr.parse().expect("addr"), Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve_connection(
    conn: TcpStream,
    local: &str,
    handler: &Handler,
    requests: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
    sent: &AtomicU64,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = conn.set_nodelay(true);
    let Ok(write_half) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    let mut writer = write_half;
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // A TLS ClientHello (a client trying https first): close, as a plain server that cannot speak it.
        match reader.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(buf) if buf[0] == 0x16 => return,
            Ok(_) => {}
        }
        let Some(req) = read_request(&mut reader, local) else { return };
        requests.lock().unwrap_or_else(|p| p.into_inner()).push(req.clone());
        let close = req.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let resp = handler(&req);
        if !write_response(&mut writer, &req, resp, stop, sent) || close {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>, local: &str) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if headers.len() > 200 {
            return None;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let mut body = vec![0; len.min(64 << 20)];
    reader.read_exact(&mut body).ok()?;
    if chunked {
        body = read_chunked(reader).ok()?;
    }
    Some(Request { method, target, headers, body, local: local.to_string(), at: Instant::now() })
}

/// Reads a chunked body (requests and responses).
pub fn read_chunked<R: BufRead>(reader: &mut R) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0").trim(), 16)
            .map_err(|e| std::io::Error::other(format!("chunk size: {e}")))?;
        if size == 0 {
            // trailers until the empty line
            loop {
                let mut t = String::new();
                if reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(out);
                }
            }
        }
        let start = out.len();
        out.resize(start + size, 0);
        reader.read_exact(&mut out[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// Writes `resp`; returns whether the connection may be reused.
fn write_response(w: &mut TcpStream, req: &Request, resp: Response, stop: &AtomicBool, sent: &AtomicU64) -> bool {
    if !resp.delay.is_zero() {
        let until = Instant::now() + resp.delay;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let head_only = req.method == "HEAD";
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let has = |name: &str| resp.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    match &resp.body {
        Body::Bytes(b) if !has("content-length") && !has("transfer-encoding") => {
            head.push_str(&format!("Content-Length: {}\r\n", b.len()))
        }
        Body::Repeat { chunked: true, .. } if !head_only => head.push_str("Transfer-Encoding: chunked\r\n"),
        Body::Repeat { len, .. } => head.push_str(&format!("Content-Length: {len}\r\n")),
        Body::Stall { declared, .. } => head.push_str(&format!("Content-Length: {declared}\r\n")),
        _ => {}
    }
    head.push_str("\r\n");
    if w.write_all(head.as_bytes()).is_err() {
        return false;
    }
    if head_only {
        return w.flush().is_ok() && !matches!(resp.body, Body::Stall { .. });
    }
    match resp.body {
        Body::Bytes(b) => {
            let ok = w.write_all(&b).and_then(|_| w.flush()).is_ok();
            if ok {
                sent.fetch_add(b.len() as u64, Ordering::SeqCst);
            }
            ok
        }
        Body::Repeat { byte, len, chunked } => {
            let piece = vec![byte; 64 << 10];
            let mut left = len;
            while left > 0 {
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
                let n = left.min(piece.len() as u64) as usize;
                let r = if chunked {
                    w.write_all(format!("{n:x}\r\n").as_bytes())
                        .and_then(|_| w.write_all(&piece[..n]))
                        .and_then(|_| w.write_all(b"\r\n"))
                } else {
                    w.write_all(&piece[..n])
                };
                if r.is_err() {
                    return false;
                }
                sent.fetch_add(n as u64, Ordering::SeqCst);
                left -= n as u64;
            }
            if chunked && w.write_all(b"0\r\n\r\n").is_err() {
                return false;
            }
            w.flush().is_ok()
        }
        Body::Stall { prefix, .. } => {
            if w.write_all(&prefix).and_then(|_| w.flush()).is_ok() {
                sent.fetch_add(prefix.len() as u64, Ordering::SeqCst);
            }
            let until = Instant::now() + STALL_LIMIT;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// A layout served with the distribution API

/// The manifests, tags and blobs of OCI layouts, answerable as a registry (distribution 2.8's
/// behaviour: no referrers API, 404 `MANIFEST_UNKNOWN` / `BLOB_UNKNOWN`).
#[derive(Clone, Default)]
pub struct Content {
    /// (repository, tag) → manifest digest
    pub tags: HashMap<(String, String), String>,
    /// manifest digest → media type
    pub media: HashMap<String, String>,
    /// digest → bytes (as stored in the layout: a damaged blob is served damaged)
    pub blobs: HashMap<String, Vec<u8>>,
}

impl Content {
    /// Reads `layout` (every blob, every `index.json` entry with an
    /// `org.opencontainers.image.ref.name`); `rename` maps each stored repository (`registry.airlock.test/airlock/single`)
    /// to the repository served (`airlock/single`).
    pub fn layout(layout: &Path, rename: impl Fn(&str) -> String) -> Content {
        let mut c = Content::default();
        c.add_layout(layout, rename);
        c
    }

    pub fn add_layout(&mut self, layout: &Path, rename: impl Fn(&str) -> String) {
        let blobs = layout.join("blobs/sha256");
        for e in std::fs::read_dir(&blobs).unwrap_or_else(|e| panic!("{}: {e}", blobs.display())) {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            self.blobs.insert(format!("sha256:{name}"), std::fs::read(e.path()).expect("read blob"));
        }
        let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index.json is JSON");
        for d in index["manifests"].as_array().expect("manifests") {
            self.note_media(d);
            let Some(name) = d["annotations"]["org.opencontainers.image.ref.name"].as_str() else { continue };
            let (repo, tag) = super::registry::split_ref(name);
            self.tags.insert((rename(repo), tag.to_string()), d["digest"].as_str().expect("digest").to_string());
        }
    }

    fn note_media(&mut self, d: &Value) {
        let (Some(digest), Some(mt)) = (d["digest"].as_str(), d["mediaType"].as_str()) else { return };
        self.media.insert(digest.to_string(), mt.to_string());
        if (mt.contains("index") || mt.contains("manifest.list"))
            && let Some(bytes) = self.blobs.get(digest)
            && let Ok(v) = serde_json::from_slice::<Value>(bytes)
        {
            for child in v["manifests"].as_array().cloned().unwrap_or_default() {
                self.note_media(&child);
            }
        }
    }

    /// The manifest a `GET /v2/<repo>/manifests/<reference>` names: (media type, digest, bytes).
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<(String, String, Vec<u8>)> {
        let digest = if reference.contains(':') {
            reference.to_string()
        } else {
            self.tags.get(&(repo.to_string(), reference.to_string()))?.clone()
        };
        let media = self.media.get(&digest)?.clone();
        let bytes = self.blobs.get(&digest)?.clone();
        Some((media, digest, bytes))
    }

    /// Stores `bytes` as a manifest blob of `media_type` (optionally tagged) and returns its digest.
    pub fn put_manifest(&mut self, repo: &str, tag: Option<&str>, media_type: &str, bytes: Vec<u8>) -> String {
        let digest = format!("sha256:{}", super::sha256_hex(&bytes));
        self.blobs.insert(digest.clone(), bytes);
        self.media.insert(digest.clone(), media_type.to_string());
        if let Some(t) = tag {
            self.tags.insert((repo.to_string(), t.to_string()), digest.clone());
        }
        digest
    }

    /// Answers one request as distribution 2.8 would.
    pub fn respond(&self, req: &Request) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::error(405, "UNSUPPORTED", "read-only");
        }
        let path = req.path();
        if path == "/v2/" || path == "/v2" {
            return Response::json(200, &json!({})).header("Docker-Distribution-API-Version", "registry/2.0");
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Response::bytes(404, "text/plain", "404 page not found\n");
        };
        if let Some((repo, reference)) = rest.rsplit_once("/manifests/") {
            return match self.manifest(repo, reference) {
                Some((media, digest, bytes)) => Response::bytes(200, &media, bytes)
                    .header("Docker-Content-Digest", &digest)
                    .header("Docker-Distribution-API-Version", "registry/2.0"),
                None => Response::error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
            };
        }
        if let Some((_, digest)) = rest.rsplit_once("/blobs/") {
            return match self.blobs.get(digest) {
                Some(bytes) => Response::bytes(200, "application/octet-stream", bytes.clone())
                    .header("Docker-Content-Digest", digest),
                None => Response::error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
            };
        }
        // no referrers API (distribution 2.8): its router answers unknown routes like this
        Response::bytes(404, "text/plain; charset=utf-8", "404 page not found\n")
    }
}
