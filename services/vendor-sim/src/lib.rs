//! vendor-sim: a faithful stand-in for the vendors' push APIs, for tests, the demo, benchmarks
//! and staging. Each vendor lives in its own folder and enforces what that vendor documents
//! (auth, request shape, error codes) under `/<vendor>/...`, so a dispatcher's base URL is
//! `http://<sim>/<vendor>`; `/sim/{vendor}/...` steers it and shows what it received.

mod apns;
mod control;
mod fcm;
mod honor;
mod huawei;
mod oppo;
mod settings;
mod state;
pub mod testing;
mod tls;
mod vivo;
mod xiaomi;

use actix_web::web;
use pushmesh_runtime::ops::{self, ListenError, Ops};
use pushmesh_runtime::{Settings, SettingsError, Shutdown};
pub use settings::SimSettings;
use state::SimState;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

pub struct Application {
    port: u16,
    apns_port: u16,
    server: actix_web::dev::Server,
    apns: (std::net::TcpListener, Arc<apns::ApnsSim>),
    apns_tls: Option<tokio_rustls::TlsAcceptor>,
    state: web::Data<SimState>,
    shutdown: Shutdown,
}

/// Reads a PEM public key named by a setting; `decode` says what kind it must be.
fn public_key(
    key: &str,
    path: &Option<std::path::PathBuf>,
    decode: fn(&[u8]) -> jsonwebtoken::errors::Result<jsonwebtoken::DecodingKey>,
) -> Result<Option<jsonwebtoken::DecodingKey>, SettingsError> {
    let Some(path) = path else { return Ok(None) };
    let pem = std::fs::read(path)
        .map_err(|e| SettingsError::invalid(key, format!("{}: {e}", path.display())))?;
    decode(&pem).map(Some).map_err(|e| {
        SettingsError::invalid(
            key,
            format!("{}: not the expected public key: {e}", path.display()),
        )
    })
}

impl Application {
    /// Binds `vendor_sim.listen` and `vendor_sim.apns_listen` (port 0 picks a free one) and
    /// loads the keys it verifies with (relative paths from `config_dir`).
    pub fn build(
        settings: &Settings,
        config_dir: &Path,
        shutdown: Shutdown,
    ) -> Result<Self, StartError> {
        let sim = &SimSettings::from_settings(settings, config_dir)?;
        let fcm = web::Data::new(fcm::FcmSim {
            public_key: public_key(
                "vendor_sim.fcm_public_key_file",
                &sim.fcm_public_key_file,
                jsonwebtoken::DecodingKey::from_rsa_pem,
            )?,
            access_token_ttl_s: sim.access_token_ttl_s,
        });
        let apns_key = public_key(
            "vendor_sim.apns_public_key_file",
            &sim.apns_public_key_file,
            jsonwebtoken::DecodingKey::from_ec_pem,
        )?;
        let apns = Arc::new(apns::ApnsSim::new(settings, apns_key));
        let huawei = web::Data::new(huawei::HuaweiSim::from_settings(settings, sim));
        let xiaomi = web::Data::new(xiaomi::XiaomiSim::from_settings(settings));
        let oppo = web::Data::new(oppo::OppoSim::from_settings(settings));
        let vivo = web::Data::new(vivo::VivoSim::from_settings(settings));
        let honor = web::Data::new(honor::HonorSim::from_settings(settings, sim));
        let state = web::Data::new(SimState::default());
        let ops = Ops::new();
        // The sim is always ready: it has no broker session.
        ops.health.set_ready(true);
        let shared = state.clone();
        let identity = match (&sim.tls_cert_file, &sim.tls_key_file) {
            (Some(cert), Some(key)) => Some(tls::Identity::load(cert, key)?),
            (None, None) => None,
            _ => {
                let why = "give tls_cert_file and tls_key_file together";
                return Err(SettingsError::invalid("vendor_sim.tls_cert_file", why).into());
            }
        };
        let http_tls = identity
            .as_ref()
            .map(|i| i.server_config(&[]))
            .transpose()?;
        let apns_tls = match &identity {
            Some(i) => Some(Arc::new(i.server_config(&[b"h2"])?).into()),
            None => None,
        };
        let (server, port) = ops::serve_with(
            sim.listen,
            ops,
            move |cfg| {
                // Vendors take list requests of 1000 devices: a unicast_batch of 1000 OPPO messages
                // is far beyond actix's default 16 KiB form limit.
                let limit = 16 * 1024 * 1024;
                cfg.app_data(shared.clone())
                    .app_data(web::FormConfig::default().limit(limit))
                    .app_data(web::JsonConfig::default().limit(limit))
                    .app_data(web::PayloadConfig::default().limit(limit))
                    .configure(control::routes)
                    .app_data(fcm.clone())
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
            },
            http_tls,
        )?;
        let addr = sim.apns_listen;
        let err = |source| ListenError {
            addr: addr.to_string(),
            source,
        };
        let apns_listener = std::net::TcpListener::bind(addr).map_err(err)?;
        let apns_port = apns_listener.local_addr().map_err(err)?.port();
        Ok(Application {
            port,
            apns_port,
            server,
            apns: (apns_listener, apns),
            apns_tls,
            state,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP/2 port of the APNs stand-in.
    pub fn apns_port(&self) -> u16 {
        self.apns_port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            apns: (listener, apns),
            apns_tls,
            state,
            shutdown,
            ..
        } = self;
        let apns_server = apns::serve(
            listener,
            apns_tls,
            apns,
            state.into_inner(),
            shutdown.clone(),
        );
        let work = async {
            tokio::join!(apns_server, shutdown.wait());
        };
        pushmesh_runtime::service::serve_until(server, work, &shutdown).await
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
