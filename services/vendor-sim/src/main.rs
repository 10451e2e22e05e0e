use pushmesh_runtime::{settings, telemetry, Settings, Shutdown};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init("vendor-sim", &settings);
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    vendor_sim::Application::build(&settings, &settings::config_dir(), shutdown)?
        .run_until_stopped()
        .await?;
    Ok(())
}
