//! Every list vendor through the whole mesh, one table of what differs (where the payload and
//! the text sit in each vendor's request) and the same checks for all: request shape and
//! payload placement, batching up to the maximum (3 in tests), each result class (delivered,
//! invalid token, partial batch, retry later, quota, rejected), and auth renewal.

use pushmesh_contract::public::OutcomeStatus;
use pushmesh_contract::stage::{Batch, DevicePush};
use pushmesh_contract::{codec, now_ms};
use pushmesh_tests::{wait_for, Mesh};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// What differs between vendors, as the tests see it.
struct Spec {
    vendor: &'static str,
    /// The message body of one recorded request (the first, for a batch).
    message: fn(&Value) -> Value,
    /// (title, content, payload) as the app will see them.
    shown: fn(&Value) -> (String, String, String),
    /// A title this vendor refuses, if its limit is on characters.
    title_limit: Option<usize>,
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn json_field(v: &Value, key: &str) -> String {
    serde_json::from_str::<Value>(v.as_str().unwrap_or("{}"))
        .map(|j| s(&j[key]))
        .unwrap_or_default()
}

const HUAWEI: Spec = Spec {
    vendor: "huawei",
    message: |b| b["message"].clone(),
    shown: |m| {
        let n = &m["android"]["notification"];
        (
            s(&n["title"]),
            s(&n["body"]),
            json_field(&m["data"], "payload"),
        )
    },
    title_limit: None,
};
const XIAOMI: Spec = Spec {
    vendor: "xiaomi",
    message: |b| b.clone(),
    shown: |m| (s(&m["title"]), s(&m["description"]), s(&m["extra.payload"])),
    title_limit: Some(49),
};
const OPPO: Spec = Spec {
    vendor: "oppo",
    message: |b| {
        if b.is_array() {
            b[0].clone()
        } else {
            b.clone()
        }
    },
    shown: |m| {
        let n = &m["notification"];
        (
            s(&n["title"]),
            s(&n["content"]),
            json_field(&n["action_parameters"], "payload"),
        )
    },
    title_limit: Some(50),
};
const VIVO: Spec = Spec {
    vendor: "vivo",
    message: |b| b.clone(),
    shown: |m| {
        (
            s(&m["title"]),
            s(&m["content"]),
            s(&m["clientCustomMap"]["payload"]),
        )
    },
    title_limit: Some(40),
};
const HONOR: Spec = Spec {
    vendor: "honor",
    message: |b| b.clone(),
    shown: |m| {
        let n = &m["android"]["notification"];
        (
            s(&n["title"]),
            s(&n["body"]),
            json_field(&m["data"], "payload"),
        )
    },
    title_limit: None,
};

async fn group(mesh: &Mesh, id: &str, members: &[&str], title: &str, payload: &str) {
    mesh.publish("im.message", json!({
        "app_id": "demo", "message_id": id, "conversation_type": "group", "conversation_id": "g",
        "sender_id": "sender", "recipients": members,
        "push": {"title": title, "content": "héllo", "payload": payload}
    }))
    .await;
}

async fn devices(mesh: &Mesh, spec: &Spec, users: &[&str]) {
    for u in users {
        mesh.device(spec.vendor, &format!("{}-{u}", spec.vendor), u)
            .await;
    }
}

/// Five members: requests of at most 3 devices, text and payload where the vendor wants them.
async fn shape_and_batching(spec: Spec) {
    let mesh = Mesh::start().await;
    let members = ["u1", "u2", "u3", "u4", "u5"];
    devices(&mesh, &spec, &members).await;
    group(&mesh, "g-1", &members, "Team", "{\"conv\":\"g\"}").await;
    for u in members {
        mesh.outcome("g-1", u, OutcomeStatus::Delivered).await;
    }
    let accepted = mesh.sim_messages(spec.vendor).await;
    let mut sizes: Vec<usize> = accepted
        .iter()
        .map(|r| r["accepted"].as_array().unwrap().len())
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        [2, 3],
        "{}: 5 devices in requests of at most 3",
        spec.vendor
    );
    let shown = (spec.shown)(&(spec.message)(&accepted[0]["body"]));
    assert_eq!(
        shown,
        ("Team".into(), "héllo".into(), "{\"conv\":\"g\"}".into()),
        "{}",
        spec.vendor
    );
}

