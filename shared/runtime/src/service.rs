//! Running a service: its HTTP server and its broker work side by side until shutdown.

use crate::Shutdown;
use actix_web::dev::Server;
use std::future::Future;

/// Runs `work` (the AMQP supervisor) and the HTTP `server` together. When `work` returns (on
/// shutdown) the server is stopped gracefully; readiness already failed with the session.
pub async fn run(
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
