//! What to verify: every entry a source names, or exactly the lines of an image list, matched to
//! entries as SPEC §4 says, each with the references its signatures must name (SPEC §6.3).
//!
//! One name, one image (SPEC §2): a name the sources bind to two different digests is ambiguous and
//! fails, because importers differ in which one they keep (skopeo the first, containerd the last). A list
//! line that hangar and containers-image read differently is verified in every reading that exists.

use crate::digest::Digest;
use crate::finding::{Finding, Kind};
use crate::imagelist::ListLine;
use crate::oci::Desc;
use crate::reference::DockerRef;
use crate::source::{Entry, Source};
use std::collections::{HashMap, HashSet};

/// One image to verify, as the source names it.
#[derive(Clone, Debug)]
pub struct Subject {
    /// How the image is shown (`PASS <display>`).
    pub display: String,
    /// The references signed identities are checked against: one for each name an importer may use.
    pub identities: Vec<DockerRef>,
    /// The entry has no usable name and none was given: with a key it fails with a hint.
    pub identity_missing_hint: bool,
    pub descriptor: Result<Desc, Finding>,
    pub notes: Vec<String>,
    /// The source PATH the entry came from: its content is read from there only.
    pub origin: Option<String>,
}

/// One unit of work: an entry of the source, or one list line (which may name one image in each of its
/// readings).
#[derive(Clone, Debug)]
pub struct Target {
    pub line: Option<String>,
    pub line_no: Option<usize>,
    /// How the line is shown when nothing answers it.
    pub display: String,
    /// The images found for the target (offline: all of them, before the run).
    pub subjects: Vec<Subject>,
    /// References to resolve through the source when no entry named the line (registry mode): every one
    /// that exists is verified.
    pub unresolved: Vec<DockerRef>,
}

/// The targets for a run: the whole source, or exactly `list`.
pub fn plan(source: &dyn Source, list: Option<&[ListLine]>, reference: Option<&DockerRef>) -> Vec<Target> {
    let entries = source.entries();
    let names = NameIndex::new(&entries);
    match list {
        None => whole_source(source, &entries, &names, reference),
        Some(lines) => {
            let single_unnamed = entries.len() == 1 && entries[0].identities().is_empty() && lines.len() == 1;
            let index = EntryIndex::new(&entries);
            lines.iter().map(|l| list_line(&index, &names, l, single_unnamed)).collect()
        }
    }
}

/// The key a name is compared by: the full name, or repository path and tag for a name stored without
/// its registry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum NameKey {
    Full(String),
    Path(String),
}

fn path_key(r: &DockerRef) -> NameKey {
    NameKey::Path(format!("{}:{}", r.path(), r.tag().unwrap_or_default()))
}

/// Where one entry binds a name.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Binding {
    digest: Digest,
    origin: String,
    synthetic: bool,
}

impl Binding {
    fn of(e: &Entry) -> Option<Binding> {
        Some(Binding { digest: e.digest()?.clone(), origin: e.origin.clone(), synthetic: e.synthetic })
    }

    /// Two bindings of one name conflict when an importer could load either: two stored digests, or two
    /// reconstructions in the same PATH. A reconstruction is not compared with stored bytes elsewhere.
    fn conflicts(&self, other: &Binding) -> bool {
        self.digest != other.digest
            && self.synthetic == other.synthetic
            && (!self.synthetic || self.origin == other.origin)
    }
}

/// The finding for a name bound to two images.
fn ambiguous(shown: &str, bindings: &[&Binding]) -> Finding {
    let places: Vec<String> = bindings.iter().map(|b| format!("{} in {}", b.digest, b.origin)).collect();
    Finding::new(
        Kind::Malformed,
        format!("ambiguous: {shown} is {} (importers differ in which one they load)", places.join(" and ")),
    )
}

/// The first conflict among `bindings`, if any.
fn conflict<'a>(bindings: &[&'a Binding]) -> Option<Vec<&'a Binding>> {
    for (i, a) in bindings.iter().enumerate() {
        if let Some(b) = bindings[i + 1..].iter().find(|b| a.conflicts(b)) {
            return Some(vec![a, b]);
        }
    }
    None
}