/// One dead device in a batch of three: only it is invalid, and only its device is deleted.
async fn partial_batch(spec: Spec) {
    let mesh = Mesh::start().await;
    devices(&mesh, &spec, &["a", "b", "c"]).await;
    let dead = format!("{}-b", spec.vendor);
    mesh.sim_post(
        &format!("/sim/{}/dead-tokens", spec.vendor),
        json!({"tokens": [dead]}),
    )
    .await;
    group(&mesh, "p-1", &["a", "b", "c"], "t", "x").await;
    mesh.outcome("p-1", "a", OutcomeStatus::Delivered).await;
    mesh.outcome("p-1", "b", OutcomeStatus::InvalidToken).await;
    mesh.outcome("p-1", "c", OutcomeStatus::Delivered).await;
    wait_for(
        "b's device to be deleted",
        Duration::from_secs(10),
        || async {
            let (_, body) = mesh
                .api(Method::GET, "/v1/apps/demo/users/b/devices", None)
                .await;
            (body["devices"] == json!([])).then_some(())
        },
    )
    .await;
    let (_, a) = mesh
        .api(Method::GET, "/v1/apps/demo/users/a/devices", None)
        .await;
    assert_eq!(
        a["devices"].as_array().unwrap().len(),
        1,
        "{}: a keeps its device",
        spec.vendor
    );
    // Alone, a dead device is an invalid token too.
    devices(&mesh, &spec, &["d"]).await;
    let dead = format!("{}-d", spec.vendor);
    mesh.sim_post(
        &format!("/sim/{}/dead-tokens", spec.vendor),
        json!({"tokens": [dead]}),
    )
    .await;
    mesh.peer_message("p-2", "x", "d").await;
    mesh.outcome("p-2", "d", OutcomeStatus::InvalidToken).await;
}

/// A transient failure waits in the broker and then goes through, once.
async fn retry_later(spec: Spec) {
    let mesh = Mesh::start().await;
    devices(&mesh, &spec, &["bob"]).await;
    mesh.sim_post(
        &format!("/sim/{}/fault", spec.vendor),
        json!({"status": 503, "count": 1}),
    )
    .await;
    mesh.peer_message("busy", "alice", "bob").await;
    mesh.outcome("busy", "bob", OutcomeStatus::Delivered).await;
    let r = mesh.sim_requests(spec.vendor).await;
    let at: Vec<u64> = r.iter().map(|r| r["at_ms"].as_u64().unwrap()).collect();
    assert!(
        at.len() >= 2 && at[at.len() - 1] - at[0] >= 1_000,
        "{}: retried after the delay: {at:?}",
        spec.vendor
    );
    assert_eq!(
        mesh.sim_messages(spec.vendor).await.len(),
        1,
        "{}: delivered once",
        spec.vendor
    );
}

/// A daily-quota answer defers the push to the vendor's next day (in a delay queue), not fails it.
async fn quota_defers(spec: Spec) {
    let mesh = Mesh::start().await;
    devices(&mesh, &spec, &["bob"]).await;
    mesh.sim_post(
        &format!("/sim/{}/fault", spec.vendor),
        json!({"status": 429, "count": 1}),
    )
    .await;
    mesh.peer_message("q", "alice", "bob").await;
    let queue = format!("dispatch.{}.retry.60s", spec.vendor);
    let parked = wait_for(
        "the push to wait in the longest delay queue",
        Duration::from_secs(15),
        || async { mesh.take_one(&queue).await },
    )
    .await;
    let batch: Batch<DevicePush> = codec::decode(&parked).unwrap();
    let wait_ms = batch.items[0].not_before_ms.saturating_sub(now_ms());
    let to_midnight = pushmesh_dispatch::support::until_next_china_day(now_ms()).as_millis() as u64;
    assert!(
        wait_ms.abs_diff(to_midnight) < 60_000,
        "{}: waits for the next China day",
        spec.vendor
    );
    assert!(
        mesh.outcomes().iter().all(|o| o.message_id != "q"),
        "{}: deferred, not failed",
        spec.vendor
    );
}

/// Auth renewal: every access token expires; the next push gets a new one and goes through.
async fn auth_renewal(spec: Spec) {
    let mesh = Mesh::start().await;
    devices(&mesh, &spec, &["bob"]).await;
    mesh.peer_message("first", "alice", "bob").await;
    mesh.outcome("first", "bob", OutcomeStatus::Delivered).await;
    mesh.sim_post(
        &format!("/sim/{}/expire-access-tokens", spec.vendor),
        json!({}),
    )
    .await;
    mesh.peer_message("second", "alice", "bob").await;
    mesh.outcome("second", "bob", OutcomeStatus::Delivered)
        .await;
    let issued = mesh
        .sim_get(&format!("/sim/{}/messages", spec.vendor))
        .await["tokens_issued"]
        .as_u64();
    assert_eq!(issued, Some(2), "{}: one renewal", spec.vendor);
}

