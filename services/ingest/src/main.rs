use pushmesh_runtime::{telemetry, Settings, Shutdown};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init("ingest", &settings);
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    ingest::Application::build(settings, shutdown)?
        .run_until_stopped()
        .await?;
    Ok(())
}
