use super::topology::PUBLISHED_US_HEADER;
use super::AmqpError;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, PublisherConfirm};

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub exchange: &'static str,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    /// Ask the broker to return the message if no queue takes it (stage hops must not vanish).
    pub mandatory: bool,
}

impl Outgoing {
    /// A bincode stage message straight to a queue (through the default exchange).
    pub fn to_queue(queue: impl Into<String>, body: Vec<u8>) -> Self {
        Outgoing {
            exchange: "",
            routing_key: queue.into(),
            body,
            content_type: "application/octet-stream",
            headers: Vec::new(),
            mandatory: true,
        }
    }

    /// A JSON message to a topic exchange; nobody bound is fine (e.g. outcomes nobody reads).
    pub fn json(exchange: &'static str, routing_key: impl Into<String>, body: Vec<u8>) -> Self {
        Outgoing {
            exchange,
            routing_key: routing_key.into(),
            body,
            content_type: "application/json",
            headers: Vec::new(),
            mandatory: false,
        }
    }

    pub fn with_header(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((key, value.into()));
        self
    }

    fn properties(&self) -> BasicProperties {
        let mut table = FieldTable::default();
        table.insert(
            ShortString::from(PUBLISHED_US_HEADER),
            AMQPValue::LongLongInt(now_us() as i64),
        );
        for (k, v) in &self.headers {
            table.insert(
                ShortString::from(*k),
                AMQPValue::LongString(LongString::from(v.as_str())),
            );
        }
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from(self.content_type))
            .with_headers(table)
    }
}

/// A channel in confirm mode. Every publish is persistent and awaited until the broker confirms it.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    pub async fn open(conn: &Connection) -> Result<Self, AmqpError> {
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher { channel })
    }

    /// Closes the channel and waits for the broker. A channel left to its drop closes itself in
    /// the background, racing the connection's close, and lapin logs the loser as an ERROR
    /// ("invalid channel state: Closing") on every clean stop.
    pub async fn close(&self) {
        if let Err(e) = self
            .channel
            .close(200, "pushmesh stage stopped".into())
            .await
        {
            tracing::debug!(error = %e, "closing the publisher channel");
        }
    }

    /// Writes every message to the channel, pipelined, and returns without waiting for the
    /// broker: [`Confirms::confirmed`] does that, so a stage can take its next batch meanwhile.
    /// Until it says Ok, the caller must not ack what produced them (on any failure they are
    /// redelivered and published again).
    pub async fn send_all(&self, messages: &[Outgoing]) -> Result<Confirms, AmqpError> {
        let mut pending = Vec::with_capacity(messages.len());
        for m in messages {
            let options = BasicPublishOptions {
                mandatory: m.mandatory,
                ..BasicPublishOptions::default()
            };
            let confirm = self
                .channel
                .basic_publish(
                    ShortString::from(m.exchange),
                    ShortString::from(m.routing_key.as_str()),
                    options,
                    &m.body,
                    m.properties(),
                )
                .await?;
            pending.push((confirm, m));
        }
        let pending = pending
            .into_iter()
            .map(|(confirm, m)| (confirm, target(m)))
            .collect();
        Ok(Confirms { pending })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}

/// The broker's answers to messages already sent.
pub struct Confirms {
    pending: Vec<(PublisherConfirm, String)>,
}

impl Confirms {
    /// Ok once the broker has taken responsibility for every message; a nack or a return
    /// (no queue for a `mandatory` message) is an error naming where it went.
    pub async fn confirmed(self) -> Result<(), AmqpError> {
        for (confirm, target) in self.pending {
            let confirmation = confirm.await?;
            if confirmation.is_nack() {
                return Err(AmqpError::Nacked(target));
            }
            if confirmation.take_message().is_some() {
                return Err(AmqpError::Unroutable(target));
            }
        }
        Ok(())
    }
}

/// Microseconds since the Unix epoch: a publish time the next stage, maybe on another host,
/// can compare with its own clock.
pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn target(m: &Outgoing) -> String {
    if m.exchange.is_empty() {
        m.routing_key.clone()
    } else {
        format!("{}/{}", m.exchange, m.routing_key)
    }
}
