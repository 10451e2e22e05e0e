//! The private CAs an operator adds to the public roots: the broker's (`amqp.ca_file`) and the
//! vendor endpoints' (`dispatch.ca_file`, for a TLS-inspecting proxy or a test vendor).

use std::path::Path;

/// The PEM text of a CA file, or why it is unusable (a file without a certificate would
/// otherwise be ignored, and every TLS handshake fail later with a less clear error).
pub fn read_ca(path: &Path) -> Result<String, String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!("{}: holds no PEM certificate", path.display()));
    }
    Ok(pem)
}
