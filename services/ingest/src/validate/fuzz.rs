//! Whatever the IM server publishes, validation answers: accepted, or a rejection that names
//! what is wrong. Never a panic. 2,000 cases each: about a second in CI.

use super::{Accepted, Rejection, Validator};
use proptest::prelude::*;
use pushmesh_runtime::settings::IngestSettings;
use serde_json::{json, Value};

const KEYS: [&str; 9] = [
    "im.message",
    "im.call.invite",
    "im.call.cancel",
    "presence.online",
    "presence.offline",
    "binding.bind",
    "binding.unbind",
    "im.unknown",
    "",
];

fn check(key: &str, body: &[u8]) -> Result<Accepted, Rejection> {
    let limits = IngestSettings::default();
    let known = |app: &str| app == "demo";
    let v = Validator {
        limits: &limits,
        is_known_app: &known,
    };
    v.validate(key, body)
}

/// JSON of every shape, with the field names the contract uses, so deep paths are reached.
fn value() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "app_id",
        "message_id",
        "call_id",
        "recipients",
        "invitees",
        "push",
        "title",
        "content",
        "payload",
        "ttl_s",
        "timeout_s",
        "user_id",
        "session_id",
        "push_id",
        "sender_id",
        "conversation_type",
        "conversation_id",
        "inviter_id",
        "resources_id",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        Just(json!("demo")),
        Just(json!("group")),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(names.clone(), inner, 0..8).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// A message every check accepts, and its fields, for changing one at a time.
fn valid_message() -> Value {
    json!({
        "app_id": "demo", "message_id": "m1", "conversation_type": "group",
        "conversation_id": "g1", "sender_id": "alice", "recipients": ["bob", "carol"],
        "ttl_s": 60, "push": {"title": "t", "content": "c", "payload": "p"}
    })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,300}".prop_map(Value::from),
        prop::collection::vec("\\PC{0,8}", 0..3).prop_map(Value::from),
        Just(json!({})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_json_is_accepted_or_rejected_with_a_reason(key in prop::sample::select(KEYS.to_vec()), body in value()) {
        match check(key, body.to_string().as_bytes()) {
            Ok(_) => {}
            Err(Rejection(reason)) => prop_assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn any_bytes_are_rejected_with_a_reason(key in prop::sample::select(KEYS.to_vec()), body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(Rejection(reason)) = check(key, &body) {
            prop_assert!(!reason.is_empty());
        }
    }

    #[test]
    fn a_bad_field_in_a_good_message_is_named(field in prop::sample::select(vec![
        "app_id", "message_id", "conversation_type", "conversation_id", "sender_id",
        "recipients", "ttl_s", "push",
    ]), value in leaf()) {
        prop_assert!(check("im.message", valid_message().to_string().as_bytes()).is_ok());
        let mut message = valid_message();
        message[field] = value;
        if let Err(Rejection(reason)) = check("im.message", message.to_string().as_bytes()) {
            prop_assert!(reason.contains(field), "{field}: {reason}");
        }
    }
}
