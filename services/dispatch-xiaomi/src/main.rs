use pushmesh_runtime::{settings, telemetry, Settings, Shutdown};

#[actix_rt::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init("dispatch-xiaomi", &settings);
    let config_dir = settings::config_dir();
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    pushmesh_dispatch::build::<dispatch_xiaomi::XiaomiClient>(settings, &config_dir, shutdown)?
        .run_until_stopped()
        .await?;
    Ok(())
}
