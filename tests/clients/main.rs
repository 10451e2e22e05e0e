//! Each vendor client against vendor-sim in this process, without the broker or the mesh: the
//! request it builds, its credential and the credential's renewal, and how it reads each kind
//! of answer. `cargo test -p pushmesh-tests --test clients fcm` checks a vendor change in
//! seconds; tests/e2e/vendors.rs checks the same vendors through the whole mesh.

use dispatch_apns::ApnsClient;
use dispatch_fcm::FcmClient;
use dispatch_honor::HonorClient;
use dispatch_huawei::HuaweiClient;
use dispatch_oppo::OppoClient;
use dispatch_vivo::VivoClient;
use dispatch_xiaomi::XiaomiClient;
use pushmesh_contract::Vendor;
use pushmesh_dispatch::testing::{http_client, labels, pushes};
use pushmesh_dispatch::{Answer, VendorApi, VendorEnv};
use serde_json::Value;
use std::time::Duration;
use vendor_sim::testing::{fixtures, TestSim};

/// The demo app's table for every vendor, as in the mesh's own tests.
const APPS: &str = r#"
[apps.demo.fcm]
project_id = "pushmesh-demo"
service_account_file = "fcm-demo-service-account.json"
base_url = "{sim}/fcm"
token_url = "{sim}/fcm/token"
[apps.demo.apns]
team_id = "TEAMDEMO01"
key_id = "KEYDEMO001"
key_file = "apns-demo-key.p8"
topic = "com.example.im"
base_url = "{apns}"
[apps.demo.huawei]
app_id = "10001"
client_secret = "huawei-demo-secret"
base_url = "{sim}/huawei"
auth_url = "{sim}/huawei/oauth2/v3/token"
[apps.demo.xiaomi]
app_secret = "xiaomi-demo-secret"
package = "com.example.im"
channel_id = "im-private"
base_url = "{sim}/xiaomi"
[apps.demo.oppo]
app_key = "oppo-demo-key"
master_secret = "oppo-demo-master-secret"
channel_id = "im"
base_url = "{sim}/oppo"
[apps.demo.vivo]
app_id = 10004
app_key = "vivo-demo-key"
app_secret = "vivo-demo-secret"
base_url = "{sim}/vivo"
[apps.demo.honor]
app_id = "10005"
client_id = "honor-demo-client"
client_secret = "honor-demo-secret"
base_url = "{sim}/honor"
auth_url = "{sim}/honor/auth/token"
"#;

/// What differs between vendors, as these tests see it.
struct Spec {
    /// Devices in one request: 1 where the vendor takes one token a request.
    devices: usize,
    /// The title in the request as the vendor received it.
    title: fn(&Value) -> &Value,
    /// What the vendor's 429 (or its quota code) means here: a quota waits ("deferred"), a
    /// rate limit or a busy server is retried ("retry").
    on_429: &'static str,
    /// An auth exchange whose token expires (not Xiaomi's static key).
    renews: bool,
}

fn client<V: VendorApi>(sim: &TestSim) -> V {
    let table = sim.table("demo", V::VENDOR.as_str());
    let settings = serde_json::from_value(table).expect("the demo table parses");
    let env = VendorEnv {
        http: http_client(V::HTTP2_ONLY),
        config_dir: &fixtures(),
    };
    V::new(settings, &env).expect("the demo settings are valid")
}

fn tokens<V: VendorApi>(n: usize) -> Vec<String> {
    (0..n).map(|i| token::<V>(&format!("device-{i}"))).collect()
}

/// A device token the vendor takes for well-formed: APNs' are hex, at least 64 digits.
fn token<V: VendorApi>(name: &str) -> String {
    let name = format!("{}-{name}", V::VENDOR);
    match V::VENDOR {
        Vendor::Apns => {
            let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
            format!("{hex:0>64}")
        }
        _ => name,
    }
}

async fn send<V: VendorApi>(c: &V, credential: &str, tokens: &[String]) -> Answer {
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    c.send(credential, &pushes(V::VENDOR, &tokens)).await
}

fn results(answer: Answer) -> Vec<&'static str> {
    match answer {
        Answer::Done(attempts) => labels(&attempts),
        Answer::AuthExpired => vec!["auth_expired"],
    }
}

