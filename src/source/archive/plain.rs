//! Plain tar: random access, so entries are indexed (their data skipped) and hashed in parallel later.

use super::*;

impl ArchiveTree {
    /// Indexes a plain tar without reading file data.
    pub(super) fn index_plain(&mut self) -> io::Result<()> {
        let reader = PartsReader::open(&self.parts)?;
        let total = reader.total;
        let mut archive = tar::Archive::new(reader);
        let mut last = String::from("(start of archive)");
        let mut data_end = 0u64;
        let entries = archive.entries_with_seek()?;
        let mut pending: Vec<(String, TarFile)> = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.damaged(&last, SourceError::Malformed(format!("archive damaged after entry {last}: {e}")));
                    break;
                }
            };
            let Some(name) = self.admit(&entry.path_bytes(), entry.header().entry_type(), &last) else { continue };
            last = name.clone();
            if pending.len() >= MAX_ENTRIES {
                self.damaged(&name, SourceError::Malformed(format!("more than {MAX_ENTRIES} entries")));
                break;
            }
            let (offset, size) = (entry.raw_file_position(), entry.size());
            data_end = offset + size.div_ceil(512) * 512;
            if offset.checked_add(size).is_none_or(|end| end > total) {
                self.damaged(&name, SourceError::Malformed(format!("{name}: archive truncated inside this entry")));
                break;
            }
            pending.push((name, TarFile { size, offset, digest: None, data: None, spooled: None }));
        }
        drop(archive);
        if self.damage.is_empty() && !self.zero_blocks_at(data_end)? {
            self.end_marker_missing(&last);
        }
        for (name, file) in pending {
            if let Some(existing) = self.files.get(&name) {
                let same = existing.size == file.size
                    && self.hash_range(existing.offset, existing.size).ok()
                        == self.hash_range(file.offset, file.size).ok();
                if !same {
                    self.damaged(
                        &name,
                        SourceError::Malformed(format!("{name}: duplicate entry with different content")),
                    );
                }
                continue;
            }
            self.files.insert(name, file);
        }
        Ok(())
    }

    /// Whether two zero blocks (the end-of-archive marker) follow `at`.
    pub(super) fn zero_blocks_at(&self, at: u64) -> io::Result<bool> {
        let mut r = PartsReader::open(&self.parts)?;
        r.seek(SeekFrom::Start(at))?;
        let mut marker = Vec::with_capacity(1024);
        r.take(1024).read_to_end(&mut marker)?;
        Ok(marker.len() == 1024 && marker.iter().all(|&b| b == 0))
    }

    pub(super) fn hash_range(&self, offset: u64, size: u64) -> io::Result<Digest> {
        let mut r = PartsReader::open(&self.parts)?;
        r.seek(SeekFrom::Start(offset))?;
        Hasher::of_reader(Algorithm::Sha256, r.take(size))
    }
}
