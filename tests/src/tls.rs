//! TLS the way production has it, made per test: a CA of the test's own, a certificate it signed
//! for 127.0.0.1 and localhost, and a TLS listener of the local RabbitMQ that presents it.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

/// A CA and a server certificate it signed, as PEM files in a folder of their own.
pub struct TestCa {
    _dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestCa {
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: two test CAs must not pass for each other.
        let name = format!("pushmesh test CA {}", uuid::Uuid::new_v4().simple());
        ca.distinguished_name.push(DnType::CommonName, name);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("the CA signs itself");
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().expect("a server key");
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let mut leaf = CertificateParams::new(names).expect("server params");
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf
            .signed_by(&key, &issuer)
            .expect("the CA signs the server");

        // RabbitMQ runs as its own user: it must read these (test keys, nothing else).
        let dir = tempfile::tempdir().expect("a folder for the certificates");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("write a PEM file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            path
        };
        TestCa {
            ca_file: write("ca.pem", ca_cert.pem()),
            cert_file: write("server.pem", cert.pem()),
            key_file: write("server.key", key.serialize_pem()),
            _dir: dir,
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A TLS (amqps) listener of the local RabbitMQ on a spare port, presenting `ca`'s server
/// certificate; started at runtime, so the broker's other listeners are untouched, and stopped
/// on drop.
pub struct BrokerTls {
    pub port: u16,
}

fn eval(expression: &str) -> String {
    let out = Command::new("rabbitmqctl")
        .args(["-q", "eval", expression])
        .output()
        .expect("rabbitmqctl runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl BrokerTls {
    pub fn start(ca: &TestCa) -> Self {
        let port = crate::config::free_port();
        let expression = format!(
            r#"{{ok,_}} = application:ensure_all_started(ssl),
               rabbit_networking:start_ssl_listener({{"127.0.0.1",{port}}},
                 [{{cacertfile,"{ca}"}},{{certfile,"{cert}"}},{{keyfile,"{key}"}},
                  {{verify,verify_none}},{{fail_if_no_peer_cert,false}}], 1)."#,
            ca = ca.ca_file.display(),
            cert = ca.cert_file.display(),
            key = ca.key_file.display(),
        );
        // rabbitmqctl eval exits 0 whatever the call returned: its answer says.
        let answer = eval(&expression);
        assert_eq!(
            answer, "ok",
            "RabbitMQ's TLS listener on {port} did not start"
        );
        BrokerTls { port }
    }

    /// An amqps URL of `vhost` on this listener.
    pub fn url(&self, vhost: &crate::Vhost) -> String {
        format!("amqps://guest:guest@127.0.0.1:{}/{}", self.port, vhost.name)
    }
}

impl Drop for BrokerTls {
    fn drop(&mut self) {
        eval(&format!(
            r#"rabbit_networking:stop_tcp_listener({{"127.0.0.1",{}}})."#,
            self.port
        ));
    }
}
