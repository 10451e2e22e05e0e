//! What an operator sees: health, readiness, metrics; and vendor-sim refusing bad credentials.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_contract::Vendor;
use pushmesh_tests::Mesh;

#[actix_rt::test]
async fn services_report_health_readiness_and_metrics() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("tok-bob", "bob").await;
    mesh.peer_message("m", "alice", "bob").await;
    mesh.outcome("m", "bob", OutcomeStatus::Delivered).await;

    for path in ["/healthz", "/readyz"] {
        let r = mesh
            .http
            .get(format!("{}{path}", mesh.registry))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let metrics = mesh
        .http
        .get(format!("{}/metrics", mesh.registry))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("pushmesh_registry_pushes_total{vendor=\"fcm\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("pushmesh_registry_recipients_total{result=\"device\"} 1"));
    // The stage loop's own figures, per queue: the job's batch was taken, handled and settled.
    let value = |name: &str| -> f64 {
        let prefix = format!("{name}{{queue=\"pushmesh.registry.0\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {metrics}"))
    };
    assert!(value("pushmesh_stage_batches_total") >= 1.0);
    assert!(value("pushmesh_stage_deliveries_total") >= value("pushmesh_stage_batches_total"));
    assert!(value("pushmesh_stage_batch_handle_seconds_count") >= 1.0);
    assert!(value("pushmesh_stage_batch_settle_seconds_count") >= 1.0);
    // How long the job waited between presence publishing it and the registry taking it: in
    // seconds, so well under a minute here.
    assert!(value("pushmesh_stage_queue_wait_seconds_count") >= 1.0);
    let waited = value("pushmesh_stage_queue_wait_seconds_sum");
    assert!(waited > 0.0 && waited < 60.0, "waited {waited} s");

    // A dispatcher's families carry its vendor as a label, so one query covers every vendor.
    let fcm = mesh.dispatcher(Vendor::Fcm);
    let delivered = "pushmesh_dispatch_outcomes_total{status=\"delivered\",vendor=\"fcm\"}";
    assert_eq!(mesh.metric(&fcm, delivered).await, 1.0);
    let requests = "pushmesh_dispatch_request_duration_seconds_count{vendor=\"fcm\"}";
    assert_eq!(mesh.metric(&fcm, requests).await, 1.0);

    // Ingest recorded the message id: the bucket it went to has a filter in memory, and the
    // gauge (read every 5 s) shows it.
    let filter_bytes = || mesh.metric(&mesh.ingest, "pushmesh_ingest_dedup_filter_bytes");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while filter_bytes().await == 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no dedup filter after 15 s"
        );
        actix_rt::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[actix_rt::test]
async fn vendor_sim_refuses_an_assertion_it_cannot_verify() {
    let mesh = Mesh::start().await;
    // A JWT signed by someone else: header and claims are fine, the signature is not.
    let forged = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ4IiwiYXVkIjoiaHR0cHM6Ly9vYXV0aDIuZ29vZ2xlYXBpcy5jb20vdG9rZW4iLCJzY29wZSI6Imh0dHBzOi8vd3d3Lmdvb2dsZWFwaXMuY29tL2F1dGgvZmlyZWJhc2UubWVzc2FnaW5nIiwiaWF0IjoxLCJleHAiOjQwMDAwMDAwMDB9.c2lnbmF0dXJl";
    let resp = mesh
        .http
        .post(format!("{}/fcm/token", mesh.sim))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", forged),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    let send = mesh
        .http
        .post(format!(
            "{}/fcm/v1/projects/pushmesh-demo/messages:send",
            mesh.sim
        ))
        .bearer_auth("ya29.made-up")
        .json(&serde_json::json!({"message": {"token": "t"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(send.status(), 401);
    let body: serde_json::Value = send.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
}
