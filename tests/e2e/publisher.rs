//! A stage's publisher starts every output of a batch at once (docs/architecture.md,
//! Batching); they still reach their queues in order, each with its own confirm.

use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use pushmesh_runtime::amqp::{AmqpError, Outgoing, Publisher};
use pushmesh_tests::Vhost;

fn numbered(queue: &str, n: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| Outgoing::to_queue(queue, i.to_string().into_bytes()))
        .collect()
}

#[actix_rt::test]
async fn a_batch_of_outputs_arrives_in_order_each_with_its_own_confirm() {
    let vhost = Vhost::create();
    let conn = Connection::connect(&vhost.amqp_url(), ConnectionProperties::default())
        .await
        .expect("test connection to RabbitMQ");
    let channel = conn.create_channel().await.expect("channel");
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare("ordered".into(), durable, FieldTable::default())
        .await
        .expect("declare");
    let publisher = Publisher::open(&conn).await.expect("publisher");

    // More than a few dozen: futures' join_all polls a long list through another path.
    let n = 3000;
    let confirms = publisher.send_all(&numbered("ordered", n)).await;
    confirms
        .expect("sent")
        .confirmed()
        .await
        .expect("confirmed");
    let mut taken = Vec::new();
    while let Some(m) = channel
        .basic_get("ordered".into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
    {
        taken.push(String::from_utf8(m.delivery.data.clone()).expect("utf-8"));
    }
    let expected: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    assert_eq!(taken.len(), n, "every message arrived");
    assert!(taken == expected, "messages arrived out of order");

    // One message no queue takes, amid others: the confirms fail and name where it went, so
    // each confirm belongs to its own message.
    let mut mixed = numbered("ordered", 100);
    mixed.insert(57, Outgoing::to_queue("no-such-queue", b"lost?".to_vec()));
    let confirms = publisher.send_all(&mixed).await.expect("sent");
    match confirms.confirmed().await {
        Err(AmqpError::Unroutable(target)) => assert_eq!(target, "no-such-queue"),
        other => panic!("expected the unroutable message named, got {other:?}"),
    }
}