/// Which digests (and where) each name is bound to, over every entry of every PATH.
struct NameIndex {
    by_name: HashMap<NameKey, Vec<Binding>>,
}

impl NameIndex {
    fn new(entries: &[Entry]) -> NameIndex {
        let mut by_name: HashMap<NameKey, Vec<Binding>> = HashMap::new();
        fn bind(map: &mut HashMap<NameKey, Vec<Binding>>, key: NameKey, binding: &Binding) {
            let bound = map.entry(key).or_default();
            if !bound.contains(binding) {
                bound.push(binding.clone());
            }
        }
        for e in entries {
            let Some(b) = Binding::of(e) else { continue };
            for n in &e.full_names {
                bind(&mut by_name, NameKey::Full(n.to_string()), &b);
            }
            for n in &e.partial_names {
                bind(&mut by_name, path_key(n), &b);
            }
        }
        // A full name is also known by its path and tag when some entry stores that path without a registry.
        let partial: HashSet<NameKey> = by_name.keys().filter(|k| matches!(k, NameKey::Path(_))).cloned().collect();
        for e in entries {
            let Some(b) = Binding::of(e) else { continue };
            for n in &e.full_names {
                let key = path_key(n);
                if partial.contains(&key) {
                    bind(&mut by_name, key, &b);
                }
            }
        }
        NameIndex { by_name }
    }

    /// The finding for a name bound to more than one image.
    fn ambiguity(&self, key: &NameKey, shown: &str) -> Option<Finding> {
        let bound: Vec<&Binding> = self.by_name.get(key)?.iter().collect();
        conflict(&bound).map(|pair| ambiguous(shown, &pair))
    }

    fn entry_ambiguity(&self, e: &Entry) -> Option<Finding> {
        let full = e.full_names.iter().map(|n| (NameKey::Full(n.to_string()), n.to_string()));
        let partial = e.partial_names.iter().map(|n| (path_key(n), n.to_string()));
        let fulls_by_path = e.full_names.iter().map(|n| (path_key(n), n.to_string()));
        full.chain(partial).chain(fulls_by_path).find_map(|(k, shown)| self.ambiguity(&k, &shown))
    }
}

fn whole_source(
    source: &dyn Source,
    entries: &[Entry],
    names: &NameIndex,
    reference: Option<&DockerRef>,
) -> Vec<Target> {
    let mut seen: HashSet<(Option<Digest>, Vec<DockerRef>, String)> = HashSet::new();
    let mut targets = Vec::new();
    for e in entries {
        let key = (e.digest().cloned(), e.identities(), e.origin.clone());
        if !seen.insert(key) && e.digest().is_some() {
            continue;
        }
        let subject = whole_entry(source, e, names, reference);
        targets.push(Target {
            line: None,
            line_no: None,
            display: subject.display.clone(),
            subjects: vec![subject],
            unresolved: Vec::new(),
        });
    }
    targets
}

fn whole_entry(source: &dyn Source, entry: &Entry, names: &NameIndex, reference: Option<&DockerRef>) -> Subject {
    let named = entry.identities();
    let identities = if named.is_empty() { reference.cloned().into_iter().collect() } else { named.clone() };
    let display = entry
        .full_names
        .first()
        .map(|r| r.to_string())
        .or_else(|| entry.stored_name.clone())
        .or_else(|| identities.first().map(|r| r.to_string()))
        .unwrap_or_else(|| source.info().location);
    let mut subject = Subject {
        display,
        identity_missing_hint: identities.is_empty(),
        identities,
        descriptor: descriptor_of(entry),
        notes: entry.notes.clone(),
        origin: Some(entry.origin.clone()),
    };
    if let Some(f) = names.entry_ambiguity(entry) {
        subject.descriptor = Err(f);
        return subject;
    }
    let pinned = reference.and_then(|r| r.digest()).filter(|_| named.is_empty());
    if let (Some(pinned), Ok(d)) = (pinned, &subject.descriptor)
        && pinned != &d.digest
    {
        subject.descriptor = Err(Finding::new(
            Kind::IdentityMismatch,
            format!("--reference pins {pinned} but the image's manifest is {}", d.digest),
        ));
    }
    subject
}

