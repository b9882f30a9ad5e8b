//! Findings as data: the reason kinds of SPEC §3.6 and one reason an image or a source failed.
//! Every layer may produce them; `report` renders them.

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
    pub message: String,
}

impl Finding {
    pub fn new(kind: Kind, message: impl Into<String>) -> Finding {
        Finding { kind, message: message.into() }
    }
}
