use super::topology::PUBLISHED_US_HEADER;
use super::AmqpError;
use futures_util::future;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, PublisherConfirm};
use std::future::Future;
use std::task::Poll;

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

    /// A bincode stage message to every queue bound to a fanout exchange; none bound is fine
    /// (no consumer of it ever ran, so none holds anything it concerns).
    pub fn broadcast(exchange: &'static str, body: Vec<u8>) -> Self {
        Outgoing {
            exchange,
            routing_key: String::new(),
            body,
            content_type: "application/octet-stream",
            headers: Vec::new(),
            mandatory: false,
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
        // A lapin publish ends only once its I/O thread has written the frames, so awaiting
        // them one by one would make every message (for a dispatcher, an outcome per push) a
        // round trip between two threads. All of them are
        // started first, then awaited together. The first poll is where lapin numbers a
        // message for its confirm and queues its frames, so it is done here in order, not
        // left to the order in which a combinator happens to poll: messages to one queue
        // keep their order.
        let mut publishes: Vec<_> = messages
            .iter()
            .map(|m| Box::pin(future::maybe_done(self.publish(m))))
            .collect();
        std::future::poll_fn(|cx| {
            for p in &mut publishes {
                let _ = p.as_mut().poll(cx);
            }
            Poll::Ready(())
        })
        .await;
        future::join_all(publishes.iter_mut().map(|p| p.as_mut())).await;
        let mut pending = Vec::with_capacity(messages.len());
        for (p, m) in publishes.iter_mut().zip(messages) {
            let confirm = p
                .as_mut()
                .take_output()
                .expect("join_all ends once every publish is done")?;
            pending.push((confirm, target(m)));
        }
        Ok(Confirms { pending })
    }

    async fn publish(&self, m: &Outgoing) -> Result<PublisherConfirm, lapin::Error> {
        let options = BasicPublishOptions {
            mandatory: m.mandatory,
            ..BasicPublishOptions::default()
        };
        self.channel
            .basic_publish(
                ShortString::from(m.exchange),
                ShortString::from(m.routing_key.as_str()),
                options,
                &m.body,
                m.properties(),
            )
            .await
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