/// Text over the vendor's limit is refused with a reason, never cut.
async fn too_long_is_rejected(spec: Spec) {
    let mesh = Mesh::start().await;
    devices(&mesh, &spec, &["bob"]).await;
    let limit = spec.title_limit.expect("a character limit");
    group(&mesh, "long", &["bob"], &"é".repeat(limit + 1), "x").await;
    let o = mesh.outcome("long", "bob", OutcomeStatus::Rejected).await;
    let detail = o.detail.unwrap();
    assert!(
        detail.contains("title") && detail.contains(&limit.to_string()),
        "{detail}"
    );
    assert!(
        mesh.sim_requests(spec.vendor).await.is_empty(),
        "{}: nothing sent",
        spec.vendor
    );
}

macro_rules! vendor_tests {
    ($module:ident, $spec:expr, [$($check:ident),*]) => {
        mod $module {
            use super::*;
            $(
                #[actix_rt::test]
                async fn $check() {
                    super::$check($spec).await;
                }
            )*
        }
    };
}

vendor_tests!(
    huawei,
    HUAWEI,
    [shape_and_batching, partial_batch, retry_later, auth_renewal]
);
vendor_tests!(
    xiaomi,
    XIAOMI,
    [
        shape_and_batching,
        partial_batch,
        retry_later,
        quota_defers,
        too_long_is_rejected
    ]
);
vendor_tests!(
    oppo,
    OPPO,
    [
        shape_and_batching,
        partial_batch,
        retry_later,
        quota_defers,
        auth_renewal,
        too_long_is_rejected
    ]
);
vendor_tests!(
    vivo,
    VIVO,
    [
        shape_and_batching,
        partial_batch,
        retry_later,
        quota_defers,
        auth_renewal,
        too_long_is_rejected
    ]
);
vendor_tests!(
    honor,
    HONOR,
    [shape_and_batching, partial_batch, retry_later, auth_renewal]
);

/// Control characters are escaped as `\u00XX` (six bytes for one), and Huawei's and Honor's
/// `data` string escapes them twice: a payload within ingest's byte limit can be over a vendor's
/// 4096 bytes. FCM's stand-in refuses it (INVALID_ARGUMENT "Message is too big"); the APNs,
/// Huawei and Honor clients refuse it before sending. Either way the outcome says why.
#[actix_rt::test]
async fn a_payload_over_the_vendor_limit_after_escaping_is_rejected() {
    let mesh = Mesh::start().await;
    mesh.fcm_device("fcm-bob", "bob").await;
    mesh.device("apns", &format!("{:064x}", 1), "bob").await;
    devices(&mesh, &HUAWEI, &["bob"]).await;
    devices(&mesh, &HONOR, &["bob"]).await;
    group(&mesh, "big", &["bob"], "t", &"\u{1}".repeat(700)).await;
    let rejected = wait_for(
        "four rejected outcomes",
        Duration::from_secs(30),
        || async {
            let rejected: Vec<_> = mesh
                .outcomes()
                .into_iter()
                .filter(|o| o.message_id == "big" && o.status == OutcomeStatus::Rejected)
                .collect();
            (rejected.len() == 4).then_some(rejected)
        },
    )
    .await;
    for o in rejected {
        let detail = o.detail.unwrap();
        assert!(
            detail.contains("4096") || detail.contains("too big"),
            "{}: {detail}",
            o.vendor
        );
    }
    for vendor in ["apns", "huawei", "honor"] {
        assert!(
            mesh.sim_requests(vendor).await.is_empty(),
            "{vendor}: nothing sent"
        );
    }
}

