//! The benchmark scenarios that run against the mesh, each returning the rows it reports
//! (the registry's, which needs no mesh, is in `device_store`).

mod call;
mod device_store;

pub use call::call;
pub use device_store::registry;

use crate::cpu;
use crate::load::{self, Publisher};
use crate::mesh::Mesh;
use crate::report::Row;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use pushmesh_contract::now_ms;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A durable queue on the broker with a manual-ack consumer holding up to 1000: the raw hop
/// both yardsticks use.
struct RawHop {
    publisher: Publisher,
    consumer: lapin::Consumer,
    queue: &'static str,
    _conn: lapin::Connection,
}

impl RawHop {
    async fn open(m: &Mesh, queue: &'static str) -> anyhow::Result<Self> {
        let publisher = Publisher::connect(&m.amqp_url(), 1000).await?;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let channel = publisher.channel();
        channel
            .queue_declare(queue.into(), durable, FieldTable::default())
            .await?;
        let conn = lapin::Connection::connect(&m.amqp_url(), Default::default()).await?;
        let ch = conn.create_channel().await?;
        ch.basic_qos(1000, BasicQosOptions::default()).await?;
        let consumer = ch
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(RawHop {
            publisher,
            consumer,
            queue,
            _conn: conn,
        })
    }
}

/// One raw persistent hop on the same broker: publish with confirms to a durable queue,
/// consume with manual ack, messages the size of the mesh's ingest messages; messages/s, and
/// the broker's CPU per message.
pub async fn ceiling(m: &Mesh, n: u64) -> anyhow::Result<Ceiling> {
    let RawHop {
        mut publisher,
        mut consumer,
        queue,
        _conn,
    } = RawHop::open(m, "bench.ceiling").await?;
    let counter = tokio::spawn(async move {
        let mut got = 0u64;
        while let Some(Ok(d)) = consumer.next().await {
            let _ = d.ack(BasicAckOptions::default()).await;
            got += 1;
            if got == n {
                break;
            }
        }
        got
    });
    let body = load::peer_message("ceiling-sized", "u0");
    let started = Instant::now();
    let broker = cpu::BrokerCpu::start();
    let mut progress = load::Progress::new("ceiling messages published", n, started);
    for i in 0..n {
        publisher.publish("", queue, &body).await?;
        progress.tick(i + 1);
    }
    publisher.flush().await?;
    counter.await?;
    Ok(Ceiling {
        rate: n as f64 / started.elapsed().as_secs_f64(),
        broker_us: broker.per(n),
    })
}

/// What one [`ceiling`] phase measured.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// Messages a second through the raw hop.
    pub rate: f64,
    /// RabbitMQ's CPU per message, in µs, where the broker runs on this machine.
    pub broker_us: Option<u64>,
}

/// The raw hop at the latency scenario's rate: publish to delivery at the consumer, the part of
/// the mesh's latency each of its four persistent hops cannot go below on this broker.
pub async fn hop_latency(m: &Mesh, rate: f64, n: u64) -> anyhow::Result<Vec<Row>> {
    let RawHop {
        publisher,
        mut consumer,
        queue,
        _conn,
    } = RawHop::open(m, "bench.hop-latency").await?;
    let started = Instant::now();
    let size = load::peer_message("ceiling-sized", "u0").len();
    let receiver = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(n as usize);
        while let Some(Ok(d)) = consumer.next().await {
            let sent_us = u64::from_be_bytes(d.data[..8].try_into().unwrap_or_default());
            lat.push((started.elapsed().as_micros() as u64).saturating_sub(sent_us));
            let _ = d.ack(BasicAckOptions::default()).await;
            if lat.len() as u64 == n {
                break;
            }
        }
        lat
    });
    let broker = cpu::BrokerCpu::start();
    let mut pace = load::Pace::new(rate);
    let mut progress = load::Progress::new("hop latency messages published", n, started);
    let mut sent = 0;
    let mut confirms = Vec::with_capacity(n as usize);
    while sent < n {
        progress.tick(sent);
        for _ in 0..pace.next().await.min(n - sent) {
            let mut body = vec![b' '; size];
            body[..8].copy_from_slice(&(started.elapsed().as_micros() as u64).to_be_bytes());
            let confirm = publisher.publish_confirm("", queue, &body).await?;
            let at = Instant::now();
            confirms.push(tokio::spawn(async move {
                confirm.await.map(|_| at.elapsed().as_micros() as u64)
            }));
            sent += 1;
        }
    }
    let mut confirmed = Vec::with_capacity(confirms.len());
    for c in confirms {
        confirmed.push(c.await??);
    }
    let mut lat = receiver.await?;
    // Beside the latency row's figure for the mesh at the same rate: the difference is what the
    // mesh's own traffic (batches between stages, outcomes) costs the broker per push.
    let broker = broker
        .per(n)
        .map(|us| format!(", RabbitMQ's CPU {us} µs a message"))
        .unwrap_or_default();
    let [p50, p99, p999] =
        load::percentiles(&mut lat, [0.50, 0.99, 0.999]).map(|us| us as f64 / 1000.0);
    let [c50, c99, c999] =
        load::percentiles(&mut confirmed, [0.50, 0.99, 0.999]).map(|us| us as f64 / 1000.0);
    Ok(vec![Row::new(
        "hop latency",
        format!("p50 {p50:.1} ms, p99 {p99:.1} ms, p99.9 {p999:.1} ms; confirm p50 {c50:.1} ms, p99 {c99:.1} ms, p99.9 {c999:.1} ms"),
        format!("one raw persistent hop at the latency scenario's rate ({n} messages at {rate:.0}/s){broker}; a push takes four"),
        "",
        None,
    )])
}

