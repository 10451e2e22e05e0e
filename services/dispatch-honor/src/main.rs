use pushmesh_runtime::{telemetry, Settings, Shutdown};

#[actix_rt::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init("dispatch-honor", &settings.log);
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    dispatch_honor::build(settings, shutdown)?
        .run_until_stopped()
        .await?;
    Ok(())
}
