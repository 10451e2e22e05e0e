//! pushmesh-cli: what an operator does from a shell.
//!
//!   pushmesh-cli publish <routing-key> '<json body>'    publish to `pushmesh.ingest`, as an IM server does
//!   pushmesh-cli replay <vendor> [--ttl-s N]           move parked pushes back to `dispatch.<vendor>`
//!   pushmesh-cli token <app> <user> [--ttl-s N]        mint a user token for the device API, as
//!                                                      the app's server does (HS256 apps)
//!
//! The broker URL comes from the pushmesh settings (`PUSHMESH_CONFIG`, `PUSHMESH__AMQP__URL`).

use anyhow::{bail, Context};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, ConnectionProperties};
use pushmesh_contract::{now_ms, Vendor};
use pushmesh_runtime::amqp::parked;
use pushmesh_runtime::amqp::topology::{parked_queue, INGEST_EXCHANGE};
use pushmesh_runtime::Settings;

const USAGE: &str = "usage: pushmesh-cli publish <routing-key> '<json body>'\n       pushmesh-cli replay <vendor> [--ttl-s N]\n       pushmesh-cli token <app> <user> [--ttl-s N]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let settings = Settings::load()?;
    match args.as_slice() {
        ["token", app, user] => return token(&settings, app, user, 3600),
        ["token", app, user, "--ttl-s", ttl] => {
            let ttl: u64 = ttl.parse().context("--ttl-s takes whole seconds")?;
            return token(&settings, app, user, ttl);
        }
        _ => {}
    }
    // Not the URL in the message: it holds the broker's password.
    let conn = pushmesh_runtime::amqp::open(&settings.amqp, ConnectionProperties::default())
        .await
        .context("cannot connect to the broker of amqp.url")?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    match args.as_slice() {
        ["publish", routing_key, body] => publish(&channel, routing_key, body).await?,
        ["replay", vendor] => replay(&channel, vendor.parse()?, None).await?,
        ["replay", vendor, "--ttl-s", ttl] => {
            let ttl: u64 = ttl.parse().context("--ttl-s takes whole seconds")?;
            replay(&channel, vendor.parse()?, Some(ttl)).await?
        }
        _ => bail!(USAGE),
    }
    conn.close(200, "done".into()).await?;
    Ok(())
}

/// Prints a user token for `user` of `app`, signed with the app's `token_secret_file`: the
/// JWT an app's server gives its user's phone (docs/contract.md has the claims).
fn token(settings: &Settings, app: &str, user: &str, ttl_s: u64) -> anyhow::Result<()> {
    let api_app = settings.api.apps.get(app);
    let Some(path) = api_app.and_then(|a| a.token_secret_file.as_ref()) else {
        bail!("api.apps.{app}.token_secret_file is not set: this app signs no HS256 user tokens");
    };
    let secret = std::fs::read_to_string(path)
        .with_context(|| format!("api.apps.{app}.token_secret_file: {}", path.display()))?;
    let claims = serde_json::json!({"sub": user, "app": app, "exp": now_ms() / 1000 + ttl_s});
    let key = jsonwebtoken::EncodingKey::from_secret(secret.trim().as_bytes());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    println!("{}", jsonwebtoken::encode(&header, &claims, &key)?);
    Ok(())
}

async fn send(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    content_type: &str,
) -> anyhow::Result<()> {
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                mandatory: exchange.is_empty(),
                ..Default::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type(content_type.into()),
        )
        .await?
        .await?;
    if !confirm.is_ack() || confirm.take_message().is_some() {
        bail!("the broker did not take the message for {exchange}/{routing_key}");
    }
    Ok(())
}

async fn publish(channel: &Channel, routing_key: &str, body: &str) -> anyhow::Result<()> {
    serde_json::from_str::<serde_json::Value>(body).context("the body is not JSON")?;
    send(
        channel,
        INGEST_EXCHANGE,
        routing_key,
        body.as_bytes(),
        "application/json",
    )
    .await?;
    println!("published {routing_key} to {INGEST_EXCHANGE}");
    Ok(())
}

/// Moves every parked push back to its vendor's queue as a new send (`amqp::parked`).
async fn replay(channel: &Channel, vendor: Vendor, ttl_s: Option<u64>) -> anyhow::Result<()> {
    let pushes = parked::replay(channel, vendor, None, ttl_s).await?;
    println!(
        "replayed {pushes} pushes from {} to dispatch.{vendor}",
        parked_queue(vendor)
    );
    Ok(())
}
