//! Building and running presence: `main` and the tests start it the same way.

use crate::handler::PresenceHandler;
use crate::sessions::Sessions;
use pushmesh_runtime::amqp::{run_stage, supervise, topology, StageMetrics};
use pushmesh_runtime::ops::{self, ListenError, Ops};
use pushmesh_runtime::{service, Settings, Shutdown};
use std::sync::{Arc, Mutex};

pub type StartError = ListenError;

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    settings: Arc<Settings>,
    ops: Ops,
    shutdown: Shutdown,
}

impl Application {
    /// Binds the HTTP listener (`listen.presence`; port 0 picks a free one).
    pub fn build(settings: Settings, shutdown: Shutdown) -> Result<Self, StartError> {
        let ops = Ops::new("presence");
        let (server, port) = ops::serve(settings.listen.presence, ops.clone(), |_| {})?;
        Ok(Application {
            port,
            server,
            settings: Arc::new(settings),
            ops,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until the shutdown signal; the batch in flight is finished first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            settings,
            ops,
            shutdown,
            ..
        } = self;
        let recipients = ops.counter(
            "recipients_total",
            "Recipients of jobs seen by presence, by result (online, offline, expired).",
            &["result"],
        );
        let sessions_gauge = ops.gauge("sessions", "Online sessions held.", &[]);
        // Sessions outlive a broker session: a reconnect must not forget who is online.
        let sessions = Arc::new(Mutex::new(Sessions::default()));
        let queue = topology::presence_queue(settings.presence.shard);
        let stages = StageMetrics::new(&ops);
        let work = supervise("presence", &settings, &ops.health, &shutdown, |conn| {
            let mut handler = PresenceHandler::new(
                settings.clone(),
                sessions.clone(),
                recipients.clone(),
                sessions_gauge.clone(),
            );
            let (settings, shutdown, queue) = (&settings, &shutdown, &queue);
            let stages = &stages;
            async move { run_stage(&conn, queue, settings, shutdown, &mut handler, stages).await }
        });
        service::run(server, work, &shutdown).await
    }
}
