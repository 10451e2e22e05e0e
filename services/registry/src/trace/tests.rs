use super::*;
use pushmesh_contract::trace::TraceStage;

fn event(message_id: &str, user: Option<&str>, at_ms: u64, what: TraceWhat) -> TraceEvent {
    TraceEvent {
        app_id: "demo".into(),
        message_id: message_id.into(),
        at_us: at_ms * 1000,
        filed_us: at_ms * 1000,
        stage: TraceStage::Presence,
        user_id: user.map(Into::into),
        push_id: None,
        vendor: None,
        what,
    }
}

#[test]
fn a_trace_is_kept_in_order_once_and_dropped_with_its_hour() {
    let dir = tempfile::tempdir().unwrap();
    let store = TraceStore::open(dir.path(), 1 << 20).unwrap();
    let t0 = 10 * HOUR_MS;
    let events = [
        event("m1", Some("bob"), t0 + 5, TraceWhat::Offline),
        event(
            "m1",
            Some("bob"),
            t0 + 2,
            TraceWhat::Accepted {
                recipients: 1,
                dry_run: false,
            },
        ),
        event(
            "m2",
            Some("bob"),
            t0 + HOUR_MS,
            TraceWhat::Online { sessions: 1 },
        ),
        event(
            "x",
            None,
            t0 + 7,
            TraceWhat::Rejected {
                reason: "app_id: missing".into(),
            },
        ),
    ];
    store.add(&events);
    store.add(&events[..1]);
    store.flush().unwrap();

    let m1 = store.message("demo", "m1").unwrap();
    assert_eq!(
        m1.iter().map(|e| e.at_ms()).collect::<Vec<_>>(),
        [t0 + 2, t0 + 5]
    );
    let bobs = store.user_messages("demo", "bob", 10).unwrap();
    let ids: Vec<&str> = bobs.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["m2", "m1"], "newest first");
    assert_eq!(store.rejected(10).unwrap().len(), 1);
    assert!(
        store.message("other", "m1").unwrap().is_empty(),
        "apps apart"
    );

    // Reopened (a restart), then the first hour falls out of a one-hour window.
    drop(store);
    let store = TraceStore::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(store.message("demo", "m1").unwrap().len(), 2);
    store.prune(t0 + 2 * HOUR_MS, HOUR_MS).unwrap();
    store.flush().unwrap();
    assert!(store.message("demo", "m1").unwrap().is_empty());
    assert_eq!(store.message("demo", "m2").unwrap().len(), 1);
}