/// At the real maximum: 1001 Huawei devices of one app (default `max_tokens_per_request`,
/// 1000) go out in two requests.
#[actix_rt::test]
async fn a_thousand_and_one_devices_take_two_requests() {
    let mesh = Mesh::start().await;
    let users: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    for u in &users {
        mesh.device_in("other", "huawei", &format!("hw-{u}"), u)
            .await;
    }
    mesh.publish(
        "im.message",
        json!({
            "app_id": "other", "message_id": "big-group", "conversation_type": "group",
            "conversation_id": "g", "sender_id": "sender", "recipients": users,
            "push": {"title": "t", "content": "c"}
        }),
    )
    .await;
    wait_for(
        "1001 delivered outcomes",
        Duration::from_secs(60),
        || async {
            let n = mesh
                .outcomes()
                .iter()
                .filter(|o| o.message_id == "big-group" && o.status == OutcomeStatus::Delivered)
                .count();
            (n == 1001).then_some(())
        },
    )
    .await;
    let mut sizes: Vec<usize> = mesh
        .sim_requests("huawei")
        .await
        .iter()
        .map(|r| r["tokens"].as_array().unwrap().len())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [1, 1000]);
}

/// vivo's requestId comes from the ids, so a retried send of the same push carries the same
/// one and vivo can tell it is a repeat; another message gets another.
#[actix_rt::test]
async fn vivo_request_ids_are_stable_per_push() {
    let mesh = Mesh::start().await;
    devices(&mesh, &VIVO, &["bob"]).await;
    mesh.sim_post("/sim/vivo/fault", json!({"status": 503, "count": 1}))
        .await;
    mesh.peer_message("m1", "alice", "bob").await;
    mesh.outcome("m1", "bob", OutcomeStatus::Delivered).await;
    mesh.peer_message("m2", "alice", "bob").await;
    mesh.outcome("m2", "bob", OutcomeStatus::Delivered).await;
    let ids: Vec<String> = mesh
        .sim_requests("vivo")
        .await
        .iter()
        .map(|r| s(&r["body"]["requestId"]))
        .collect();
    assert_eq!(ids.len(), 3, "refused, retried, next message: {ids:?}");
    assert_eq!(ids[0], ids[1], "the retry repeats the requestId");
    assert_ne!(ids[1], ids[2], "another message, another requestId");
}

/// One group message whose members have devices on all seven vendors: each vendor receives
/// exactly its devices, once.
#[actix_rt::test]
async fn one_group_message_reaches_every_vendor_with_exactly_its_devices() {
    let mesh = Mesh::start().await;
    let apns_token = |n: u32| format!("{n:064x}");
    let mut expected: Vec<(&str, String, String)> = Vec::new(); // (vendor, token, user)
    for (i, vendor) in ["fcm", "apns", "huawei", "xiaomi", "oppo", "vivo", "honor"]
        .into_iter()
        .enumerate()
    {
        for j in 0..4 {
            let user = format!("{vendor}-user-{j}");
            let token = if vendor == "apns" {
                apns_token((i * 10 + j) as u32 + 1)
            } else {
                format!("{vendor}-tok-{j}")
            };
            mesh.device(vendor, &token, &user).await;
            expected.push((vendor, token, user));
        }
    }
    // One member with a phone and a tablet on different vendors.
    mesh.device("huawei", "huawei-tablet", "fcm-user-0").await;
    expected.push(("huawei", "huawei-tablet".into(), "fcm-user-0".into()));
    let mut members: Vec<String> = expected.iter().map(|(_, _, u)| u.clone()).collect();
    members.dedup();
    mesh.publish("im.message", json!({
        "app_id": "demo", "message_id": "all", "conversation_type": "group", "conversation_id": "g",
        "sender_id": "sender", "recipients": members, "push": {"title": "all", "content": "vendors", "payload": "p"}
    }))
    .await;
    wait_for(
        "a delivered outcome per device",
        Duration::from_secs(60),
        || async {
            let n = mesh
                .outcomes()
                .iter()
                .filter(|o| o.message_id == "all" && o.status == OutcomeStatus::Delivered)
                .count();
            (n == expected.len()).then_some(())
        },
    )
    .await;
    for vendor in ["fcm", "apns", "huawei", "xiaomi", "oppo", "vivo", "honor"] {
        let mut got: Vec<String> = mesh
            .sim_messages(vendor)
            .await
            .iter()
            .flat_map(|r| {
                r["accepted"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(s)
                    .collect::<Vec<_>>()
            })
            .collect();
        got.sort();
        let mut want: Vec<String> = expected
            .iter()
            .filter(|(v, _, _)| *v == vendor)
            .map(|(_, t, _)| t.clone())
            .collect();
        want.sort();
        assert_eq!(got, want, "{vendor} received exactly its devices, once");
    }
}
