//! The vendor actor: one per (app, vendor). It alone holds that app's rate limits, daily quota,
//! circuit breaker, credential and the requests waiting for a permit, so none of them needs a
//! lock, and it alone decides which waiting request goes next. A request is a message; when it
//! may go, the actor spawns its send, and the answer comes back to it as a message. The rules
//! it applies are plain code beside it (`limits`, `breaker`, the vendor's response table).

use crate::auth::{Answer, AuthError, Credential};
use crate::breaker::Breaker;
use crate::limits::{DailyQuota, Held, RateLimits};
use crate::sent::SentStore;
use crate::{Attempt, VendorApi};
use actix::{Actor, AsyncContext, Context, Handler, Message, ResponseFuture, SpawnHandle};
use prometheus::Histogram;
use pushmesh_contract::now_ms;
use pushmesh_contract::stage::DevicePush;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::Instrument;

mod guard;
mod state;
mod waiting;

pub use guard::DeadTokenGuard;
use state::Recent;
pub use state::{ActorState, GetState};
pub use waiting::EndCall;
use waiting::{Pending, Waiting};

/// What one (app, vendor) is allowed, from its settings.
pub struct ActorSettings {
    /// Requests out at once.
    pub concurrency: usize,
    pub limits: RateLimits,
    pub quota: Option<DailyQuota>,
    pub breaker: Breaker,
    /// Vendor request latency, observed per request.
    pub request_seconds: Histogram,
    /// Where its credential is kept in the store, so a restart reuses it: the app and a
    /// fingerprint of its settings (new credentials in the settings, a new key).
    pub credential_key: String,
    /// The app's breaker state and quota, for alerts.
    pub gauges: ActorGauges,
    pub guard: DeadTokenGuard,
    /// The settings the guard names when it trips (`apps.demo.apns.topic`).
    pub suspect: String,
}

/// `pushmesh_dispatch_breaker_state` (0 closed, 1 half-open or due a probe, 2 open) and
/// `pushmesh_dispatch_quota_used_percent` of one app.
#[derive(Clone)]
pub struct ActorGauges {
    pub breaker: prometheus::IntGauge,
    pub quota_used_percent: prometheus::IntGauge,
    /// `pushmesh_dispatch_dead_token_guard`: 1 once the guard tripped.
    pub dead_token_guard: prometheus::IntGauge,
}

pub struct VendorActor<V: VendorApi> {
    api: Arc<V>,
    /// Where the quota's count and the credential are written through (the dispatcher's store).
    store: Arc<dyn SentStore>,
    credential_key: String,
    limits: RateLimits,
    quota: Option<DailyQuota>,
    breaker: Breaker,
    credential: Option<Credential>,
    authorizing: bool,
    waiting: Waiting,
    /// Requests sent and not yet answered, of messages and of calls: each up to `concurrency`.
    out: usize,
    calls_out: usize,
    concurrency: usize,
    /// Half-open, one request (the probe) is out at a time.
    probe_out: bool,
    /// A pump scheduled for when the rate limits let the next request go.
    wake: Option<SpawnHandle>,
    request_seconds: Histogram,
    /// The last minutes' requests and failures, for `/state`.
    recent: Recent,
    gauges: ActorGauges,
    guard: DeadTokenGuard,
    suspect: String,
}

/// One vendor request: pushes of one app and one message, at most the vendor's batch size.
/// Answered with the pushes and one [`Attempt`] each, or None if the actor stopped first.
#[derive(Message)]
#[rtype(result = "Option<(Vec<DevicePush>, Vec<Attempt>)>")]
pub struct SendRequest(pub Vec<DevicePush>);

/// A send's answer, back from its task.
#[derive(Message)]
#[rtype(result = "()")]
struct Answered {
    request: Pending,
    credential: String,
    answer: Answer,
    probe: bool,
    started: std::time::Instant,
}

/// A credential, or why there is none, back from its task.
#[derive(Message)]
#[rtype(result = "()")]
struct Authorized(Result<Credential, AuthError>);

