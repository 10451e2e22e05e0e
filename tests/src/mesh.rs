//! One whole mesh for one test (see the crate docs).

use crate::config::{settings_toml, Ports};
use crate::{wait_for, BrokerTls, TestCa, Vhost};
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use pushmesh_contract::public::{Outcome, OutcomeStatus};
use pushmesh_contract::Vendor;
use pushmesh_dispatch::VendorApi;
use pushmesh_runtime::{Settings, Shutdown};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct MeshOptions {
    /// Services to run as real processes instead of in this test (`ingest`, `presence`,
    /// `registry`, `dispatch-fcm`), started with [`Mesh::start_process`].
    pub processes: &'static [&'static str],
    /// TOML appended to the test settings (sections not already present; a `[batch]` or `[api]`
    /// section replaces the test's).
    pub extra_toml: String,
    /// The demo app's API keys file, when not the fixtures'.
    pub api_keys_file: Option<std::path::PathBuf>,
    /// vendor-sim serves every vendor over TLS with this CA's certificate, which the
    /// dispatchers trust (`dispatch.ca_file`); the test's own requests to vendor-sim too.
    pub vendor_tls: Option<Arc<TestCa>>,
    /// Every service reaches the broker over amqps on this listener, trusting this CA.
    pub amqps: Option<(Arc<BrokerTls>, Arc<TestCa>)>,
    /// Environment for the services run as processes (settings overrides, `PUSHMESH__...`).
    pub process_env: &'static [(&'static str, &'static str)],
}

pub struct Mesh {
    pub vhost: Vhost,
    pub dir: tempfile::TempDir,
    pub sim: String,
    pub ingest: String,
    pub registry: String,
    pub http: reqwest::Client,
    pub settings_toml: String,
    channel: Channel,
    conn: Connection,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    shutdown: Shutdown,
    pub(crate) processes: std::collections::HashMap<&'static str, Child>,
    pub(crate) process_env: &'static [(&'static str, &'static str)],
    pub(crate) ports: Ports,
}

/// The fixed ports of one mesh (processes need them known before they start).
const APP: &str = "demo";

/// Runs a dispatcher in this test's actix system; returns its port.
/// Starts `vendor`'s dispatcher in this process; its port.
fn start_dispatcher(vendor: Vendor, settings: &Settings, dir: &Path, shutdown: &Shutdown) -> u16 {
    fn run<V: VendorApi>(settings: Settings, dir: &Path, shutdown: Shutdown) -> u16 {
        let app =
            pushmesh_dispatch::build::<V>(settings, dir, shutdown).expect("the dispatcher starts");
        let port = app.port();
        actix_rt::spawn(app.run_until_stopped());
        port
    }
    let (settings, shutdown) = (settings.clone(), shutdown.clone());
    match vendor {
        Vendor::Fcm => run::<dispatch_fcm::FcmClient>(settings, dir, shutdown),
        Vendor::Apns => run::<dispatch_apns::ApnsClient>(settings, dir, shutdown),
        Vendor::Huawei => run::<dispatch_huawei::HuaweiClient>(settings, dir, shutdown),
        Vendor::Xiaomi => run::<dispatch_xiaomi::XiaomiClient>(settings, dir, shutdown),
        Vendor::Oppo => run::<dispatch_oppo::OppoClient>(settings, dir, shutdown),
        Vendor::Vivo => run::<dispatch_vivo::VivoClient>(settings, dir, shutdown),
        Vendor::Honor => run::<dispatch_honor::HonorClient>(settings, dir, shutdown),
    }
}

/// The test publishes like a careful IM server: with publisher confirms, so a message it
/// published is the broker's responsibility (without them a broker restart may drop it).
async fn confirming_channel(conn: &Connection) -> Channel {
    let channel = conn.create_channel().await.expect("a channel");
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    channel
}

pub(crate) async fn wait_ready(http: &reqwest::Client, port: u16, what: &str) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    wait_for(
        &format!("{what} to be ready"),
        Duration::from_secs(30),
        || async {
            let ok = http.get(&url).send().await.is_ok_and(|r| r.status() == 200);
            ok.then_some(())
        },
    )
    .await;
}

impl Mesh {
    pub async fn start() -> Mesh {
        Self::start_with(MeshOptions::default()).await
    }

