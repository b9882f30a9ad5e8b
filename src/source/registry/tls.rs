//! TLS for registry hosts as podman and skopeo do it (SPEC §5.3): the system roots, `--cert-dir`, and the
//! host's own `/etc/containers/certs.d/HOST[:PORT]/` and `/etc/docker/certs.d/HOST[:PORT]/` certificates;
//! a certificate placed there is trusted as itself even when it is the server's own self-signed leaf
//! (Go's rule: a certificate in the pool is a trust anchor). A ureq connector, so the verifier is ours.

use super::client::HttpConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ureq::Agent;
use ureq::tls::TlsConfig;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};

/// Where containers and docker keep per-registry certificates.
const CERTS_D: [&str; 2] = ["/etc/containers/certs.d", "/etc/docker/certs.d"];

/// The certificates a host is checked against: the system roots and every certificate configured for it.
pub struct HostCerts {
    pub roots: Vec<CertificateDer<'static>>,
    /// Certificates an operator placed for this host (`--cert-dir`, `certs.d`): each is trusted as itself.
    pub pinned: Vec<CertificateDer<'static>>,
}

/// `*.crt` (and `ca.crt`) in the host's `certs.d` folders, beside the `--cert-dir` certificates.
pub fn host_certs(host: &str, system: &[CertificateDer<'static>], cert_dir: &[CertificateDer<'static>]) -> HostCerts {
    host_certs_under(&CERTS_D.map(Path::new), host, system, cert_dir)
}

fn host_certs_under(
    bases: &[&Path],
    host: &str,
    system: &[CertificateDer<'static>],
    cert_dir: &[CertificateDer<'static>],
) -> HostCerts {
    let mut pinned = cert_dir.to_vec();
    for base in bases {
        pinned.extend(certs_in(&base.join(host)));
    }
    let mut roots = system.to_vec();
    roots.extend(pinned.iter().cloned());
    HostCerts { roots, pinned }
}

/// Every PEM certificate of the `*.crt` files in `dir` (none when it does not exist).
pub fn certs_in(dir: &Path) -> Vec<CertificateDer<'static>> {
    let Ok(listing) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        listing.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "crt")).collect();
    files.sort();
    files.iter().filter_map(|f| std::fs::read(f).ok()).flat_map(|pem| pem_certs(&pem)).collect()
}

pub fn pem_certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(CertificateDer::from(c.der().to_vec())),
            _ => None,
        })
        .collect()
}

/// The rustls client configuration for one host.
pub fn client_config(certs: &HostCerts) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(certs.roots.iter().cloned());
    // No roots at all (no system bundle, nothing configured): only pinned certificates can pass.
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone()).build().ok();
    let verifier = Arc::new(PinningVerifier { webpki, pinned: certs.pinned.clone(), provider: provider.clone() });
    // aws-lc-rs supports every safe default version: this builder cannot fail with it.
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| unreachable!("aws-lc-rs supports TLS 1.2 and 1.3"));
    Arc::new(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

/// webpki's verification, and Go's: a leaf that is itself one of the configured certificates is trusted,
/// when it names the host and is within its validity period.
#[derive(Debug)]
struct PinningVerifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    pinned: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.webpki {
            Some(w) => w.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
        };
        if verdict.is_ok() || !self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            return verdict;
        }
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))?;
        if !within_validity(end_entity, now) {
            return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Expired));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn within_validity(der: &[u8], now: UnixTime) -> bool {
    use der::Decode;
    let Ok(cert) = x509_cert::Certificate::from_der(der) else { return false };
    let validity = &cert.tbs_certificate().validity();
    let now = now.as_secs();
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    not_before <= now && now <= not_after
}

/// TLS over the TCP transport of the connector chain, with our client configuration.
#[derive(Debug)]
pub struct TlsConnector {
    pub config: Arc<ClientConfig>,
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else { return Ok(None) };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|_| ureq::Error::Tls("invalid TLS server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(TlsTransport { buffers, stream: StreamOwned { conn, sock } })))
    }
}

pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

fn agent_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION")))
}

/// An agent that verifies the host's certificate with its own roots and pinned certificates (`tls.rs`);
/// `certs.d` folders are named by `host:port`, or by the host alone.
pub(super) fn verifying_agent(name: &str, config: &HttpConfig) -> Agent {
    use ureq::unversioned::transport::{ConnectProxyConnector, Connector, TcpConnector};
    let mut certs = host_certs(name, &config.system_roots, &config.cert_dir);
    if let Some((host, _)) = name.split_once(':') {
        let bare = host_certs(host, &[], &[]).pinned;
        certs.roots.extend(bare.iter().cloned());
        certs.pinned.extend(bare);
    }
    let tls = client_config(&certs);
    let connector = ConnectProxyConnector::default().chain(TcpConnector::default()).chain(TlsConnector { config: tls });
    Agent::with_parts(agent_config().build(), connector, ureq::unversioned::resolver::DefaultResolver::default())
}

/// `--tls-verify=false`: any certificate, and plain HTTP.
pub(super) fn insecure_agent() -> Agent {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = TlsConfig::builder().disable_verification(true).unversioned_rustls_crypto_provider(provider).build();
    agent_config().tls_config(tls).build().into()
}

/// The system roots (`$SSL_CERT_FILE`, else Debian's bundle).
pub fn system_roots() -> Vec<CertificateDer<'static>> {
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    std::fs::read(&system).map(|pem| pem_certs(&pem)).unwrap_or_default()
}

/// Every `*.crt` in `--cert-dir` (an error when there is none, or one holds no certificate).
pub fn cert_dir(dir: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let listing = std::fs::read_dir(dir).map_err(|e| format!("--cert-dir {}: {e}", dir.display()))?;
    let mut found = Vec::new();
    for entry in listing.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "crt") {
            let pem = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let certs = pem_certs(&pem);
            if certs.is_empty() {
                return Err(format!("{}: no PEM certificate", path.display()));
            }
            found.extend(certs);
        }
    }
    if found.is_empty() {
        return Err(format!("--cert-dir {}: no *.crt certificate", dir.display()));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_d_folders_are_read_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let pem = std::fs::read("testdata/policy-matrix/keys/ca.pem").unwrap();
        assert_eq!(pem_certs(&pem).len(), 1);
        let host = dir.path().join("reg.example:5000");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("ca.crt"), &pem).unwrap();
        std::fs::write(host.join("client.cert"), &pem).unwrap();
        let found = host_certs_under(&[dir.path()], "reg.example:5000", &[], &[]);
        assert_eq!(found.pinned.len(), 1, "only *.crt files");
        assert_eq!(found.roots.len(), 1);
        assert!(host_certs_under(&[dir.path()], "other.example", &[], &[]).pinned.is_empty());
    }
}
