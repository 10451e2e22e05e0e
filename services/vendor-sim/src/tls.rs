//! vendor-sim over TLS, as the vendors are (`vendor_sim.tls_cert_file` and `tls_key_file`): the
//! HTTP/1.1 APIs on `listen`, and APNs on `apns_listen`, where, as at Apple, a client gets
//! HTTP/2 only by offering `h2` in ALPN.

use pushmesh_runtime::SettingsError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The server's certificate chain and key, read once.
#[derive(Clone)]
pub struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl Identity {
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, SettingsError> {
        let invalid = |key: &str, path: &Path, e: &dyn std::fmt::Display| {
            SettingsError::invalid(key, format!("{}: {e}", path.display()))
        };
        let certs = CertificateDer::pem_file_iter(cert_file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| invalid("vendor_sim.tls_cert_file", cert_file, &e))?;
        if certs.is_empty() {
            let e = "holds no PEM certificate";
            return Err(invalid("vendor_sim.tls_cert_file", cert_file, &e));
        }
        let key = PrivateKeyDer::from_pem_file(key_file)
            .map_err(|e| invalid("vendor_sim.tls_key_file", key_file, &e))?;
        Ok(Identity {
            certs,
            key: Arc::new(key),
        })
    }

    /// A server configuration that offers these application protocols in ALPN.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, SettingsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(self.certs.clone(), self.key.clone_key())
            })
            .map_err(|e| SettingsError::invalid("vendor_sim.tls_key_file", e.to_string()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}
