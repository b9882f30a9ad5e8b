//! Findings as data: the reason kinds of SPEC §3.6 and one reason an image or a source failed — its
//! kind, what it is about, and for content that does not match its descriptor, the expected and actual
//! size or digest as values. Every layer may produce them; `report` renders them.

pub use crate::digest::Mismatch;
use serde::Serialize;
use std::fmt;

/// The kind of a failure reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Missing,
    Corrupt,
    Malformed,
    PlatformMissing,
    Unsigned,
    BadSignature,
    IdentityMismatch,
    /// The image's top digest is not the one `--digests` lists for its name.
    DigestMismatch,
    Error,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Corrupt => "corrupt",
            Kind::Malformed => "malformed",
            Kind::PlatformMissing => "platform-missing",
            Kind::Unsigned => "unsigned",
            Kind::BadSignature => "bad-signature",
            Kind::IdentityMismatch => "identity-mismatch",
            Kind::DigestMismatch => "digest-mismatch",
            Kind::Error => "error",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason an image failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    /// The whole reason, for people (it names the subject and any mismatch too).
    pub message: String,
    /// The entry or object the finding is about (`blobs/sha256/ab…`, `layer sha256:…`), when it is one.
    pub subject: Option<String>,
    /// What the descriptor said and what the content is, for `corrupt` findings.
    pub mismatch: Option<Mismatch>,
}

impl Finding {
    pub fn new(kind: Kind, message: impl Into<String>) -> Finding {
        Finding { kind, message: message.into(), subject: None, mismatch: None }
    }

    /// Content that does not match its descriptor: `subject` names it.
    pub fn corrupt(message: impl Into<String>, subject: impl Into<String>, mismatch: Mismatch) -> Finding {
        Finding {
            kind: Kind::Corrupt,
            message: message.into(),
            subject: Some(subject.into()),
            mismatch: Some(mismatch),
        }
    }
}
