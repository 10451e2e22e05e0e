//! Every exchange and queue pushmesh uses, declared in one place.
//!
//! Every service declares the whole topology when it connects (declaring is idempotent), so no
//! stage ever publishes into a queue that does not exist yet, whatever order services start in.
//! docs/architecture.md draws the same picture.

use super::AmqpError;
use crate::Settings;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ExchangeKind};
use pushmesh_contract::stage::CallRef;
use pushmesh_contract::Vendor;

/// Where the IM server publishes (topic, durable). Public contract.
pub const INGEST_EXCHANGE: &str = "pushmesh.ingest";
/// Where outcomes go (topic, durable), routing key `outcome.<vendor>.<status>`. Public contract.
pub const OUTCOMES_EXCHANGE: &str = "pushmesh.outcomes";
/// Everything published to the ingest exchange, whatever its routing key: unknown keys are
/// rejected with a reason rather than silently unroutable. (Calls arrive here too, and are
/// taken from [`INGEST_CALLS_QUEUE`] instead.)
pub const INGEST_QUEUE: &str = "pushmesh.ingest";
/// `im.call.*`: the call lane's way in.
pub const INGEST_CALLS_QUEUE: &str = "pushmesh.ingest.calls";
/// Ended calls, to every dispatcher (fanout, durable): each replica has a queue of its own.
pub const CALLS_ENDED_EXCHANGE: &str = "pushmesh.calls.ended";
/// The longest a call may ring (`im.call.invite`'s `timeout_s`): the call lane's delay queues
/// go no longer.
pub const MAX_CALL_TIMEOUT_S: u64 = 600;
/// Input that failed validation, with the reason in header [`ERROR_HEADER`]. Public contract.
pub const REJECTED_QUEUE: &str = "pushmesh.rejected";
/// Internal messages a stage could not decode, with the reason in [`ERROR_HEADER`].
pub const DEAD_LETTER_QUEUE: &str = "pushmesh.dead-letter";
/// `invalid_token` outcomes, for the registry to delete those devices.
pub const INVALID_TOKENS_QUEUE: &str = "pushmesh.registry.invalid-tokens";
/// Every stage's trace events, in batches, for the registry to keep.
pub const TRACE_QUEUE: &str = "pushmesh.trace";

pub const ERROR_HEADER: &str = "x-pushmesh-error";
pub const MESSAGE_ID_HEADER: &str = "x-pushmesh-message-id";
pub const PUSH_ID_HEADER: &str = "x-pushmesh-push-id";
pub const TOKEN_GEN_HEADER: &str = "x-pushmesh-token-gen";
/// On an outcome of a push to a device's VoIP token (`voip`): its generation is the VoIP
/// token's, and a dead one is forgotten without the device.
pub const TOKEN_KIND_HEADER: &str = "x-pushmesh-token-kind";
/// When a stage published the message, in microseconds since the Unix epoch: the next stage
/// reports how long it waited (`queue_wait_seconds`).
pub const PUBLISHED_US_HEADER: &str = "x-pushmesh-published-us";

/// Which lane a queue carries. Calls have queues of their own at every stage, each with a
/// consumer of its own, so a call never waits behind message pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    Message,
    Call,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Message, Lane::Call];

    /// The lane of a push: the call lane for any push of a call.
    pub fn of(call: Option<&CallRef>) -> Lane {
        match call {
            Some(_) => Lane::Call,
            None => Lane::Message,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Lane::Message => "",
            Lane::Call => ".calls",
        }
    }
}

pub fn presence_queue(shard: u32, lane: Lane) -> String {
    format!("pushmesh.presence.{shard}{}", lane.suffix())
}

pub fn registry_queue(shard: u32, lane: Lane) -> String {
    format!("pushmesh.registry.{shard}{}", lane.suffix())
}

/// A vendor's work queue (DESIGN.md: `dispatch.<vendor>`), and its call lane's.
pub fn dispatch_queue(vendor: Vendor, lane: Lane) -> String {
    format!("dispatch.{vendor}{}", lane.suffix())
}

/// A delay queue: messages wait `seconds`, then dead-letter back into the lane's work queue.
pub fn retry_queue(vendor: Vendor, lane: Lane, seconds: u64) -> String {
    format!("dispatch.{vendor}{}.retry.{seconds}s", lane.suffix())
}

/// The delay tiers of a lane: the call lane's stop at the longest call.
pub fn retry_tiers(settings: &Settings, lane: Lane) -> Vec<u64> {
    let tiers = settings.dispatch.retry_tiers_s.iter().copied();
    match lane {
        Lane::Message => tiers.collect(),
        Lane::Call => tiers.filter(|s| *s <= MAX_CALL_TIMEOUT_S).collect(),
    }
}

/// One dispatcher replica's queue of ended calls, bound to [`CALLS_ENDED_EXCHANGE`]: every
/// replica must hear of every ended call, since any of them may hold its pushes.
pub fn calls_ended_queue(vendor: Vendor, replica: &str) -> String {
    format!("dispatch.{vendor}.calls-ended.{replica}")
}

