//! Parked pushes (`dispatch.<vendor>.parked`, where pushes whose retries ran out wait): how
//! many there are, and replaying them, all or one app's, as new sends: attempts reset,
//! counted as a replay (so the dispatcher does not take one for a duplicate), with a new TTL
//! if given. A parked message is acked only after what it became is confirmed.

use super::topology::{dispatch_queue, parked_queue, Lane};
use super::AmqpError;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use pushmesh_contract::stage::{Batch, DevicePush};
use pushmesh_contract::{codec, now_ms, Vendor};

/// Parked messages (batches of pushes) of `vendor`, every app's.
pub async fn count(channel: &Channel, vendor: Vendor) -> Result<u32, AmqpError> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let queue = parked_queue(vendor);
    let q = channel
        .queue_declare(queue.as_str().into(), passive, FieldTable::default())
        .await?;
    Ok(q.message_count())
}

/// Moves `app`'s parked pushes (every app's when None) back to `dispatch.<vendor>`; other
/// apps' go back to the parked queue. Returns how many pushes were replayed. `channel` must
/// be in confirm mode.
pub async fn replay(
    channel: &Channel,
    vendor: Vendor,
    app: Option<&str>,
    ttl_s: Option<u64>,
) -> Result<usize, AmqpError> {
    let from = parked_queue(vendor);
    let mut replayed = 0;
    // Only what is parked now: another app's pushes put back must not be read again.
    for _ in 0..count(channel, vendor).await? {
        let get = BasicGetOptions { no_ack: false };
        let Some(msg) = channel.basic_get(from.as_str().into(), get).await? else {
            break;
        };
        let batch: Batch<DevicePush> = codec::decode(&msg.delivery.data).map_err(|e| {
            AmqpError::stage(format!("a message in {from} is not a parked batch: {e}"))
        })?;
        let (mut mine, others): (Vec<_>, Vec<_>) = batch
            .items
            .into_iter()
            .partition(|p| app.is_none_or(|a| p.app_id == a));
        for push in &mut mine {
            push.attempt = 0;
            push.not_before_ms = 0;
            push.replays += 1;
            if let Some(ttl) = ttl_s {
                push.expires_at_ms = now_ms() + ttl * 1000;
            }
        }
        replayed += mine.len();
        // A parked batch is one lane's: a call's pushes go back to the call lane.
        let lane = Lane::of(mine.first().and_then(|p| p.call.as_ref()));
        for (queue, items) in [(dispatch_queue(vendor, lane), mine), (from.clone(), others)] {
            if !items.is_empty() {
                send(channel, &queue, &codec::encode(&Batch { items })).await?;
            }
        }
        msg.delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    Ok(replayed)
}

async fn send(channel: &Channel, queue: &str, body: &[u8]) -> Result<(), AmqpError> {
    let confirm = channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/octet-stream".into()),
        )
        .await?
        .await?;
    if !confirm.is_ack() {
        return Err(AmqpError::Nacked(queue.to_owned()));
    }
    if confirm.take_message().is_some() {
        return Err(AmqpError::Unroutable(queue.to_owned()));
    }
    Ok(())
}
