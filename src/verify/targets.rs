//! What to verify: every entry a source names, or exactly the lines of an image list, matched to
//! entries as SPEC §4 says, each with the reference its signatures must name (SPEC §6.3).

use super::result::{Finding, Kind};
use crate::imagelist::ListLine;
use crate::reference::DockerRef;
use crate::source::{Desc, Entry, Source};

/// One image to verify.
#[derive(Clone, Debug)]
pub struct Target {
    /// How the image is shown (`PASS <display>`).
    pub display: String,
    pub line: Option<String>,
    pub line_no: Option<usize>,
    /// The image's reference I: what signed identities are checked against.
    pub identity: Option<DockerRef>,
    /// The entry has no usable name and none was given: with a key it fails with a hint.
    pub identity_missing_hint: bool,
    pub descriptor: Result<Desc, Finding>,
    pub notes: Vec<String>,
    /// The source PATH the entry came from: its content is read from there only.
    pub origin: Option<String>,
    /// References to resolve through the source when no entry named the line (registry mode).
    pub unresolved: Vec<DockerRef>,
}

/// The targets for a run: the whole source, or exactly `list`.
pub fn plan(source: &dyn Source, list: Option<&[ListLine]>, reference: Option<&DockerRef>) -> Vec<Target> {
    let entries = source.entries();
    match list {
        None => entries.iter().map(|e| whole_entry(source, e, reference)).collect(),
        Some(lines) => {
            let single_unnamed = entries.len() == 1 && entries[0].identity().is_none() && lines.len() == 1;
            lines.iter().map(|l| list_line(&entries, l, single_unnamed)).collect()
        }
    }
}

fn whole_entry(source: &dyn Source, entry: &Entry, reference: Option<&DockerRef>) -> Target {
    let named = entry.identity().cloned();
    let identity = named.clone().or_else(|| reference.cloned());
    let display = entry
        .full_names
        .first()
        .map(|r| r.to_string())
        .or_else(|| entry.stored_name.clone())
        .or_else(|| identity.as_ref().map(|r| r.to_string()))
        .unwrap_or_else(|| source.location());
    let mut target = Target {
        display,
        line: None,
        line_no: None,
        identity_missing_hint: identity.is_none(),
        identity,
        descriptor: descriptor_of(entry),
        notes: entry_notes(entry),
        origin: Some(entry.origin.clone()),
        unresolved: Vec::new(),
    };
    let pinned = reference.and_then(|r| r.digest()).filter(|_| named.is_none());
    if let (Some(pinned), Ok(d)) = (pinned, &target.descriptor)
        && pinned != &d.digest
    {
        target.descriptor = Err(Finding::new(
            Kind::IdentityMismatch,
            format!("--reference pins {pinned} but the image's manifest is {}", d.digest),
        ));
    }
    target
}

fn entry_notes(entry: &Entry) -> Vec<String> {
    entry.descriptor.annotation(crate::source::NOTE_ANNOTATION).map(str::to_string).into_iter().collect()
}

fn descriptor_of(entry: &Entry) -> Result<Desc, Finding> {
    match &entry.broken {
        Some(e) => Err(Finding::from_source(&entry.origin, e)),
        None => Ok(entry.descriptor.clone()),
    }
}

/// Does `candidate` (a list line in one normalisation) name this stored reference?
fn names(stored: &DockerRef, candidate: &DockerRef, entry: &Entry, by_path: bool) -> bool {
    let same_repo = if by_path { stored.path() == candidate.path() } else { stored.name() == candidate.name() };
    if !same_repo {
        return false;
    }
    match (candidate.digest(), candidate.tag()) {
        (Some(d), _) => &entry.descriptor.digest == d,
        (None, Some(t)) => stored.tag() == Some(t),
        (None, None) => false,
    }
}

fn list_line(entries: &[Entry], line: &ListLine, single_unnamed: bool) -> Target {
    let candidates = line.candidates();
    let found =
        find(entries, &candidates).or_else(|| single_unnamed.then(|| (&entries[0], candidates.first().cloned())));
    let mut target = Target {
        display: line.hangar_ref(),
        line: Some(line.original.clone()),
        line_no: Some(line.line_no),
        identity: None,
        identity_missing_hint: false,
        descriptor: Err(Finding::new(Kind::Missing, "not in the source")),
        notes: Vec::new(),
        origin: None,
        unresolved: Vec::new(),
    };
    if let Some((entry, matched)) = found {
        if let Some(m) = matched {
            target.display = m.to_string();
            target.identity = Some(m);
        }
        target.descriptor = descriptor_of(entry);
        target.notes = entry_notes(entry);
        target.origin = Some(entry.origin.clone());
        return target;
    }
    target.unresolved = candidates;
    target
}

impl Target {
    /// Resolves a list line no entry answered through the source (a registry's tags). Called by the
    /// engine on the worker verifying the image, so the per-image deadline covers the resolve.
    pub fn resolve(&self, source: &dyn Source) -> Target {
        let mut target = self.clone();
        for c in &self.unresolved {
            match source.resolve(c) {
                Ok(Some(desc)) => {
                    target.display = c.to_string();
                    target.identity = Some(c.clone());
                    target.descriptor = Ok(desc);
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    target.descriptor = Err(Finding::from_source(&c.to_string(), &e));
                    break;
                }
            }
        }
        target.unresolved.clear();
        target
    }
}

/// Full names first (in the order of `candidates`: hangar's normalisation, then containers-image's),
/// then names stored without a registry, then a digest line's digest.
fn find<'a>(entries: &'a [Entry], candidates: &[DockerRef]) -> Option<(&'a Entry, Option<DockerRef>)> {
    for c in candidates {
        if let Some(e) = entries.iter().find(|e| e.full_names.iter().any(|n| names(n, c, e, false))) {
            return Some((e, Some(c.clone())));
        }
    }
    for c in candidates {
        if let Some(e) = entries.iter().find(|e| e.partial_name.as_ref().is_some_and(|n| names(n, c, e, true))) {
            return Some((e, Some(c.clone())));
        }
    }
    for c in candidates {
        if let Some(d) = c.digest()
            && let Some(e) = entries.iter().find(|e| &e.descriptor.digest == d)
        {
            return Some((e, Some(c.clone())));
        }
    }
    None
}
