//! The call scenario: call invites at 20 a second to offline invitees (FCM), first on an idle
//! mesh, then while group messages (ten of 10,000 members, half offline, devices over the seven
//! vendors) keep the dispatchers busy; publish to vendor request of each call.

use crate::load::{self, Publisher};
use crate::mesh::Mesh;
use crate::report::Row;
use pushmesh_contract::now_ms;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CALLS_PER_S: f64 = 20.0;
const CALLEES: usize = 200;
const GROUPS: usize = 10;
const MEMBERS: usize = 10_000;

/// `offset`: the first user number this scenario may register.
pub async fn call(m: &Mesh, offset: usize) -> anyhow::Result<Vec<Row>> {
    let callees = offset..offset + CALLEES;
    let members = callees.end..callees.end + MEMBERS;
    println!("  call: registering {CALLEES} callees and {MEMBERS} group members");
    load::register(m, callees.clone(), |_| "fcm").await?;
    load::register(m, members.clone(), |i| {
        super::VENDORS[i % super::VENDORS.len()]
    })
    .await?;
    let mut publisher = Publisher::connect(&m.amqp_url(), 1000).await?;
    for i in members.clone().step_by(2) {
        let online =
            json!({"app_id": "bench", "user_id": format!("u{i}"), "session_id": "s", "ttl_s": 600});
        let body = online.to_string();
        publisher
            .publish("pushmesh.ingest", "presence.online", body.as_bytes())
            .await?;
    }
    publisher.flush().await?;

    let idle = calls_for(m, &mut publisher, callees.clone(), Duration::from_secs(10)).await?;
    let group_pushes = (GROUPS * MEMBERS / 2) as u64;
    let before = accepted(m).await;
    let recipients: Vec<String> = members.map(|i| format!("u{i}")).collect();
    for g in 0..GROUPS {
        let body = json!({
            "app_id": "bench", "message_id": format!("burst-{}-{g}", now_ms()),
            "conversation_type": "group", "conversation_id": "big", "sender_id": "bench-sender",
            "recipients": recipients, "push": {"title": "Team", "content": "Standup in five minutes"}
        });
        publisher
            .publish("pushmesh.ingest", "im.message", body.to_string().as_bytes())
            .await?;
    }
    publisher.flush().await?;
    let burst_started = Instant::now();
    // Calls while the groups' pushes are on their way; the burst is over once they arrived.
    let busy = || async { accepted(m).await - before < group_pushes };
    let burst = calls_while(m, &mut publisher, callees, busy).await?;
    let burst_s = burst_started.elapsed().as_secs_f64();
    let [(i50, i99), (b50, b99)] = [&idle, &burst].map(|l| {
        let mut l = l.clone();
        let [p50, p99] = load::percentiles(&mut l, [0.50, 0.99]);
        (p50, p99)
    });
    Ok(vec![Row::new(
        "call",
        format!("p50 {b50} ms, p99 {b99} ms under the burst; idle p50 {i50} ms, p99 {i99} ms"),
        format!(
            "{} calls at {CALLS_PER_S:.0}/s while {GROUPS} {MEMBERS}-member groups sent {group_pushes} pushes over 7 vendors ({burst_s:.1} s), {} on an idle mesh; publish to vendor request",
            burst.len(),
            idle.len()
        ),
        "p99 <= 2 x idle p99 and <= 100 ms",
        Some(b99 <= 2 * i99.max(1) && b99 <= 100),
    )])
}

/// Pushes the vendors accepted so far, over all seven.
async fn accepted(m: &Mesh) -> u64 {
    let mut n = 0;
    for v in super::VENDORS {
        n += load::count(m, v).await.1;
    }
    n
}

/// Calls for `how_long`, then their latencies.
async fn calls_for(
    m: &Mesh,
    publisher: &mut Publisher,
    callees: std::ops::Range<usize>,
    how_long: Duration,
) -> anyhow::Result<Vec<u64>> {
    let until = Instant::now() + how_long;
    calls_while(
        m,
        publisher,
        callees,
        || async move { Instant::now() < until },
    )
    .await
}

/// Calls at the scenario's rate while `go_on` says so (at least 20), then their latencies once
/// all of them are at vendor-sim.
async fn calls_while<F, Fut>(
    m: &Mesh,
    publisher: &mut Publisher,
    callees: std::ops::Range<usize>,
    go_on: F,
) -> anyhow::Result<Vec<u64>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (requests_before, _) = load::count(m, "fcm").await;
    let mut pace = load::Pace::new(CALLS_PER_S);
    let mut sent = 0u64;
    let started = Instant::now();
    while sent < 20 || go_on().await {
        for _ in 0..pace.next().await {
            let callee = callees.start + sent as usize % callees.len();
            let body = json!({
                "app_id": "bench", "call_id": format!("call-{}-{sent}", now_ms()),
                "inviter_id": "bench-caller", "invitees": [format!("u{callee}")], "timeout_s": 60,
                "push": {"title": "Bench", "content": "Incoming call", "payload": now_ms().to_string()}
            });
            publisher
                .publish(
                    "pushmesh.ingest",
                    "im.call.invite",
                    body.to_string().as_bytes(),
                )
                .await?;
            sent += 1;
        }
    }
    publisher.flush().await?;
    loop {
        let latencies = call_latencies(m, requests_before).await?;
        if latencies.len() as u64 >= sent {
            return Ok(latencies);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "{} of {sent} calls at vendor-sim after 300 s",
            latencies.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Publish to vendor request of each call FCM received since its `from`th request: the calls'
/// payload is their publish time (the groups' pushes carry none).
async fn call_latencies(m: &Mesh, from: u64) -> anyhow::Result<Vec<u64>> {
    let all: Value = m
        .http
        .get(format!("{}/sim/fcm/requests", crate::mesh::sim()))
        .send()
        .await?
        .json()
        .await?;
    let requests = all["requests"].as_array().cloned().unwrap_or_default();
    Ok(requests
        .iter()
        .skip(from as usize)
        .filter_map(|r| {
            let published = r["body"]["payload"].as_str()?.parse::<u64>().ok()?;
            Some(r["at_ms"].as_u64()?.saturating_sub(published))
        })
        .collect())
}