impl<V: VendorApi> VendorActor<V> {
    pub fn new(api: V, store: Arc<dyn SentStore>, settings: ActorSettings) -> Self {
        VendorActor {
            api: Arc::new(api),
            store,
            limits: settings.limits,
            quota: settings.quota,
            breaker: settings.breaker,
            credential: None,
            authorizing: false,
            waiting: Waiting::default(),
            out: 0,
            calls_out: 0,
            concurrency: settings.concurrency.max(1),
            probe_out: false,
            wake: None,
            request_seconds: settings.request_seconds,
            recent: Recent::default(),
            gauges: settings.gauges,
            guard: settings.guard,
            suspect: settings.suspect,
            credential_key: settings.credential_key,
        }
    }

    /// The credential an earlier run of this dispatcher obtained, if it is still good.
    fn kept_credential(&self) -> Option<Credential> {
        match self.store.credential(&self.credential_key) {
            Ok(kept) => kept.filter(|c| c.is_valid(now_ms())),
            Err(e) => {
                tracing::warn!(vendor = %V::VENDOR, error = %e, "cannot read the kept credential");
                None
            }
        }
    }

    /// The breaker's state and the quota's use, as the gauges show them.
    fn show_state(&self) {
        let breaker = match self.breaker.state() {
            crate::breaker::State::Closed => 0,
            crate::breaker::State::HalfOpen => 1,
            crate::breaker::State::Open { until } if until > Instant::now() => 2,
            crate::breaker::State::Open { .. } => 1,
        };
        self.gauges.breaker.set(breaker);
        if let Some(q) = &self.quota {
            let percent = (q.used() * 100).checked_div(q.limit).unwrap_or(100);
            self.gauges.quota_used_percent.set(percent as i64);
        }
    }