/// One request for all its devices, in the shape the vendor checks, accepted for each.
async fn delivers_in_its_shape<V: VendorApi>(spec: Spec) {
    let sim = TestSim::start(APPS);
    let c: V = client(&sim);
    let credential = c.authorize().await.expect("a credential from vendor-sim");
    let tokens = tokens::<V>(spec.devices);
    let answer = send(&c, &credential.token, &tokens).await;
    assert_eq!(results(answer), vec!["delivered"; spec.devices]);
    let requests = sim.requests(V::VENDOR.as_str());
    assert_eq!(
        requests.len(),
        1,
        "one request for {} devices",
        spec.devices
    );
    assert_eq!(requests[0].accepted, tokens);
    assert_eq!(
        (spec.title)(&requests[0].body),
        "t",
        "{:?}",
        requests[0].body
    );
}

/// A credential the vendor calls stale is answered as such; a new one goes through.
async fn renews_a_stale_credential<V: VendorApi>(spec: Spec) {
    let sim = TestSim::start(APPS);
    let c: V = client(&sim);
    let vendor = V::VENDOR.as_str();
    let first = c.authorize().await.unwrap();
    let tokens = tokens::<V>(1);
    assert_eq!(
        results(send(&c, &first.token, &tokens).await),
        ["delivered"]
    );
    sim.expire_access_tokens(vendor);
    if !spec.renews {
        let answer = send(&c, &first.token, &tokens).await;
        assert_eq!(
            results(answer),
            ["delivered"],
            "a static key does not expire"
        );
        return;
    }
    assert_eq!(
        results(send(&c, &first.token, &tokens).await),
        ["auth_expired"]
    );
    // APNs' provider token is signed here, with a time in seconds: a second later it differs.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let second = c.authorize().await.unwrap();
    assert!(second != first, "a new credential");
    assert_eq!(
        results(send(&c, &second.token, &tokens).await),
        ["delivered"]
    );
}

/// A dead device, a busy vendor and a quota or rate limit, each read as what it means.
async fn reads_each_answer<V: VendorApi>(spec: Spec) {
    let sim = TestSim::start(APPS);
    let c: V = client(&sim);
    let vendor = V::VENDOR.as_str();
    let credential = c.authorize().await.unwrap().token;
    let tokens = tokens::<V>(1);
    sim.kill_tokens(vendor, &[tokens[0].as_str()]);
    assert_eq!(
        results(send(&c, &credential, &tokens).await),
        ["invalid_token"]
    );
    let alive = vec![token::<V>("alive")];
    sim.fail(vendor, 503, 1);
    assert_eq!(results(send(&c, &credential, &alive).await), ["retry"]);
    sim.fail(vendor, 429, 1);
    assert_eq!(results(send(&c, &credential, &alive).await), [spec.on_429]);
    assert_eq!(results(send(&c, &credential, &alive).await), ["delivered"]);
}

macro_rules! client_tests {
    ($module:ident, $client:ty, $spec:expr) => {
        mod $module {
            use super::*;

            #[actix_rt::test]
            async fn delivers_in_its_shape() {
                super::delivers_in_its_shape::<$client>($spec).await;
            }

            #[actix_rt::test]
            async fn renews_a_stale_credential() {
                super::renews_a_stale_credential::<$client>($spec).await;
            }

            #[actix_rt::test]
            async fn reads_each_answer() {
                super::reads_each_answer::<$client>($spec).await;
            }
        }
    };
}

client_tests!(
    fcm,
    FcmClient,
    Spec {
        devices: 1,
        title: |b| &b["message"]["notification"]["title"],
        on_429: "deferred",
        renews: true,
    }
);
client_tests!(
    apns,
    ApnsClient,
    Spec {
        devices: 1,
        title: |b| &b["payload"]["aps"]["alert"]["title"],
        on_429: "deferred",
        renews: true,
    }
);
client_tests!(
    huawei,
    HuaweiClient,
    Spec {
        devices: 3,
        title: |b| &b["message"]["android"]["notification"]["title"],
        on_429: "retry",
        renews: true,
    }
);
client_tests!(
    xiaomi,
    XiaomiClient,
    Spec {
        devices: 3,
        title: |b| &b["title"],
        on_429: "deferred",
        renews: false,
    }
);
client_tests!(
    oppo,
    OppoClient,
    Spec {
        devices: 3,
        title: |b| match b {
            Value::Array(messages) => &messages[0]["notification"]["title"],
            message => &message["notification"]["title"],
        },
        on_429: "deferred",
        renews: true,
    }
);
client_tests!(
    vivo,
    VivoClient,
    Spec {
        devices: 3,
        title: |b| &b["title"],
        on_429: "deferred",
        renews: true,
    }
);
client_tests!(
    honor,
    HonorClient,
    Spec {
        devices: 3,
        title: |b| &b["android"]["notification"]["title"],
        on_429: "retry",
        renews: true,
    }
);
