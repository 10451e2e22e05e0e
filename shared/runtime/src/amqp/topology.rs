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
use pushmesh_contract::Vendor;

/// Where the IM server publishes (topic, durable). Public contract.
pub const INGEST_EXCHANGE: &str = "pushmesh.ingest";
/// Where outcomes go (topic, durable), routing key `outcome.<vendor>.<status>`. Public contract.
pub const OUTCOMES_EXCHANGE: &str = "pushmesh.outcomes";
/// Everything published to the ingest exchange, whatever its routing key: unknown keys are
/// rejected with a reason rather than silently unroutable.
pub const INGEST_QUEUE: &str = "pushmesh.ingest";
/// Input that failed validation, with the reason in header [`ERROR_HEADER`]. Public contract.
pub const REJECTED_QUEUE: &str = "pushmesh.rejected";
/// Internal messages a stage could not decode, with the reason in [`ERROR_HEADER`].
pub const DEAD_LETTER_QUEUE: &str = "pushmesh.dead-letter";
/// `invalid_token` outcomes, for the registry to delete those devices.
pub const INVALID_TOKENS_QUEUE: &str = "pushmesh.registry.invalid-tokens";

pub const ERROR_HEADER: &str = "x-pushmesh-error";
pub const MESSAGE_ID_HEADER: &str = "x-pushmesh-message-id";
pub const PUSH_ID_HEADER: &str = "x-pushmesh-push-id";
pub const TOKEN_GEN_HEADER: &str = "x-pushmesh-token-gen";
/// When a stage published the message, in microseconds since the Unix epoch: the next stage
/// reports how long it waited (`queue_wait_seconds`).
pub const PUBLISHED_US_HEADER: &str = "x-pushmesh-published-us";

pub fn presence_queue(shard: u32) -> String {
    format!("pushmesh.presence.{shard}")
}

pub fn registry_queue(shard: u32) -> String {
    format!("pushmesh.registry.{shard}")
}

/// A vendor's work queue (DESIGN.md: `dispatch.<vendor>`).
pub fn dispatch_queue(vendor: Vendor) -> String {
    format!("dispatch.{vendor}")
}

/// A delay queue: messages wait `seconds`, then dead-letter back into the vendor's work queue.
pub fn retry_queue(vendor: Vendor, seconds: u64) -> String {
    format!("dispatch.{vendor}.retry.{seconds}s")
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
    for exchange in [INGEST_EXCHANGE, OUTCOMES_EXCHANGE] {
        ch.exchange_declare(
            ShortString::from(exchange),
            ExchangeKind::Topic,
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
    queue(&ch, REJECTED_QUEUE, FieldTable::default()).await?;
    queue(&ch, DEAD_LETTER_QUEUE, FieldTable::default()).await?;
    queue(&ch, INVALID_TOKENS_QUEUE, FieldTable::default()).await?;
    bind(
        &ch,
        INVALID_TOKENS_QUEUE,
        OUTCOMES_EXCHANGE,
        "outcome.*.invalid_token",
    )
    .await?;
    for shard in 0..settings.shards {
        queue(&ch, &presence_queue(shard), FieldTable::default()).await?;
        queue(&ch, &registry_queue(shard), FieldTable::default()).await?;
    }
    for vendor in Vendor::ALL {
        let work = dispatch_queue(vendor);
        queue(&ch, &work, FieldTable::default()).await?;
        queue(&ch, &parked_queue(vendor), FieldTable::default()).await?;
        for &seconds in &settings.dispatch.retry_tiers_s {
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
            queue(&ch, &retry_queue(vendor, seconds), args).await?;
        }
    }
    ch.close(200, "topology declared".into()).await?;
    Ok(())
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