    /// Starts vendor-sim, ingest, presence, registry and (unless `fcm_as_process`) dispatch-fcm,
    /// waits until every one is ready, and starts collecting outcomes.
    pub async fn start_with(opts: MeshOptions) -> Mesh {
        let vhost = Vhost::create();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let http = test_client(opts.vendor_tls.as_deref());
        let shutdown = Shutdown::new();
        // vendor-sim first, on any free ports: every vendor URL in the settings names them.
        let sim_only = Settings::from_toml(&settings_toml(
            &vhost,
            dir.path(),
            Ports::new(0, 0, &[]),
            &opts,
        ))
        .expect("test settings are valid");
        let sim = vendor_sim::Application::build(&sim_only, dir.path(), shutdown.clone())
            .expect("vendor-sim starts");
        let mut ports = Ports::new(sim.port(), sim.apns_port(), opts.processes);
        actix_rt::spawn(sim.run_until_stopped());
        let toml = settings_toml(&vhost, dir.path(), ports, &opts);
        let settings = Settings::from_toml(&toml).expect("test settings are valid");
        let in_process = |name: &str| !opts.processes.contains(&name);

        let mut ready = vec![];
        if in_process("ingest") {
            let app = ingest::Application::build(settings.clone(), shutdown.clone())
                .expect("ingest starts");
            ports.ingest = app.port();
            ready.push(app.port());
            actix_rt::spawn(app.run_until_stopped());
        }
        if in_process("presence") {
            let app = presence::Application::build(settings.clone(), shutdown.clone())
                .expect("presence starts");
            ports.presence = app.port();
            ready.push(app.port());
            actix_rt::spawn(app.run_until_stopped());
        }
        for (i, vendor) in Vendor::ALL.into_iter().enumerate() {
            if in_process(vendor.dispatcher()) {
                ports.dispatch[i] = start_dispatcher(vendor, &settings, dir.path(), &shutdown);
                ready.push(ports.dispatch[i]);
            }
        }
        if in_process("registry") {
            // The console reads presence and the dispatchers on the ports they took.
            let mut with_dispatchers = settings.clone();
            let presence = format!("http://127.0.0.1:{}", ports.presence);
            with_dispatchers.registry.presence = Some(presence);
            for (i, vendor) in Vendor::ALL.into_iter().enumerate() {
                let url = format!("http://127.0.0.1:{}", ports.dispatch[i]);
                with_dispatchers
                    .registry
                    .dispatchers
                    .insert(vendor.as_str().into(), url);
            }
            let app = registry::Application::build(with_dispatchers, shutdown.clone())
                .expect("registry starts");
            ports.registry = app.port();
            ready.push(app.port());
            actix_rt::spawn(app.run_until_stopped());
        }
        for port in ready {
            wait_ready(&http, port, "a service").await;
        }

        let conn = Connection::connect(&vhost.amqp_url(), ConnectionProperties::default())
            .await
            .expect("test connection to RabbitMQ");
        let channel = confirming_channel(&conn).await;
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        collect_outcomes(&conn, outcomes.clone()).await;

        Mesh {
            vhost,
            dir,
            sim: match opts.vendor_tls {
                Some(_) => format!("https://127.0.0.1:{}", ports.sim),
                None => format!("http://127.0.0.1:{}", ports.sim),
            },
            ingest: format!("http://127.0.0.1:{}", ports.ingest),
            registry: format!("http://127.0.0.1:{}", ports.registry),
            http,
            settings_toml: toml,
            channel,
            conn,
            outcomes,
            shutdown,
            processes: Default::default(),
            process_env: opts.process_env,
            ports,
        }
    }

    /// A new test connection (after a broker restart): publishing works again, outcomes are
    /// collected again from now on.
    pub async fn reconnect(&mut self) {
        let conn = wait_for(
            "the broker to accept connections",
            Duration::from_secs(60),
            || async {
                Connection::connect(&self.vhost.amqp_url(), ConnectionProperties::default())
                    .await
                    .ok()
            },
        )
        .await;
        self.channel = confirming_channel(&conn).await;
        collect_outcomes(&conn, self.outcomes.clone()).await;
        self.conn = conn;
    }

    // ---- devices (registry HTTP API) ----

