//! The skeleton every service shares: its one HTTP listener (ops routes and any API of its own),
//! its broker sessions under the supervisor, and the order they stop in. A service says only
//! what is its own: its routes, its stores and the stages it runs in each session.

use crate::amqp::{self, supervise, AmqpError, Connection, StageHandler, StageMetrics};
use crate::ops::{self, ListenError, Ops};
use crate::{Settings, Shutdown};
use actix_web::dev::Server;
use actix_web::web::ServiceConfig;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// A service bound to its port, not yet running.
pub struct Service {
    name: &'static str,
    settings: Arc<Settings>,
    ops: Ops,
    server: Server,
    port: u16,
    shutdown: Shutdown,
}

/// One broker session: what a stage needs to run on it.
#[derive(Clone)]
pub struct Session {
    pub conn: Arc<Connection>,
    settings: Arc<Settings>,
    shutdown: Shutdown,
    stages: StageMetrics,
}

impl Session {
    /// Runs `handler` on `queue` until shutdown or a broker failure (see [`amqp::run_stage`]).
    pub async fn run_stage<H: StageHandler>(
        &self,
        queue: &str,
        handler: &mut H,
    ) -> Result<(), AmqpError> {
        let (settings, shutdown) = (&self.settings, &self.shutdown);
        amqp::run_stage(&self.conn, queue, settings, shutdown, handler, &self.stages).await
    }
}

impl Service {
    /// Binds `addr` (port 0 picks a free one) and mounts the ops routes and `routes` there.
    pub fn build<F>(
        name: &'static str,
        ops: Ops,
        addr: SocketAddr,
        settings: Arc<Settings>,
        shutdown: Shutdown,
        routes: F,
    ) -> Result<Self, ListenError>
    where
        F: Fn(&mut ServiceConfig) + Send + Clone + 'static,
    {
        let (server, port) = ops::serve(addr, ops.clone(), routes)?;
        Ok(Service {
            name,
            settings,
            ops,
            server,
            port,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// Runs `session` for every broker session (a fresh connection after each failure) until
    /// the shutdown signal, then stops the HTTP server. The batch in flight is finished first.
    pub async fn run<F, Fut>(self, mut session: F) -> std::io::Result<()>
    where
        F: FnMut(Session) -> Fut,
        Fut: Future<Output = Result<(), AmqpError>>,
    {
        let Service {
            name,
            settings,
            ops,
            server,
            shutdown,
            ..
        } = self;
        let stages = StageMetrics::new(&ops);
        let work = supervise(name, &settings, &ops.health, &shutdown, |conn| {
            session(Session {
                conn,
                settings: settings.clone(),
                shutdown: shutdown.clone(),
                stages: stages.clone(),
            })
        });
        serve_until(server, work, &shutdown).await
    }
}

/// Runs `work` and the HTTP `server` together. When `work` returns (on shutdown) the server is
/// stopped gracefully; readiness already failed with the session.
pub async fn serve_until(
    server: Server,
    work: impl Future<Output = ()>,
    shutdown: &Shutdown,
) -> std::io::Result<()> {
    let handle = server.handle();
    let stop = async {
        work.await;
        shutdown.trigger();
        handle.stop(true).await;
    };
    let (served, ()) = tokio::join!(server, stop);
    served
}