    /// Sends every waiting request that may go now, calls first; stops at the first that may
    /// not, and comes back when whatever holds it changes (an answer, a credential, a timer).
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while let Some(call) = self.waiting.next_is_call() {
            let open = self.breaker.wait(Instant::now());
            if let Some(wait) = open {
                self.defer_messages(wait);
            }
            // While the breaker is not closed, one request at a time goes out, as a probe. A
            // call may be that probe even while it is open: a ringing phone cannot wait out a
            // cool-down.
            let probing = open.is_some() || self.breaker.probing();
            let out = if call { self.calls_out } else { self.out };
            let held = (open.is_some() && !call) || (probing && self.probe_out);
            if held || out >= self.concurrency {
                return;
            }
            let Some(credential) = self.credential.as_ref().filter(|c| c.is_valid(now_ms())) else {
                self.authorize(ctx);
                return;
            };
            let token = credential.token.clone();
            if !self.count_quota() {
                continue;
            }
            let head = self.waiting.next().front_mut().expect("not empty");
            if let Err(wait) = self.limits.try_acquire(head.sent().len(), &mut head.held) {
                self.wake_in(wait, ctx);
                return;
            }
            let request = self.waiting.next().pop_front().expect("not empty");
            self.spawn_send(request, token, probing, ctx);
        }
    }

    /// Counts the next waiting request's pushes against today's quota, once; false if none of
    /// them may go today (it is answered at once and leaves the queue).
    fn count_quota(&mut self) -> bool {
        let head = self.waiting.next().front_mut().expect("not empty");
        let (Some(quota), false) = (self.quota.as_mut(), head.counted) else {
            return true;
        };
        head.counted = true;
        let n = head.pushes.len();
        let (granted, wait) = quota.take(n as u64, now_ms(), self.store.as_ref());
        let percent = (quota.used() * 100).checked_div(quota.limit).unwrap_or(100);
        self.gauges.quota_used_percent.set(percent as i64);
        if granted < n as u64 {
            let detail = format!("daily quota of {} reached", quota.limit);
            let over = head.pushes.split_off(granted as usize);
            let defer = Attempt::Defer { wait, detail };
            head.settled
                .extend(over.into_iter().map(|p| (p, defer.clone())));
        }
        if granted == 0 {
            let head = self.waiting.next().pop_front().expect("not empty");
            head.answer(Vec::new());
        }
        granted > 0
    }

    fn spawn_send(
        &mut self,
        request: Pending,
        credential: String,
        probe: bool,
        ctx: &mut Context<Self>,
    ) {
        match request.call {
            true => self.calls_out += 1,
            false => self.out += 1,
        }
        self.probe_out |= probe;
        let (api, me) = (self.api.clone(), ctx.address());
        // Every log line of this request carries the ids, so one push can be followed from
        // ingest to the vendor.
        let first = &request.pushes[0];
        let span = tracing::info_span!(
            "vendor_request",
            vendor = %V::VENDOR,
            message_id = %first.message_id,
            push_id = %first.push_id,
            devices = request.sent().len(),
        );
        actix::spawn(
            async move {
                let started = std::time::Instant::now();
                let answer = api.send(&credential, request.sent()).await;
                me.do_send(Answered {
                    request,
                    credential,
                    answer,
                    probe,
                    started,
                });
            }
            .instrument(span),
        );
    }

    fn authorize(&mut self, ctx: &mut Context<Self>) {
        if self.authorizing {
            return;
        }
        self.authorizing = true;
        let (api, me) = (self.api.clone(), ctx.address());
        actix::spawn(async move { me.do_send(Authorized(api.authorize().await)) });
    }

    fn wake_in(&mut self, wait: Duration, ctx: &mut Context<Self>) {
        if self.wake.is_none() {
            let wait = wait.max(Duration::from_millis(1));
            self.wake = Some(ctx.run_later(wait, |actor, ctx| {
                actor.wake = None;
                actor.pump(ctx);
            }));
        }
    }

    /// The breaker is open: no message's request is sent; each push waits in the broker for
    /// the cool-down instead (no attempt used), and other apps' pushes are not held up behind
    /// it.
    fn defer_messages(&mut self, wait: Duration) {
        let detail = "circuit open: the vendor endpoint is failing".to_owned();
        for request in std::mem::take(&mut self.waiting.messages) {
            let n = request.sent().len();
            let defer = Attempt::Defer {
                wait,
                detail: detail.clone(),
            };
            request.answer(vec![defer; n]);
        }
    }

    /// A request's final answer: the breaker learns from it, then the requester gets it.
    fn finish(&mut self, request: Pending, mut attempts: Vec<Attempt>, probe: bool) {
        let n = request.sent().len();
        if attempts.len() != n {
            let detail = "vendor client answered for the wrong number of pushes";
            attempts = vec![Attempt::retry(detail); n];
        }
        if let Some(failed) = crate::breaker::health(&attempts) {
            self.breaker.record(failed, Instant::now());
            self.recent.record(failed, now_ms());
        }
        self.show_state();
        if self.guard.observe(&attempts, Instant::now()) {
            let (vendor, suspect) = (V::VENDOR, &self.suspect);
            tracing::error!(%vendor, %suspect, "most recent answers say the token is dead: the settings are suspect; holding pushes instead of deleting devices");
            self.gauges.dead_token_guard.set(1);
        }
        let suspect = &self.suspect;
        let attempts = attempts.into_iter().map(|a| self.guard.hold(a, suspect));
        let mut attempts: Vec<Attempt> = attempts.collect();
        if probe {
            // A failed probe is the outage's fault, not this push's: it waits without using up
            // an attempt, so a long outage ends no push early.
            for a in attempts.iter_mut() {
                if let Attempt::Retry { detail, .. } = a {
                    let detail = format!("probe of a failing endpoint: {detail}");
                    *a = Attempt::Defer {
                        wait: Duration::from_secs(1),
                        detail,
                    };
                }
            }
        }
        request.answer(attempts);
    }
}

impl<V: VendorApi> Actor for VendorActor<V> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A batch hands over all its requests at once, and the actor, not its mailbox, is
        // where they wait: a small mailbox only adds wake-ups.
        ctx.set_mailbox_capacity(4096);
        self.credential = self.kept_credential();
    }
}

