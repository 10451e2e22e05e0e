//! pushmesh-cli: publish to `pushmesh.ingest` the way an IM server does, from a shell.
//!
//!   pushmesh-cli publish <routing-key> '<json body>'
//!
//! The broker URL comes from the pushmesh settings (`PUSHMESH_CONFIG`, `PUSHMESH__AMQP__URL`).

use anyhow::{bail, Context};
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use pushmesh_runtime::amqp::topology::INGEST_EXCHANGE;
use pushmesh_runtime::Settings;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [command, routing_key, body] = args.as_slice() else {
        bail!("usage: pushmesh-cli publish <routing-key> '<json body>'");
    };
    if command != "publish" {
        bail!("unknown command `{command}`: the one command is `publish`");
    }
    serde_json::from_str::<serde_json::Value>(body).context("the body is not JSON")?;
    let settings = Settings::load()?;
    let conn = Connection::connect(&settings.amqp.url, ConnectionProperties::default())
        .await
        .with_context(|| format!("cannot connect to {}", settings.amqp.url))?;
    let channel = conn.create_channel().await?;
    channel.confirm_select(Default::default()).await?;
    let confirm = channel
        .basic_publish(
            INGEST_EXCHANGE.into(),
            routing_key.as_str().into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into()),
        )
        .await?
        .await?;
    if !confirm.is_ack() {
        bail!("the broker refused the message");
    }
    println!("published {routing_key} to {INGEST_EXCHANGE}");
    conn.close(200, "done".into()).await?;
    Ok(())
}