/// `n` one-to-one messages to offline users with one FCM device each, published as fast as
/// the broker confirms; pushes/s received by vendor-sim, and where the phase's CPU went.
pub async fn peer(m: &Mesh, n: u64, users: usize) -> anyhow::Result<(f64, String)> {
    let (_, before) = load::count(m, "fcm").await;
    let mut publisher = Publisher::connect(&m.amqp_url(), 1000).await?;
    let started = Instant::now();
    let cpu = cpu::CpuSpent::start(m);
    let mut progress = load::Progress::new("peer messages published", n, started);
    for i in 0..n {
        let body = load::peer_message(
            &format!("peer-{}-{i}", now_ms()),
            &format!("u{}", i as usize % users),
        );
        publisher
            .publish("pushmesh.ingest", "im.message", &body)
            .await?;
        progress.tick(i + 1);
    }
    publisher.flush().await?;
    let took = load::wait_until(
        "peer pushes at vendor-sim",
        before + n,
        started,
        Duration::from_secs(900),
        || async { load::count(m, "fcm").await.1 },
    )
    .await?;
    Ok((n as f64 / took.as_secs_f64(), cpu.per_push(m, n)))
}

/// The peer scenario at a fixed rate; publish-to-vendor latency percentiles. With `vendor_ms`,
/// vendor-sim's FCM answers each request that much later (as a distant vendor would), and
/// records it then: the figures include it.
pub async fn latency(
    m: &Mesh,
    rate: f64,
    n: u64,
    users: usize,
    vendor_ms: u64,
) -> anyhow::Result<Vec<Row>> {
    let (requests_before, before) = load::count(m, "fcm").await;
    load::sim_post(m, "/sim/fcm/latency", json!({ "ms": vendor_ms })).await;
    let mut publisher = Publisher::connect(&m.amqp_url(), 1000).await?;
    let started = Instant::now();
    let cpu = cpu::CpuSpent::start(m);
    let mut pace = load::Pace::new(rate);
    let mut progress = load::Progress::new("latency messages published", n, started);
    let mut sent = 0;
    while sent < n {
        progress.tick(sent);
        for _ in 0..pace.next().await.min(n - sent) {
            let body = load::peer_message(
                &format!("lat-{}-{sent}", now_ms()),
                &format!("u{}", sent as usize % users),
            );
            publisher
                .publish("pushmesh.ingest", "im.message", &body)
                .await?;
            sent += 1;
        }
    }
    publisher.flush().await?;
    load::wait_until(
        "latency pushes at vendor-sim",
        before + n,
        started,
        Duration::from_secs(600),
        || async { load::count(m, "fcm").await.1 },
    )
    .await?;
    let spent = cpu.per_push(m, n);
    load::sim_post(m, "/sim/fcm/latency", json!({ "ms": 0 })).await;
    let all: Value = m
        .http
        .get(format!("{}/sim/fcm/requests", crate::mesh::sim()))
        .send()
        .await?
        .json()
        .await?;
    let mut lat: Vec<u64> = all["requests"]
        .as_array()
        .map(|r| r[requests_before as usize..].to_vec())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some(r["at_ms"].as_u64()? - r["body"]["payload"].as_str()?.parse::<u64>().ok()?)
        })
        .collect();
    let [p50, p99, p999] = load::percentiles(&mut lat, [0.50, 0.99, 0.999]);
    Ok(vec![Row::new(
        "latency",
        format!("p50 {p50} ms, p99 {p99} ms, p99.9 {p999} ms"),
        format!(
            "{n} messages at {rate:.0}/s, publish to vendor request{}; {spent}",
            match vendor_ms {
                0 => String::new(),
                ms => format!(" (vendor-sim answering after {ms} ms, included)"),
            }
        ),
        "p99 <= 50 ms",
        // The target leaves the vendor's own answer time out.
        (vendor_ms == 0).then_some(p99 <= 50),
    )])
}

