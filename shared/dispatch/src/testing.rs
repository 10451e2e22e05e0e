//! Fixtures for tests of the core and the vendor clients.

use crate::Attempt;
use pushmesh_contract::stage::{DevicePush, Notification};
use pushmesh_contract::Vendor;

/// One push of message `m` per token, as the core hands them to a vendor client.
pub fn pushes(vendor: Vendor, tokens: &[&str]) -> Vec<DevicePush> {
    tokens
        .iter()
        .map(|t| DevicePush {
            app_id: "a".into(),
            message_id: "m".into(),
            user_id: "u".into(),
            push_id: format!("p-{t}"),
            vendor,
            token: (*t).into(),
            token_gen: 1,
            package: None,
            notification: Notification {
                title: "t".into(),
                content: "c".into(),
                payload: None,
                resources_id: None,
            },
            expires_at_ms: u64::MAX,
            attempt: 0,
            not_before_ms: 0,
            replays: 0,
            call: None,
            voip: false,
            accepted_us: 0,
            dry_run: false,
        })
        .collect()
}

/// The metric labels of some attempts, for compact assertions.
pub fn labels(attempts: &[Attempt]) -> Vec<&'static str> {
    attempts.iter().map(Attempt::label).collect()
}

/// An HTTP client as a dispatcher builds one, for a vendor client under test.
pub fn http_client(http2_only: bool) -> reqwest::Client {
    crate::support::http_client_with(std::time::Duration::from_secs(5), 8, http2_only, None)
        .expect("an HTTP client")
}
