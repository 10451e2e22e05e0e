//! Building and running presence: `main` and the tests start it the same way.

use crate::handler::PresenceHandler;
use crate::sessions::Sessions;
use pushmesh_runtime::amqp::topology::{self, Lane};
use pushmesh_runtime::ops::{ListenError, Ops};
use pushmesh_runtime::service::Service;
use pushmesh_runtime::{Settings, Shutdown};
use std::sync::{Arc, Mutex};

pub type StartError = ListenError;

pub struct Application {
    service: Service,
    /// Sessions outlive a broker session: a reconnect must not forget who is online.
    sessions: Arc<Mutex<Sessions>>,
}

impl Application {
    /// Binds the HTTP listener (`listen.presence`; port 0 picks a free one).
    pub fn build(settings: Settings, shutdown: Shutdown) -> Result<Self, StartError> {
        let addr = settings.listen.presence;
        let settings = Arc::new(settings);
        let sessions = Arc::new(Mutex::new(Sessions::default()));
        let routes = crate::api::routes(sessions.clone());
        let service = Service::build("presence", Ops::new(), addr, settings, shutdown, routes)?;
        Ok(Application { service, sessions })
    }

    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// Runs until the shutdown signal; the batch in flight is finished first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (ops, settings) = (self.service.ops(), self.service.settings().clone());
        let recipients = ops.counter(
            "presence_recipients_total",
            "Recipients of jobs seen by presence, by result (online, offline, expired).",
            &["result"],
        );
        let sessions_gauge = ops.gauge("presence_sessions", "Online sessions held.", &[]);
        let sessions = self.sessions;
        let shard = settings.presence.shard;
        let handler = || {
            let (recipients, gauge) = (recipients.clone(), sessions_gauge.clone());
            PresenceHandler::new(settings.clone(), sessions.clone(), recipients, gauge)
        };
        self.service
            .run(|session| {
                let (mut messages, mut calls) = (handler(), handler());
                async move {
                    let queue = |lane| topology::presence_queue(shard, lane);
                    let (message_queue, call_queue) = (queue(Lane::Message), queue(Lane::Call));
                    tokio::try_join!(
                        session.run_stage(&message_queue, &mut messages),
                        session.run_stage(&call_queue, &mut calls),
                    )
                    .map(|_| ())
                }
            })
            .await
    }
}
