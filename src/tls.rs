//! HTTPS at the gate. Phones open their camera only on a secure page, so a
//! gate that guards scan with a phone needs https on the LAN, where no
//! public certificate authority can vouch for it. `init` therefore makes a
//! self-signed certificate (ECDSA P-256, rcgen) in `tls/` of the data
//! directory; `[gate] tls = "self-signed"` serves it, and its SHA-256
//! fingerprint (`gatepass tls show`, the committee page) is what a guard
//! compares once when the phone warns about it. `tls_cert` / `tls_key`
//! serve a certificate from elsewhere (a local CA) instead.
//!
//! The daemon keeps one port: a connection that opens with a TLS handshake
//! is served over TLS; a plain HTTP one is served as before for the API
//! (scripts, the district's pull) and redirected to https for pages.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate and key made at `init`, under the data directory.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let d = data_dir.join("tls");
    (d.join("cert.pem"), d.join("key.pem"))
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make the self-signed certificate: {0}")]
    Generate(String),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key (PKCS#8, RSA or EC)")]
    NoKey { path: PathBuf },
    #[error("the certificate and key do not go together, or the key type is not supported: {0}")]
    Mismatch(String),
}

/// Makes a self-signed certificate for `names` (DNS names or IP addresses)
/// unless one is already there. Returns whether it made one.
pub fn ensure_self_signed(data_dir: &Path, names: &[String]) -> Result<bool, TlsError> {
    let (cert_path, key_path) = self_signed_paths(data_dir);
    if cert_path.exists() && key_path.exists() {
        return Ok(false);
    }
    let mut names: Vec<String> = names.iter().filter(|n| !n.trim().is_empty()).cloned().collect();
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).map_err(|source| TlsError::Write { path: dir.clone(), source })?;
    write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())?;
    write_private(&cert_path, certified.cert.pem().as_bytes())?;
    Ok(true)
}

/// The names a gate's certificate is made for: this machine's host name
/// (and its `.local` mDNS name) and the gate's name where it is a valid
/// DNS label; `ensure_self_signed` adds localhost. Guards reach the gate by
/// its LAN address, which no self-signed certificate can promise, so the
/// fingerprint is what they compare.
pub fn default_names(gate: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if is_dns_label(h) {
            out.push(h.to_string());
            out.push(format!("{h}.local"));
        }
    }
    if is_dns_label(gate) && !out.iter().any(|n| n == gate) {
        out.push(gate.to_string());
    }
    out
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Written whole then renamed, owner-only (the key is a secret).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let err = |source| TlsError::Write { path: path.to_path_buf(), source };
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Certificate files are small; a bigger one is not a certificate.
const MAX_PEM_BYTES: u64 = 256 * 1024;

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let err = |source| TlsError::Read { path: path.to_path_buf(), source };
    let f = std::fs::File::open(path).map_err(err)?;
    let mut buf = Vec::new();
    f.take(MAX_PEM_BYTES).read_to_end(&mut buf).map_err(err)?;
    Ok(buf)
}

/// What `gatepass tls show` and the committee page tell about a certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertInfo {
    pub cert: PathBuf,
    /// SHA-256 of the certificate (DER), as `AB:CD:...`: what a browser's
    /// certificate viewer shows, for comparing by eye.
    pub fingerprint_sha256: String,
}

pub fn fingerprint(der: &[u8]) -> String {
    let d = Sha256::digest(der);
    d.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The leaf certificate of `cert_path`.
pub fn cert_info(cert_path: &Path) -> Result<CertInfo, TlsError> {
    let chain = certificates(cert_path)?;
    let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate { path: cert_path.to_path_buf() })?;
    Ok(CertInfo { cert: cert_path.to_path_buf(), fingerprint_sha256: fingerprint(leaf.as_ref()) })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_path_buf() });
    }
    Ok(certs)
}

/// A server configuration for the certificate and key files (HTTP/1.1).
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = certificates(cert_path)?;
    let key_pem = read_pem(key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey { path: key_path.to_path_buf() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// What the gate serves: `gatepass tls show`, `GET /api/v1/tls`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsStatus {
    /// `off`, `self-signed` or `files`.
    pub mode: &'static str,
    /// The certificate served, or with TLS off the one made at `init`
    /// (ready for `tls = "self-signed"`); none if there is none.
    pub certificate: Option<CertInfo>,
    /// Why the certificate could not be read, if it could not.
    pub problem: Option<String>,
}

pub fn status(data_dir: &Path, gate: &crate::config::GateSection) -> TlsStatus {
    use crate::config::TlsSource;
    let (mode, cert) = match gate.tls_source() {
        None => ("off", self_signed_paths(data_dir).0),
        Some(TlsSource::SelfSigned) => ("self-signed", self_signed_paths(data_dir).0),
        Some(TlsSource::Files { cert, .. }) => ("files", data_dir.join(cert)),
    };
    if mode == "off" && !cert.exists() {
        return TlsStatus { mode, certificate: None, problem: None };
    }
    match cert_info(&cert) {
        Ok(c) => TlsStatus { mode, certificate: Some(c), problem: None },
        Err(e) => TlsStatus { mode, certificate: None, problem: Some(e.to_string()) },
    }
}

/// Does a connection's first byte open a TLS handshake (a record of type
/// 22)? No HTTP method starts with that byte.
pub fn is_tls_hello(first: u8) -> bool {
    first == 0x16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_once_and_serves_what_it_made() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure_self_signed(dir.path(), &["gate.local".into()]).unwrap());
        let (cert, key) = self_signed_paths(dir.path());
        let first = cert_info(&cert).unwrap();
        // a second call keeps the certificate guards already compared
        assert!(!ensure_self_signed(dir.path(), &[]).unwrap());
        assert_eq!(cert_info(&cert).unwrap().fingerprint_sha256, first.fingerprint_sha256);
        assert_eq!(first.fingerprint_sha256.len(), 32 * 3 - 1);
        assert!(server_config(&cert, &key).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn wrong_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        assert!(matches!(cert_info(&junk), Err(TlsError::NoCertificate { .. })));
        assert!(matches!(cert_info(&dir.path().join("missing.pem")), Err(TlsError::Read { .. })));
        ensure_self_signed(dir.path(), &[]).unwrap();
        let (cert, _) = self_signed_paths(dir.path());
        assert!(matches!(server_config(&cert, &junk), Err(TlsError::NoKey { .. })));
        // another certificate's key
        let other = tempfile::tempdir().unwrap();
        ensure_self_signed(other.path(), &[]).unwrap();
        let (_, other_key) = self_signed_paths(other.path());
        assert!(matches!(server_config(&cert, &other_key), Err(TlsError::Mismatch(_))));
    }

    #[test]
    fn a_handshake_is_told_from_http() {
        assert!(is_tls_hello(0x16));
        for m in ["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH"] {
            assert!(!is_tls_hello(m.as_bytes()[0]));
        }
    }
}
