//! Referrers: the OCI 1.1 API (paginated, bounded), learnt once per host, or the `sha256-<hex>` tag
//! fallback cosign writes where the API is missing.

use super::Registry;
use super::client::{Body, Want};
use super::errors::{is_not_found, status_error};
use crate::digest::Digest;
use crate::oci::manifest::{self, Document};
use crate::oci::{Desc, METADATA_LIMIT, OCI_INDEX};
use crate::reference::DockerRef;
use crate::source::SourceError;

/// At most this many referrers are listed for one digest (SPEC §8), over at most this many pages.
const MAX_REFERRERS: usize = 1000;
const MAX_PAGES: usize = 20;

/// Descriptors of an index body (referrers API answer or fallback tag).
fn index_manifests(bytes: &[u8], what: &str) -> Result<Vec<Desc>, SourceError> {
    match manifest::parse(bytes, OCI_INDEX) {
        Ok(Document::Index(i)) => Ok(i.manifests),
        Ok(Document::Manifest(_)) => Err(SourceError::Malformed(format!("{what}: not an index"))),
        Err(e) => Err(SourceError::Malformed(format!("{what}: {e}"))),
    }
}

impl Registry {
    pub(super) fn referrers_of(&self, repo: Option<&DockerRef>, digest: &Digest) -> Result<Vec<Desc>, SourceError> {
        let (r, path) = Self::repo_path(repo)?;
        let host = self.host(r);
        let url_path = format!("/v2/{path}/referrers/{digest}");
        let known = *host.referrers_api.lock().unwrap_or_else(|p| p.into_inner());
        if known == Some(false) {
            return self.referrers_by_tag(r, &path, digest);
        }
        let resp = host.request(false, &url_path, OCI_INDEX, &path, Want::Bytes(METADATA_LIMIT))?;
        let api = resp.status == 200 && resp.content_type.as_deref() == Some(OCI_INDEX);
        if known.is_none() && (api || matches!(resp.status, 404 | 400 | 406)) {
            *host.referrers_api.lock().unwrap_or_else(|p| p.into_inner()) = Some(api);
        }
        if api {
            let mut found = Vec::new();
            let mut page = resp;
            for pages in 1.. {
                let Body::Bytes(bytes) = page.body else { break };
                found.extend(index_manifests(&bytes, &url_path)?);
                if found.len() > MAX_REFERRERS {
                    return Err(SourceError::Malformed(format!("{url_path}: more than {MAX_REFERRERS} referrers")));
                }
                let Some(next) = page.next else { break };
                if pages >= MAX_PAGES || !next.starts_with("/v2/") {
                    return Err(SourceError::Malformed(format!(
                        "{url_path}: referrers pagination beyond {MAX_PAGES} pages or to another host ({next})"
                    )));
                }
                page = host.request(false, &next, OCI_INDEX, &path, Want::Bytes(METADATA_LIMIT))?;
                if page.status != 200 {
                    return Err(status_error(&format!("{}{next}", host.name), &page));
                }
            }
            return Ok(found);
        }
        if !(is_not_found(&resp) || matches!(resp.status, 400 | 406) || resp.status == 200) {
            return Err(status_error(&format!("{}{url_path}", host.name), &resp));
        }
        self.referrers_by_tag(r, &path, digest)
    }

    /// No referrers API: the `sha256-<hex>` fallback tag.
    fn referrers_by_tag(&self, r: &DockerRef, path: &str, digest: &Digest) -> Result<Vec<Desc>, SourceError> {
        let tag = digest.referrers_tag();
        let Some(desc) = self.get_manifest(r, path, &tag)? else { return Ok(Vec::new()) };
        let what = format!("{r}:{tag}");
        let bytes = self.fetched(&desc.digest, &what)?;
        let found = index_manifests(&bytes, &what)?;
        if found.len() > MAX_REFERRERS {
            return Err(SourceError::Malformed(format!("{tag}: more than {MAX_REFERRERS} referrers")));
        }
        Ok(found)
    }
}
