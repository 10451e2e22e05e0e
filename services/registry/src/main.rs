use pushmesh_runtime::{telemetry, Settings, Shutdown};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init("registry", &settings);
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    registry::Application::build(settings, shutdown)?
        .run_until_stopped()
        .await?;
    Ok(())
}