pub(crate) const VENDORS: [&str; 7] = ["fcm", "apns", "huawei", "xiaomi", "oppo", "vivo", "honor"];

/// One group message to `members` members, half of them online, devices spread over the vendors.
pub async fn group(m: &Mesh, members: usize, offset: usize) -> anyhow::Result<Vec<Row>> {
    let users = offset..offset + members;
    println!("  group: registering {members} devices");
    load::register(m, users.clone(), |i| VENDORS[i % VENDORS.len()]).await?;
    let mut publisher = Publisher::connect(&m.amqp_url(), 1000).await?;
    for i in users.clone().filter(|i| i % 2 == 0) {
        let online =
            json!({"app_id": "bench", "user_id": format!("u{i}"), "session_id": "s", "ttl_s": 600});
        publisher
            .publish(
                "pushmesh.ingest",
                "presence.online",
                online.to_string().as_bytes(),
            )
            .await?;
    }
    publisher.flush().await?;
    let mut before = Vec::new();
    for v in VENDORS {
        before.push(load::count(m, v).await);
    }
    let recipients: Vec<String> = users.map(|i| format!("u{i}")).collect();
    let body = json!({
        "app_id": "bench", "message_id": format!("group-{}", now_ms()), "conversation_type": "group",
        "conversation_id": "big", "sender_id": "bench-sender", "recipients": recipients,
        "push": {"title": "Team", "content": "Standup in five minutes"}
    });
    let offline = (members / 2) as u64;
    let started = Instant::now();
    publisher
        .publish("pushmesh.ingest", "im.message", body.to_string().as_bytes())
        .await?;
    publisher.flush().await?;
    let took = load::wait_until(
        "group pushes at the vendors",
        offline,
        started,
        Duration::from_secs(300),
        || async {
            let mut got = 0;
            for (v, (_, accepted)) in VENDORS.iter().zip(&before) {
                got += load::count(m, v).await.1 - accepted;
            }
            got
        },
    )
    .await?;
    let mut requests = 0;
    for (v, (r, _)) in VENDORS.iter().zip(&before) {
        requests += load::count(m, v).await.0 - r;
    }
    Ok(vec![Row::new(
        "group",
        format!("{} ms to the last vendor request, {requests} vendor requests", took.as_millis()),
        format!("{members} members, {offline} offline, devices over 7 vendors (FCM and APNs take one device a request, the others up to 1000)"),
        "<= 1 s",
        Some(took <= Duration::from_secs(1)),
    )])
}

/// RSS of every service idle, after half the pushes and after all of them. Flat means the
/// second half added (next to) nothing: buffers and caches reach their bounds in the first.
pub async fn memory(
    m: &Mesh,
    idle: &[(&'static str, u64)],
    pushes: u64,
    users: usize,
) -> anyhow::Result<Row> {
    let mut snapshots = Vec::new();
    for target in [pushes / 2, pushes] {
        let (_, so_far) = load::count(m, "fcm").await;
        if target > so_far {
            println!("memory: pushing up to {target} pushes in all");
            peer(m, target - so_far, users).await?;
        }
        snapshots.push(m.rss_kib());
    }
    let mb = |kib: u64| kib / 1024;
    let services: Vec<(&str, u64, u64, u64)> = idle
        .iter()
        .zip(&snapshots[0])
        .zip(&snapshots[1])
        .filter(|(((name, _), _), _)| *name != "vendor-sim")
        .map(|(((name, i), (_, h)), (_, f))| (*name, *i, *h, *f))
        .collect();
    let per: Vec<String> = services
        .iter()
        .map(|(name, i, h, f)| format!("{name} {} / {} / {} MB", mb(*i), mb(*h), mb(*f)))
        .collect();
    let max_idle = services.iter().map(|s| s.1).max().unwrap_or(0);
    let max_second_half = services
        .iter()
        .map(|s| s.3.saturating_sub(s.2))
        .max()
        .unwrap_or(0);
    Ok(Row::new(
        "memory",
        per.join("; "),
        format!(
            "RSS idle / after {} / after {pushes} pushes, per service",
            pushes / 2
        ),
        "idle <= 30 MB, flat (second half adds <= 10 MB)",
        Some(max_idle <= 30 * 1024 && max_second_half <= 10 * 1024),
    ))
}