impl<V: VendorApi> Handler<SendRequest> for VendorActor<V> {
    type Result = ResponseFuture<Option<(Vec<DevicePush>, Vec<Attempt>)>>;

    fn handle(&mut self, msg: SendRequest, ctx: &mut Context<Self>) -> Self::Result {
        // A dry run is built and answered here: it waits for no limit, quota, breaker or
        // credential, since nothing reaches the vendor.
        if msg.0.first().is_some_and(|p| p.dry_run) {
            let attempts = crate::dry_run::attempts(self.api.as_ref(), &msg.0);
            return Box::pin(async move { Some((msg.0, attempts)) });
        }
        let (reply, answered) = oneshot::channel();
        let call = msg.0.first().is_some_and(|p| p.call.is_some());
        self.waiting.lane(call).push_back(Pending {
            call,
            pushes: msg.0,
            reply,
            settled: Vec::new(),
            held: Held::default(),
            counted: false,
            reauthorized: false,
        });
        self.pump(ctx);
        self.show_state();
        // None only when the actor stopped with the request (the dispatcher is stopping).
        Box::pin(async move { answered.await.ok() })
    }
}

impl<V: VendorApi> Handler<Answered> for VendorActor<V> {
    type Result = ();

    fn handle(&mut self, msg: Answered, ctx: &mut Context<Self>) {
        match msg.request.call {
            true => self.calls_out -= 1,
            false => self.out -= 1,
        }
        if msg.probe {
            self.probe_out = false;
        }
        self.request_seconds
            .observe(msg.started.elapsed().as_secs_f64());
        let mut request = msg.request;
        match msg.answer {
            Answer::Done(attempts) => self.finish(request, attempts, msg.probe),
            Answer::AuthExpired if request.reauthorized => {
                let detail = format!("{} refused a freshly obtained credential", V::VENDOR);
                let n = request.sent().len();
                self.finish(request, vec![Attempt::retry(detail); n], msg.probe);
            }
            Answer::AuthExpired => {
                tracing::info!(vendor = %V::VENDOR, "the vendor refused the credential; obtaining a new one");
                if self.credential.as_ref().map(|c| &c.token) == Some(&msg.credential) {
                    self.credential = None;
                }
                request.reauthorized = true;
                request.held = Held::default();
                self.waiting.lane(request.call).push_front(request);
            }
        }
        self.pump(ctx);
    }
}

impl<V: VendorApi> Handler<Authorized> for VendorActor<V> {
    type Result = ();

    fn handle(&mut self, Authorized(result): Authorized, ctx: &mut Context<Self>) {
        self.authorizing = false;
        match result {
            Ok(credential) => {
                if let Err(e) = self.store.set_credential(&self.credential_key, &credential) {
                    tracing::warn!(vendor = %V::VENDOR, error = %e, "cannot keep the credential");
                }
                self.credential = Some(credential);
            }
            Err(e) => {
                tracing::warn!(vendor = %V::VENDOR, error = %e, "cannot obtain a credential");
                let detail = format!("{} auth: {e}", V::VENDOR);
                let attempt = match e.is_permanent() {
                    true => Attempt::Rejected { detail },
                    false => Attempt::retry(detail),
                };
                let Waiting { calls, messages } = std::mem::take(&mut self.waiting);
                for request in calls.into_iter().chain(messages) {
                    let n = request.sent().len();
                    self.finish(request, vec![attempt.clone(); n], false);
                }
            }
        }
        self.pump(ctx);
    }
}

impl<V: VendorApi> Handler<EndCall> for VendorActor<V> {
    type Result = ();

    /// Invitations of the call still waiting are answered `cancelled`; the rest of their
    /// requests go on.
    fn handle(&mut self, ended: EndCall, _: &mut Context<Self>) {
        let calls = std::mem::take(&mut self.waiting.calls);
        for mut request in calls {
            request.end_call(&ended);
            match request.pushes.is_empty() {
                true => request.answer(Vec::new()),
                false => self.waiting.calls.push_back(request),
            }
        }
    }
}

#[cfg(test)]
mod tests;
