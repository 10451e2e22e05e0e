use super::AmqpError;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, Consumer};
use std::time::Duration;

/// Consumes one queue with manual ack and a bounded prefetch, handing out deliveries in batches.
pub struct BatchConsumer {
    queue: String,
    channel: Channel,
    consumer: Consumer,
    max: usize,
    linger: Duration,
    /// The least time from one batch taken to the next (see [`BatchConsumer::next_batch`]).
    interval: Duration,
    /// The batch being gathered, and when gathering it stops.
    gathered: Vec<Delivery>,
    deadline: tokio::time::Instant,
    last_taken: Option<tokio::time::Instant>,
}

impl BatchConsumer {
    /// Closes the channel and waits for the broker (see `Publisher::close`); what was delivered
    /// and not acked goes back to the queue.
    pub async fn close(self) {
        if let Err(e) = self
            .channel
            .close(200, "pushmesh stage stopped".into())
            .await
        {
            tracing::debug!(queue = %self.queue, error = %e, "closing the consumer channel");
        }
    }

    pub async fn open(
        conn: &Connection,
        queue: &str,
        prefetch: u16,
        max: usize,
        linger: Duration,
        interval: Duration,
    ) -> Result<Self, AmqpError> {
        let channel = conn.create_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                ShortString::from(queue),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(BatchConsumer {
            queue: queue.to_owned(),
            channel,
            consumer,
            max: max.max(1),
            linger,
            interval,
            gathered: Vec::new(),
            deadline: tokio::time::Instant::now(),
            last_taken: None,
        })
    }

    /// Waits for one delivery, then takes what has already arrived; with `linger`, it also
    /// waits up to the linger for the batch to fill (to `max`).
    ///
    /// The stage lingers only while earlier batches are still settling: a batch's cost is its
    /// confirms and store flush, so waiting pays only when the next flush would wait its turn
    /// anyway. A quiet stage sends what it has at once instead of adding the linger to every hop.
    ///
    /// With an `interval`, a batch is also not taken sooner than that after the one before (or
    /// before it is full): a stage busy enough to take batches more often gathers them, since a
    /// batch costs about the same whatever it holds; a quiet one, whose last batch is older,
    /// is not held.
    ///
    /// Cancel-safe: deliveries gathered before a cancellation stay in the consumer and open the
    /// next batch. (Dropping them would be worse than a delay: a later `multiple` ack would ack
    /// them unprocessed.)
    pub async fn next_batch(&mut self, linger: bool) -> Result<Vec<Delivery>, AmqpError> {
        if self.gathered.is_empty() {
            let first = match self.consumer.next().await {
                Some(d) => d?,
                None => return Err(AmqpError::ConsumerClosed(self.queue.clone())),
            };
            self.gathered.push(first);
            self.deadline = tokio::time::Instant::now() + self.linger;
        }
        let mut deadline = match linger {
            true => self.deadline,
            false => tokio::time::Instant::now(),
        };
        if let Some(last) = self.last_taken {
            deadline = deadline.max(last + self.interval);
        }
        // With the deadline now this still takes what has already arrived: `timeout_at` polls
        // the stream before it looks at the clock.
        while self.gathered.len() < self.max {
            match tokio::time::timeout_at(deadline, self.consumer.next()).await {
                Ok(Some(d)) => self.gathered.push(d?),
                Ok(None) => return Err(AmqpError::ConsumerClosed(self.queue.clone())),
                Err(_elapsed) => break,
            }
        }
        self.last_taken = Some(tokio::time::Instant::now());
        Ok(std::mem::take(&mut self.gathered))
    }

    /// Acks every delivery up to and including `last` in one frame. Deliveries of a channel that
    /// failed meanwhile are not acked (lapin poisons their ackers); the broker redelivers them.
    pub async fn ack_through(&self, last: &Delivery) -> Result<bool, AmqpError> {
        Ok(last.acker.ack(BasicAckOptions { multiple: true }).await?)
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}
