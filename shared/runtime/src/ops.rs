//! `/healthz`, `/readyz` and `/metrics`, mounted by every service on its one HTTP listener.

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Readiness: true while the service holds a working broker session and is not shutting down.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// What the ops endpoints read: the service's health and its own metrics registry (one per
/// service, so several services can live in one test process).
///
/// Metric names follow Prometheus' conventions: `pushmesh_` and one family per measurement,
/// named for what it measures (`pushmesh_dispatch_attempts_total`), base units, `_total` on
/// counters; what tells services apart is a label (`vendor`, `queue`), never the name.
#[derive(Clone)]
pub struct Ops {
    pub health: Arc<Health>,
    pub registry: Registry,
    /// `pushmesh_ready`: what `/readyz` would answer, as a metric (1 ready, 0 not).
    ready: IntGauge,
}

impl Ops {
    pub fn new() -> Self {
        Self::labelled(&[])
    }

    /// A registry whose every metric carries `labels` (a dispatcher's `vendor`).
    pub fn labelled(labels: &[(&str, &str)]) -> Self {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let registry = Registry::new_custom(Some("pushmesh".into()), Some(labels))
            .expect("the prefix and labels are static and valid");
        let ready = IntGauge::new(
            "ready",
            "1 while the service is ready (as /readyz), else 0.",
        )
        .expect("the name is static and valid");
        registry
            .register(Box::new(ready.clone()))
            .expect("registered once");
        Ops {
            health: Arc::new(Health::default()),
            registry,
            ready,
        }
    }

    /// A counter `pushmesh_<name>`; `name` ends in `_total`.
    pub fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let c = IntCounterVec::new(Opts::new(name, help), labels)
            .expect("metric names and labels are static and valid");
        self.register(c)
    }

    pub fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        let g = IntGaugeVec::new(Opts::new(name, help), labels)
            .expect("metric names and labels are static and valid");
        self.register(g)
    }

    /// A histogram of seconds; `name` ends in `_seconds`.
    pub fn histogram(&self, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
        let buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ];
        let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
            .expect("metric names and labels are static and valid");
        self.register(h)
    }

    fn register<M: prometheus::core::Collector + Clone + 'static>(&self, metric: M) -> M {
        self.registry
            .register(Box::new(metric.clone()))
            .expect("each metric is registered once per service");
        metric
    }
}

impl Default for Ops {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct ListenError {
    pub addr: String,
    #[source]
    pub source: std::io::Error,
}

/// Mounts the ops routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Binds `addr` (port 0 picks a free one) and serves the ops routes plus `extra` (a service's
/// own API) there, one worker: pushmesh's HTTP traffic is light, its work is on the broker side.
/// Returns the server, to run, and the port it got.
pub fn serve<F>(
    addr: std::net::SocketAddr,
    ops: Ops,
    extra: F,
) -> Result<(Server, u16), ListenError>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    serve_with(addr, ops, extra, None)
}

/// [`serve`], over TLS when `tls` is given.
pub fn serve_with<F>(
    addr: std::net::SocketAddr,
    ops: Ops,
    extra: F,
    tls: Option<rustls::ServerConfig>,
) -> Result<(Server, u16), ListenError>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let err = |source| ListenError {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(err)?;
    let port = listener.local_addr().map_err(err)?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(ops.clone()))
            .configure(routes)
            .configure(extra.clone())
    });
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config),
        None => server.listen(listener),
    };
    let server = server
        .map_err(err)?
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .run();
    Ok((server, port))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok\n")
}

async fn readyz(ops: web::Data<Ops>) -> HttpResponse {
    if ops.health.is_ready() {
        HttpResponse::Ok().body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable().body("not ready: no broker session\n")
    }
}

async fn metrics(ops: web::Data<Ops>) -> HttpResponse {
    ops.ready.set(i64::from(ops.health.is_ready()));
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(e) = encoder.encode(&ops.registry.gather(), &mut buf) {
        return HttpResponse::InternalServerError().body(format!("cannot encode metrics: {e}\n"));
    }
    HttpResponse::Ok()
        .content_type(encoder.format_type())
        .body(buf)
}