fn descriptor_of(entry: &Entry) -> Result<Desc, Finding> {
    entry.descriptor.clone().map_err(|e| e.finding(&entry.origin))
}

/// Does `candidate` (a list line in one reading) name this stored reference?
fn names(stored: &DockerRef, candidate: &DockerRef, entry: &Entry, by_path: bool) -> bool {
    let same_repo = if by_path { stored.path() == candidate.path() } else { stored.name() == candidate.name() };
    if !same_repo {
        return false;
    }
    match (candidate.digest(), candidate.tag()) {
        (Some(d), _) => entry.digest() == Some(d),
        (None, Some(t)) => stored.tag() == Some(t),
        (None, None) => false,
    }
}

/// The entries by repository (full names), by path (names stored without a registry) and by digest, as
/// indexes into the entries in their order: a list line is matched without a pass over every entry.
struct EntryIndex<'a> {
    entries: &'a [Entry],
    by_name: HashMap<String, Vec<usize>>,
    by_path: HashMap<String, Vec<usize>>,
    by_digest: HashMap<&'a Digest, Vec<usize>>,
}

impl<'a> EntryIndex<'a> {
    fn new(entries: &'a [Entry]) -> EntryIndex<'a> {
        let mut index =
            EntryIndex { entries, by_name: HashMap::new(), by_path: HashMap::new(), by_digest: HashMap::new() };
        for (i, e) in entries.iter().enumerate() {
            for n in &e.full_names {
                index.by_name.entry(n.name().to_string()).or_default().push(i);
            }
            for n in &e.partial_names {
                index.by_path.entry(n.path().to_string()).or_default().push(i);
            }
            if let Some(d) = e.digest() {
                index.by_digest.entry(d).or_default().push(i);
            }
        }
        index
    }

    /// Every entry `candidate` names, in entry order: by full name, by path and tag where the entry stores
    /// no registry, or by digest for a digest line that no name answers.
    fn matching(&self, candidate: &DockerRef) -> Vec<&'a Entry> {
        let by_name = self.by_name.get(candidate.name().as_str()).into_iter().flatten();
        let by_path = self.by_path.get(candidate.path()).into_iter().flatten();
        let mut found: Vec<usize> = by_name
            .chain(by_path)
            .copied()
            .filter(|&i| {
                let e = &self.entries[i];
                e.full_names.iter().any(|n| names(n, candidate, e, false))
                    || e.partial_names.iter().any(|n| names(n, candidate, e, true))
            })
            .collect();
        if found.is_empty()
            && let Some(d) = candidate.digest()
        {
            found = self.by_digest.get(d).cloned().unwrap_or_default();
        }
        found.sort_unstable();
        found.dedup();
        found.into_iter().map(|i| &self.entries[i]).collect()
    }
}

fn list_line(entries: &EntryIndex, index: &NameIndex, line: &ListLine, single_unnamed: bool) -> Target {
    let candidates = line.candidates();
    let mut target = Target {
        line: Some(line.original.clone()),
        line_no: Some(line.line_no),
        display: line.hangar_ref(),
        subjects: Vec::new(),
        unresolved: Vec::new(),
    };
    for candidate in &candidates {
        let found = entries.matching(candidate);
        let bindings: Vec<Binding> = found.iter().filter_map(|e| Binding::of(e)).collect();
        let refs: Vec<&Binding> = bindings.iter().collect();
        let clash = conflict(&refs).map(|pair| ambiguous(&candidate.to_string(), &pair));
        for entry in found {
            let mut subject = Subject {
                display: candidate.to_string(),
                identities: vec![candidate.clone()],
                identity_missing_hint: false,
                descriptor: descriptor_of(entry),
                notes: entry.notes.clone(),
                origin: Some(entry.origin.clone()),
            };
            if let Some(f) = clash.clone().or_else(|| index.entry_ambiguity(entry)) {
                subject.descriptor = Err(f);
            }
            if !target.subjects.iter().any(|s| same_image(s, &subject)) {
                target.subjects.push(subject);
            }
        }
    }
    if target.subjects.is_empty() && single_unnamed {
        let entry = &entries.entries[0];
        let identities: Vec<DockerRef> = candidates.first().cloned().into_iter().collect();
        target.subjects.push(Subject {
            display: identities.first().map_or_else(|| line.hangar_ref(), |r| r.to_string()),
            identities,
            identity_missing_hint: false,
            descriptor: descriptor_of(entry),
            notes: entry.notes.clone(),
            origin: Some(entry.origin.clone()),
        });
    }
    if target.subjects.is_empty() {
        target.unresolved = candidates;
    }
    target
}