/// Pushes given up as `failed` or `expired`, kept for an operator to inspect and replay.
pub fn parked_queue(vendor: Vendor) -> String {
    format!("dispatch.{vendor}.parked")
}

/// The shard that owns a user: presence and registry state for it live there.
pub fn shard_of(app_id: &str, user_id: &str, shards: u32) -> u32 {
    // FNV-1a: stable across builds and platforms, unlike std's randomly keyed hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in app_id.bytes().chain([0u8]).chain(user_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(shards.max(1))) as u32
}

/// Declares everything, idempotently.
pub async fn declare(conn: &Connection, settings: &Settings) -> Result<(), AmqpError> {
    let ch = conn.create_channel().await?;
    for (exchange, kind) in [
        (INGEST_EXCHANGE, ExchangeKind::Topic),
        (OUTCOMES_EXCHANGE, ExchangeKind::Topic),
        (CALLS_ENDED_EXCHANGE, ExchangeKind::Fanout),
    ] {
        ch.exchange_declare(
            ShortString::from(exchange),
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    }
    queue(&ch, INGEST_QUEUE, FieldTable::default()).await?;
    bind(&ch, INGEST_QUEUE, INGEST_EXCHANGE, "#").await?;
    queue(&ch, INGEST_CALLS_QUEUE, FieldTable::default()).await?;
    bind(&ch, INGEST_CALLS_QUEUE, INGEST_EXCHANGE, "im.call.*").await?;
    queue(&ch, REJECTED_QUEUE, FieldTable::default()).await?;
    queue(&ch, DEAD_LETTER_QUEUE, FieldTable::default()).await?;
    queue(&ch, INVALID_TOKENS_QUEUE, FieldTable::default()).await?;
    queue(&ch, TRACE_QUEUE, FieldTable::default()).await?;
    bind(
        &ch,
        INVALID_TOKENS_QUEUE,
        OUTCOMES_EXCHANGE,
        "outcome.*.invalid_token",
    )
    .await?;
    for (shard, lane) in (0..settings.shards).flat_map(|s| Lane::ALL.map(|l| (s, l))) {
        queue(&ch, &presence_queue(shard, lane), FieldTable::default()).await?;
        queue(&ch, &registry_queue(shard, lane), FieldTable::default()).await?;
    }
    for vendor in Vendor::ALL {
        queue(&ch, &parked_queue(vendor), FieldTable::default()).await?;
        for lane in Lane::ALL {
            declare_lane(&ch, settings, vendor, lane).await?;
        }
    }
    ch.close(200, "topology declared".into()).await?;
    Ok(())
}

/// A vendor lane's work queue and its delay queues, which dead-letter back into it.
async fn declare_lane(
    ch: &Channel,
    settings: &Settings,
    vendor: Vendor,
    lane: Lane,
) -> Result<(), AmqpError> {
    let work = dispatch_queue(vendor, lane);
    queue(ch, &work, FieldTable::default()).await?;
    for seconds in retry_tiers(settings, lane) {
        let mut args = FieldTable::default();
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(seconds as i64 * 1000),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(work.as_str().into()),
        );
        queue(ch, &retry_queue(vendor, lane, seconds), args).await?;
    }
    Ok(())
}

/// A dispatcher replica's queue of ended calls, bound to the fanout exchange.
/// Returns its name and how many ended calls wait in it.
pub async fn declare_calls_ended(
    conn: &Connection,
    vendor: Vendor,
    replica: &str,
) -> Result<(String, u32), AmqpError> {
    let ch = conn.create_channel().await?;
    let name = calls_ended_queue(vendor, replica);
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    // An ended call matters only while its invites may still be sent: no longer than the
    // longest call. A replica scaled away for good leaves a queue that goes after a day unused.
    let mut args = FieldTable::default();
    let ttl_ms = (MAX_CALL_TIMEOUT_S + 60) * 1000;
    args.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(ttl_ms as i64),
    );
    args.insert("x-expires".into(), AMQPValue::LongLongInt(86_400_000));
    let declared = ch
        .queue_declare(ShortString::from(name.as_str()), options, args)
        .await?;
    bind(&ch, &name, CALLS_ENDED_EXCHANGE, "").await?;
    ch.close(200, "calls-ended queue declared".into()).await?;
    Ok((name, declared.message_count()))
}

async fn queue(ch: &Channel, name: &str, args: FieldTable) -> Result<(), AmqpError> {
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(ShortString::from(name), options, args)
        .await?;
    Ok(())
}

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) -> Result<(), AmqpError> {
    ch.queue_bind(
        ShortString::from(queue),
        ShortString::from(exchange),
        ShortString::from(key),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_in_range() {
        assert_eq!(shard_of("demo", "alice", 1), 0);
        let a = shard_of("demo", "alice", 8);
        assert_eq!(a, shard_of("demo", "alice", 8));
        assert!(a < 8);
        let spread: std::collections::HashSet<u32> = (0..200)
            .map(|i| shard_of("demo", &format!("u{i}"), 8))
            .collect();
        assert_eq!(spread.len(), 8, "200 users should reach all 8 shards");
    }
}
