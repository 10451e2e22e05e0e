//! vendor-sim: a faithful stand-in for the vendors' push APIs, for tests, the demo, benchmarks
//! and staging. Each vendor lives in its own folder and enforces what that vendor documents
//! (auth, request shape, error codes) under `/<vendor>/...`, so a dispatcher's base URL is
//! `http://<sim>/<vendor>`; `/sim/{vendor}/...` steers it and shows what it received.

mod control;
mod fcm;
mod honor;
mod huawei;
mod oppo;
mod state;
mod vivo;
mod xiaomi;

use actix_web::web;
use pushmesh_runtime::ops::{self, ListenError, Ops};
use pushmesh_runtime::{Settings, SettingsError, Shutdown};
use state::SimState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    shutdown: Shutdown,
}

impl Application {
    /// Binds `listen.vendor_sim` (port 0 picks a free one) and loads the keys it verifies with.
    pub fn build(settings: &Settings, shutdown: Shutdown) -> Result<Self, StartError> {
        let sim = &settings.vendor_sim;
        let public_key = match &sim.fcm_public_key_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    SettingsError::invalid(
                        "vendor_sim.fcm_public_key_file",
                        format!("{}: {e}", path.display()),
                    )
                })?;
                Some(jsonwebtoken::DecodingKey::from_rsa_pem(&pem).map_err(|e| {
                    SettingsError::invalid(
                        "vendor_sim.fcm_public_key_file",
                        format!("not an RSA public key: {e}"),
                    )
                })?)
            }
        };
        let fcm = web::Data::new(fcm::FcmSim {
            public_key,
            access_token_ttl_s: sim.access_token_ttl_s,
        });
        let huawei = web::Data::new(huawei::HuaweiSim::from_settings(settings));
        let xiaomi = web::Data::new(xiaomi::XiaomiSim::from_settings(settings));
        let oppo = web::Data::new(oppo::OppoSim::from_settings(settings));
        let vivo = web::Data::new(vivo::VivoSim::from_settings(settings));
        let honor = web::Data::new(honor::HonorSim::from_settings(settings));
        let state = web::Data::new(SimState::default());
        let ops = Ops::new("vendor-sim");
        // The sim is always ready: it has no broker session.
        ops.health.set_ready(true);
        let (server, port) = ops::serve(settings.listen.vendor_sim, ops, move |cfg| {
            cfg.app_data(state.clone())
                .app_data(fcm.clone())
                .configure(control::routes)
                .service(web::scope("/fcm").configure(fcm::routes))
                .app_data(huawei.clone())
                .service(web::scope("/huawei").configure(huawei::routes))
                .app_data(xiaomi.clone())
                .service(web::scope("/xiaomi").configure(xiaomi::routes))
                .app_data(oppo.clone())
                .service(web::scope("/oppo").configure(oppo::routes))
                .app_data(vivo.clone())
                .service(web::scope("/vivo").configure(vivo::routes))
                .app_data(honor.clone())
                .service(web::scope("/honor").configure(honor::routes));
        })?;
        Ok(Application {
            port,
            server,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let shutdown = self.shutdown.clone();
        pushmesh_runtime::service::run(self.server, shutdown.wait(), &self.shutdown).await
    }
}

/// The bearer token of a request, or "" when it has none.
pub(crate) fn bearer(req: &actix_web::HttpRequest) -> String {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}
