//! TLS as production has it: the broker over amqps and the vendors over https (APNs: HTTP/2 by
//! ALPN), each with a certificate from a CA the test makes and the services trust by a setting;
//! a CA that did not sign the certificate is refused with an error that says so.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_dispatch::support::{http_client_with, read_answer};
use pushmesh_dispatch::Attempt;
use pushmesh_runtime::settings::AmqpSettings;
use pushmesh_tests::{BrokerTls, Mesh, MeshOptions, TestCa};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// The vhost's connections as RabbitMQ lists them: (the broker's port, over TLS).
/// (`list_connections` lists the whole node's, whatever `-p` says.)
fn connections(vhost: &str) -> Vec<(u16, bool)> {
    let out = Command::new("rabbitmqctl")
        .args([
            "-q",
            "--no-table-headers",
            "list_connections",
            "vhost",
            "port",
            "ssl",
        ])
        .output()
        .expect("rabbitmqctl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| match l.split('\t').collect::<Vec<_>>()[..] {
            [v, port, ssl] if v == vhost => Some((port.parse().ok()?, ssl == "true")),
            _ => None,
        })
        .collect()
}

#[actix_rt::test]
async fn the_mesh_runs_over_amqps_and_a_broker_with_an_unknown_ca_is_refused() {
    let ca = Arc::new(TestCa::new());
    let broker = Arc::new(BrokerTls::start(&ca));
    let mesh = Mesh::start_with(MeshOptions {
        amqps: Some((broker.clone(), ca.clone())),
        ..Default::default()
    })
    .await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.peer_message("over-amqps", "alice", "bob").await;
    mesh.outcome("over-amqps", "bob", OutcomeStatus::Delivered)
        .await;
    // Every service's connection is TLS, on the TLS listener; the test's own is the only other.
    let seen = connections(&mesh.vhost.name);
    let (over_tls, plain): (Vec<_>, Vec<_>) =
        seen.iter().partition(|(port, _)| *port == broker.port);
    assert!(
        over_tls.len() >= 10,
        "ingest, presence, registry, 7 dispatchers: {seen:?}"
    );
    assert!(over_tls.iter().all(|(_, ssl)| *ssl), "{seen:?}");
    assert_eq!(
        plain.len(),
        1,
        "only the test's own connection is plain: {seen:?}"
    );

    let stranger = TestCa::new();
    let amqp = AmqpSettings {
        url: broker.url(&mesh.vhost),
        ca_file: Some(stranger.ca_file.clone()),
        prefetch: 1,
    };
    let refused = pushmesh_runtime::amqp::open(&amqp, Default::default()).await;
    let Err(error) = refused else {
        panic!("a broker whose CA we do not trust was accepted");
    };
    let error = error.to_string();
    assert!(
        error.contains("invalid peer certificate: UnknownIssuer"),
        "{error}"
    );
}

fn apns_token() -> String {
    format!("{:064x}", 42)
}

#[actix_rt::test]
async fn vendors_over_https_trust_the_configured_ca_and_apns_speaks_h2_by_alpn() {
    let ca = Arc::new(TestCa::new());
    let mesh = Mesh::start_with(MeshOptions {
        vendor_tls: Some(ca.clone()),
        ..Default::default()
    })
    .await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.device("huawei", "hw-carol", "carol").await;
    mesh.device("apns", &apns_token(), "dave").await;
    for (id, user) in [
        ("to-bob", "bob"),
        ("to-carol", "carol"),
        ("to-dave", "dave"),
    ] {
        mesh.peer_message(id, "alice", user).await;
        mesh.outcome(id, user, OutcomeStatus::Delivered).await;
    }
    assert_eq!(mesh.fcm_messages_to("tok-bob").await.len(), 1);

    // A client that trusts another CA: the handshake fails, and the detail says why.
    let stranger = std::fs::read_to_string(&TestCa::new().ca_file).unwrap();
    for (url, http2_only) in [
        (format!("{}/healthz", mesh.sim), false),
        (mesh.sim_apns(), true),
    ] {
        let client =
            http_client_with(Duration::from_secs(5), 1, http2_only, Some(&stranger)).unwrap();
        let Err(Attempt::Retry { detail, .. }) =
            read_answer("vendor", client.get(&url).send().await).await
        else {
            panic!("{url}: a certificate from an unknown CA was accepted");
        };
        assert!(
            detail.contains("invalid peer certificate: UnknownIssuer"),
            "{url}: {detail}"
        );
    }
    // APNs serves HTTP/2 only, chosen by ALPN: a client that offers HTTP/1.1 alone gets nothing.
    let trusted = std::fs::read_to_string(&ca.ca_file).unwrap();
    let http1 = reqwest::Client::builder()
        .http1_only()
        .add_root_certificate(reqwest::Certificate::from_pem(trusted.as_bytes()).unwrap())
        .build()
        .unwrap();
    let answer = http1.get(mesh.sim_apns()).send().await;
    assert!(answer.is_err(), "APNs answered HTTP/1.1: {answer:?}");
}