/// Two matches that are the same stored image (the same digest: identical duplicates are one image, read
/// from the first PATH that holds it), or the same ambiguity, are verified once.
fn same_image(a: &Subject, b: &Subject) -> bool {
    match (&a.descriptor, &b.descriptor) {
        (Ok(x), Ok(y)) => x.digest == y.digest,
        (Err(x), Err(y)) => x == y && a.display == b.display,
        _ => false,
    }
}

impl Target {
    /// The finding for a target nothing answered.
    pub fn missing() -> Finding {
        Finding::new(Kind::Missing, "not in the source")
    }

    /// Resolves a list line no entry answered through the source (a registry's tags). Called by the
    /// engine on the worker verifying the image, so the per-image deadline covers the resolve. Every
    /// reading that exists is verified; a 404 on one of them means "try the other".
    pub fn resolve(&self, source: &dyn Source) -> Vec<Subject> {
        let mut subjects: Vec<Subject> = Vec::new();
        for c in &self.unresolved {
            let descriptor = match source.resolve(c) {
                Ok(Some(desc)) => Ok(desc),
                Ok(None) => continue,
                Err(e) => Err(e.finding(&c.to_string())),
            };
            subjects.push(Subject {
                display: c.to_string(),
                identities: vec![c.clone()],
                identity_missing_hint: false,
                descriptor,
                notes: Vec::new(),
                origin: None,
            });
        }
        subjects
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::OCI_MANIFEST;

    fn entry(names: &[&str], partial: &[&str], byte: u8, origin: &str) -> Entry {
        let mut e = Entry::new(origin.into(), Ok(Desc::new(OCI_MANIFEST, Digest::sha256_of(&[byte]), 1)));
        e.full_names = names.iter().map(|n| DockerRef::parse(n).unwrap()).collect();
        e.partial_names = partial.iter().map(|n| DockerRef::parse(n).unwrap()).collect();
        e
    }

    #[test]
    fn a_name_bound_to_two_digests_is_ambiguous() {
        let entries = [entry(&["reg.example/app:1"], &[], 1, "a"), entry(&["reg.example/app:1"], &[], 2, "b")];
        let index = NameIndex::new(&entries);
        let f = index.entry_ambiguity(&entries[0]).unwrap();
        assert_eq!(f.kind, Kind::Malformed);
        assert!(f.message.contains("ambiguous: reg.example/app:1 is sha256:"), "{}", f.message);
        assert!(f.message.contains(" in a and sha256:") && f.message.ends_with("load)"), "{}", f.message);
    }

    #[test]
    fn identical_duplicates_are_one_image() {
        let entries = [entry(&["reg.example/app:1"], &[], 1, "a"), entry(&["reg.example/app:1"], &[], 1, "b")];
        assert!(NameIndex::new(&entries).entry_ambiguity(&entries[0]).is_none());
    }

    #[test]
    fn a_partial_name_conflicts_with_a_full_name_of_the_same_path() {
        let entries = [entry(&["reg.example/ns/app:1"], &[], 1, "a"), entry(&[], &["ns/app:1"], 2, "a")];
        let index = NameIndex::new(&entries);
        assert!(index.entry_ambiguity(&entries[0]).is_some());
        assert!(index.entry_ambiguity(&entries[1]).is_some());
    }
}
