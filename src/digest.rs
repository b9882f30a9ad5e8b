//! Content digests: one validated `Digest` type and one verifying reader.
//! Every byte that crosses a source boundary is checked here, against the descriptor's size and digest.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

/// The digest algorithms airlock can verify. Anything else is rejected at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated `algorithm:hex` digest (lower-case hex of the exact length). Safe to put in a path or URL.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {0:?}: expected algorithm:hex")]
    Syntax(String),
    #[error("unsupported digest algorithm in {0:?} (only sha256 and sha512 can be verified)")]
    Algorithm(String),
    #[error("invalid digest {0:?}: the hex part must be {1} lower-case hex characters")]
    Hex(String, usize),
}

impl Digest {
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let (alg, hex) = s.split_once(':').ok_or_else(|| DigestError::Syntax(s.to_string()))?;
        if alg.is_empty() || hex.is_empty() {
            return Err(DigestError::Syntax(s.to_string()));
        }
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => {
                let grammar_ok = alg
                    .split(['+', '.', '_', '-'])
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
                    && hex.bytes().all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b));
                return Err(if grammar_ok {
                    DigestError::Algorithm(s.to_string())
                } else {
                    DigestError::Syntax(s.to_string())
                });
            }
        };
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(DigestError::Hex(s.to_string(), algorithm.hex_len()));
        }
        Ok(Digest { algorithm, hex: hex.to_string() })
    }

    /// sha256 of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest { algorithm: Algorithm::Sha256, hex: hex::encode(Sha256::digest(bytes)) }
    }

    /// The digest of `bytes` with this digest's algorithm.
    pub fn compute_like(&self, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(self.algorithm);
        h.update(bytes);
        h.finish()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The cosign / containers-image attachment tag: `sha256-<hex>.sig`.
    pub fn sig_tag(&self) -> String {
        format!("{}-{}.sig", self.algorithm.name(), self.hex)
    }

    /// The OCI referrers fallback tag: `sha256-<hex>`.
    pub fn referrers_tag(&self) -> String {
        format!("{}-{}", self.algorithm.name(), self.hex)
    }

    /// A short form for messages: `sha256:0123456789ab`.
    pub fn short(&self) -> String {
        format!("{}:{}", self.algorithm.name(), &self.hex[..12])
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Bytes read at a time when hashing a stream.
const CHUNK: usize = 256 * 1024;

/// An incremental hasher for one of the supported algorithms.
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// Feeds everything `reader` yields into the hasher (an interrupted read is retried), handing each
    /// chunk to `each` too; returns how many bytes were read. The one hashing loop of the crate.
    pub fn consume<R: Read>(&mut self, reader: R, each: impl FnMut(&[u8])) -> io::Result<u64> {
        thread_local! {
            /// One read buffer per thread, reused: a fresh 256 KiB per blob costs a page-zeroing mmap each
            /// time, which dominates hashing 100 000 small blobs.
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let mut buf = BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
        buf.resize(CHUNK, 0);
        let result = self.consume_with(reader, &mut buf, each);
        BUFFER.with(|b| *b.borrow_mut() = buf);
        result
    }

    /// [`Hasher::consume`], reading through `buf` (one buffer kept for many readers).
    pub fn consume_with<R: Read>(
        &mut self,
        mut reader: R,
        buf: &mut [u8],
        mut each: impl FnMut(&[u8]),
    ) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            match reader.read(buf) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    self.update(&buf[..n]);
                    each(&buf[..n]);
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The digest of everything `reader` yields.
    pub fn of_reader<R: Read>(algorithm: Algorithm, reader: R) -> io::Result<Digest> {
        let mut hasher = Hasher::new(algorithm);
        hasher.consume(reader, |_| {})?;
        Ok(hasher.finish())
    }

    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest { algorithm: Algorithm::Sha256, hex: hex::encode(h.finalize()) },
            Hasher::Sha512(h) => Digest { algorithm: Algorithm::Sha512, hex: hex::encode(h.finalize()) },
        }
    }
}

/// Why content did not match its descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// More bytes than the descriptor's size: how many, when known (a stream is read one byte past).
    TooLong { expected: u64, actual: Option<u64> },
    /// Fewer bytes than the descriptor's size.
    TooShort { expected: u64, actual: u64 },
    /// Right size, wrong content.
    Digest { expected: Digest, actual: Digest },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::TooLong { expected, actual: None } => {
                write!(f, "size mismatch: descriptor says {expected} bytes, content is longer")
            }
            Mismatch::TooLong { expected, actual: Some(actual) } | Mismatch::TooShort { expected, actual } => {
                write!(f, "size mismatch: descriptor says {expected} bytes, content has {actual}")
            }
            Mismatch::Digest { expected, actual } => {
                write!(f, "digest mismatch: descriptor says {expected}, content hashes to {actual}")
            }
        }
    }
}

impl Mismatch {
    /// Content of a known `actual` size where the descriptor says `expected` (they differ).
    pub fn size(expected: u64, actual: u64) -> Mismatch {
        if actual > expected {
            Mismatch::TooLong { expected, actual: Some(actual) }
        } else {
            Mismatch::TooShort { expected, actual }
        }
    }
}