    /// A device API call as the app's server makes it (with the server key of the app its
    /// path names).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let app = path.split('/').nth(3).unwrap_or(APP);
        let key =
            std::fs::read_to_string(crate::repo_root().join(format!("fixtures/{app}-api-keys")))
                .unwrap_or_default();
        let bearer = format!("Bearer {}", key.trim());
        self.api_as(method, path, body, Some(&bearer)).await
    }

    /// A device API call with `authorization` as its header (none: no header).
    pub async fn api_as(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        authorization: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.registry));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("registry answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Registers an FCM token for app `demo` and binds it to `user`; returns the push_id.
    pub async fn fcm_device(&self, token: &str, user: &str) -> String {
        self.device_in(APP, "fcm", token, user).await
    }

    /// Registers an FCM token for `app` and binds it to `user`; returns the push_id.
    pub async fn fcm_device_in(&self, app: &str, token: &str, user: &str) -> String {
        self.device_in(app, "fcm", token, user).await
    }

    /// Registers a `vendor` token for app `demo` and binds it to `user`; returns the push_id.
    pub async fn device(&self, vendor: &str, token: &str, user: &str) -> String {
        self.device_in(APP, vendor, token, user).await
    }

    /// Registers a `vendor` token for `app` and binds it to `user`; returns the push_id.
    pub async fn device_in(&self, app: &str, vendor: &str, token: &str, user: &str) -> String {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                &format!("/v1/apps/{app}/devices"),
                Some(json!({"vendor": vendor, "token": token})),
            )
            .await;
        assert!(
            status == 201 || status == 200,
            "register answered {status}: {body}"
        );
        let push_id = body["push_id"].as_str().expect("a push_id").to_owned();
        let (status, body) = self
            .api(
                reqwest::Method::PUT,
                &format!("/v1/apps/{app}/devices/{push_id}/user"),
                Some(json!({"user_id": user})),
            )
            .await;
        assert_eq!(status, 204, "bind answered {body}");
        push_id
    }

    // ---- the IM server's side (AMQP) ----

    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                "pushmesh.ingest".into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into()),
            )
            .await
            .expect("publish")
            .await
            .expect("publish confirmed")
            .is_ack()
            .then_some(())
            .expect("the broker acked the publish");
    }

    /// Publishes raw bytes straight into one of the mesh's queues (for poison tests).
    pub async fn publish_to_queue(&self, queue: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("publish confirmed")
            .is_ack()
            .then_some(())
            .expect("the broker acked the publish");
    }

    pub async fn publish(&self, routing_key: &str, body: Value) {
        self.publish_raw(routing_key, body.to_string().as_bytes())
            .await;
    }

    /// A one-to-one message from `from` to `to` with a push config.
    pub async fn peer_message(&self, message_id: &str, from: &str, to: &str) {
        self.publish("im.message", json!({
            "app_id": APP, "message_id": message_id, "conversation_type": "peer",
            "conversation_id": format!("{from}:{to}"), "sender_id": from, "recipients": [to],
            "push": {"title": from, "content": format!("message {message_id}"), "payload": format!("{{\"message_id\":\"{message_id}\"}}")}
        }))
        .await;
    }

    // ---- what came out ----

    /// The base URLs of every service (not vendor-sim), for their `/readyz` and `/metrics`.
    pub fn services(&self) -> Vec<(String, String)> {
        let p = &self.ports;
        let mut all = vec![
            ("ingest".to_owned(), p.ingest),
            ("presence".to_owned(), p.presence),
            ("registry".to_owned(), p.registry),
        ];
        for (i, vendor) in Vendor::ALL.iter().enumerate() {
            all.push((vendor.dispatcher().to_owned(), p.dispatch[i]));
        }
        all.into_iter()
            .map(|(name, port)| (name, format!("http://127.0.0.1:{port}")))
            .collect()
    }

    /// The APNs stand-in's base URL (HTTP/2 only; https when vendor-sim speaks TLS).
    pub fn sim_apns(&self) -> String {
        let scheme = self.sim.split(':').next().unwrap_or("http");
        format!("{scheme}://127.0.0.1:{}", self.ports.apns)
    }

    /// The base URL of `vendor`'s dispatcher (its `/metrics`, `/readyz`).
    pub fn dispatcher(&self, vendor: Vendor) -> String {
        let i = Vendor::ALL.iter().position(|v| *v == vendor).unwrap_or(0);
        format!("http://127.0.0.1:{}", self.ports.dispatch[i])
    }

    /// One series of a service's `/metrics` (`base` is its URL, `series` the name with its
    /// labels as exposed); 0 where the series has not been written yet.
    pub async fn metric(&self, base: &str, series: &str) -> f64 {
        let text = self.http.get(format!("{base}/metrics")).send();
        let text = text.await.unwrap().text().await.unwrap();
        let prefix = format!("{series} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map_or(0.0, |v| v.parse().unwrap())
    }

    pub fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.lock().unwrap().clone()
    }

    /// Waits for `n` outcomes of `message_id` (or a call id) for `user`, and a moment for more.
    pub async fn outcomes_of(&self, message_id: &str, user: &str, n: usize) -> Vec<Outcome> {
        let of = || {
            self.outcomes()
                .into_iter()
                .filter(|o| o.message_id == message_id && o.user_id == user)
                .collect::<Vec<_>>()
        };
        wait_for(
            &format!("{n} outcomes of {message_id} for {user}"),
            Duration::from_secs(30),
            || async { (of().len() >= n).then_some(()) },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        of()
    }

    /// Waits for the outcome of `message_id` for `user` and checks its status.
    pub async fn outcome(&self, message_id: &str, user: &str, status: OutcomeStatus) -> Outcome {
        let found = wait_for(
            &format!("an outcome for {message_id} to {user}"),
            Duration::from_secs(30),
            || async {
                self.outcomes()
                    .into_iter()
                    .find(|o| o.message_id == message_id && o.user_id == user)
            },
        )
        .await;
        assert_eq!(
            found.status, status,
            "outcome of {message_id} for {user}: {found:?}"
        );
        found
    }

    /// Messages ready in `queue` of the test vhost (it must exist).
    pub async fn queue_len(&self, queue: &str) -> u32 {
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let q = self
            .channel
            .queue_declare(queue.into(), passive, Default::default());
        q.await.expect("the queue exists").message_count()
    }

    /// Messages vendor-sim accepted for `vendor`, oldest first.
    pub async fn sim_messages(&self, vendor: &str) -> Vec<Value> {
        self.sim_get(&format!("/sim/{vendor}/messages")).await["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn sim_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.sim))
            .send()
            .await
            .expect("vendor-sim answers")
            .json()
            .await
            .expect("vendor-sim answers JSON")
    }

    pub async fn sim_post(&self, path: &str, body: Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.sim))
            .json(&body)
            .send()
            .await
            .expect("vendor-sim answers");
        assert!(
            resp.status().is_success(),
            "vendor-sim {path}: {}",
            resp.status()
        );
    }

    /// Every send request vendor-sim received for `vendor`, oldest first.
    pub async fn sim_requests(&self, vendor: &str) -> Vec<Value> {
        self.sim_get(&format!("/sim/{vendor}/requests")).await["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// FCM messages vendor-sim accepted for a device token.
    pub async fn fcm_messages_to(&self, token: &str) -> Vec<Value> {
        self.sim_messages("fcm")
            .await
            .into_iter()
            .filter(|m| m["tokens"][0] == token)
            .collect()
    }

    /// Takes one message out of a queue of this vhost: its raw body.
    pub async fn take_one(&self, queue: &str) -> Option<Vec<u8>> {
        self.channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
            .map(|m| m.delivery.data.clone())
    }

    /// Takes everything in `pushmesh.rejected`: (reason header, body).
    pub async fn take_rejected(&self) -> Vec<(String, String)> {
        self.take_queue("pushmesh.rejected").await
    }

    /// Takes everything in a queue of this vhost: (x-pushmesh-error header, body).
    pub async fn take_queue(&self, queue: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while let Some(msg) = self
            .channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
        {
            let reason = msg
                .delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| match h.inner().get("x-pushmesh-error") {
                    Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            out.push((
                reason,
                String::from_utf8_lossy(&msg.delivery.data).into_owned(),
            ));
        }
        out
    }
}

async fn collect_outcomes(conn: &Connection, into: Arc<Mutex<Vec<Outcome>>>) {
    let ch = conn.create_channel().await.expect("a channel");
    let queue = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("outcome queue");
    ch.queue_bind(
        queue.name().clone(),
        "pushmesh.outcomes".into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind outcomes");
    let mut consumer = ch
        .basic_consume(
            queue.name().clone(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume outcomes");
    actix_rt::spawn(async move {
        let _keep = ch;
        while let Some(Ok(d)) = consumer.next().await {
            if let Ok(o) = serde_json::from_slice::<Outcome>(&d.data) {
                into.lock().unwrap().push(o);
            }
        }
    });
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.shutdown.trigger();
        let running: Vec<&'static str> = self.processes.keys().copied().collect();
        for service in running {
            self.kill_process(service);
        }
        if std::thread::panicking() {
            self.print_process_logs();
        }
        // The vhost goes with `self.vhost`: its queues, and every connection into it.
    }
}

/// The test's own HTTP client; it trusts `ca` when vendor-sim speaks TLS.
fn test_client(ca: Option<&TestCa>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(&ca.ca_file).expect("the test CA");
        let cert = reqwest::Certificate::from_pem(&pem).expect("a PEM certificate");
        builder = builder.add_root_certificate(cert);
    }
    builder.build().expect("an HTTP client")
}