/// As data in reports: `{"field": "size"|"digest", "expected": …, "actual": …}`; the actual size of
/// streamed content longer than its descriptor is `null` (reading stops one byte past the expected size).
impl serde::Serialize for Mismatch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Mismatch", 3)?;
        match self {
            Mismatch::TooLong { expected, actual } => {
                s.serialize_field("field", "size")?;
                s.serialize_field("expected", expected)?;
                s.serialize_field("actual", actual)?;
            }
            Mismatch::TooShort { expected, actual } => {
                s.serialize_field("field", "size")?;
                s.serialize_field("expected", expected)?;
                s.serialize_field("actual", actual)?;
            }
            Mismatch::Digest { expected, actual } => {
                s.serialize_field("field", "digest")?;
                s.serialize_field("expected", &expected.to_string())?;
                s.serialize_field("actual", &actual.to_string())?;
            }
        }
        s.end()
    }
}

/// The outcome of reading content through a [`VerifyingReader`].
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Mismatch(Mismatch),
}

/// Reads at most `size` + 1 bytes from `inner`, hashing them; [`VerifyingReader::finish`] says whether the
/// content had exactly `size` bytes and hashed to `expected`. The single place where content is checked.
pub struct VerifyingReader<R> {
    inner: io::Take<R>,
    hasher: Hasher,
    expected: Digest,
    size: u64,
    read: u64,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: &Digest, size: u64) -> Self {
        VerifyingReader {
            inner: inner.take(size.saturating_add(1)),
            hasher: Hasher::new(expected.algorithm()),
            expected: expected.clone(),
            size,
            read: 0,
        }
    }

    /// Drains the rest of the stream and checks size and digest.
    pub fn finish(mut self) -> Result<(), ReadError> {
        self.read += self.hasher.consume(&mut self.inner, |_| {}).map_err(ReadError::Io)?;
        self.check()
    }

    fn check(self) -> Result<(), ReadError> {
        if self.read > self.size {
            return Err(ReadError::Mismatch(Mismatch::TooLong { expected: self.size, actual: None }));
        }
        if self.read < self.size {
            return Err(ReadError::Mismatch(Mismatch::TooShort { expected: self.size, actual: self.read }));
        }
        let actual = self.hasher.finish();
        if actual != self.expected {
            return Err(ReadError::Mismatch(Mismatch::Digest { expected: self.expected, actual }));
        }
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads content of a known descriptor fully into memory (for manifests and other metadata), refusing
/// anything larger than `limit` before reading and never reading more than `size` + 1 bytes.
pub fn read_verified<R: Read>(inner: R, expected: &Digest, size: u64, limit: u64) -> Result<Vec<u8>, ReadError> {
    if size > limit {
        return Err(ReadError::Io(io::Error::other(format!(
            "{size} bytes is over the {limit}-byte limit for metadata"
        ))));
    }
    let mut reader = VerifyingReader::new(inner, expected, size);
    let mut out = Vec::with_capacity(size as usize);
    reader.read_to_end(&mut out).map_err(ReadError::Io)?;
    reader.check()?;
    Ok(out)
}

/// Checks bytes already in memory against a descriptor.
pub fn check_bytes(bytes: &[u8], expected: &Digest, size: u64) -> Result<(), Mismatch> {
    if bytes.len() as u64 != size {
        return Err(Mismatch::size(size, bytes.len() as u64));
    }
    let actual = expected.compute_like(bytes);
    if &actual != expected {
        return Err(Mismatch::Digest { expected: expected.clone(), actual });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_rejects() {
        assert!(Digest::parse(EMPTY).is_ok());
        assert!(Digest::parse(&EMPTY.to_uppercase()).is_err());
        assert!(matches!(Digest::parse(&EMPTY.replace('e', "E")), Err(DigestError::Hex(..))));
        assert!(matches!(Digest::parse("md5:abc"), Err(DigestError::Algorithm(_))));
        assert!(matches!(Digest::parse("sha256:../../etc/passwd"), Err(DigestError::Hex(..))));
        assert!(matches!(Digest::parse("sha256"), Err(DigestError::Syntax(_))));
        assert!(matches!(Digest::parse(&EMPTY[..70]), Err(DigestError::Hex(..))));
    }

    #[test]
    fn verifying_reader_checks_size_and_digest() {
        let d = Digest::parse(EMPTY).unwrap();
        assert!(VerifyingReader::new(&b""[..], &d, 0).finish().is_ok());
        assert!(matches!(
            VerifyingReader::new(&b"x"[..], &d, 0).finish(),
            Err(ReadError::Mismatch(Mismatch::TooLong { .. }))
        ));
        assert!(matches!(
            VerifyingReader::new(&b""[..], &d, 1).finish(),
            Err(ReadError::Mismatch(Mismatch::TooShort { .. }))
        ));
        let x = Digest::sha256_of(b"x");
        assert!(matches!(
            VerifyingReader::new(&b"y"[..], &x, 1).finish(),
            Err(ReadError::Mismatch(Mismatch::Digest { .. }))
        ));
        assert!(read_verified(&b"x"[..], &x, 1, 0).is_err());
        assert_eq!(read_verified(&b"x"[..], &x, 1, 10).unwrap(), b"x");
    }
}
