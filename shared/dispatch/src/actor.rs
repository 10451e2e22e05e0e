//! The vendor actor: one per (app, vendor credential). It owns that client's state (its auth
//! token inside the client, its rate limits and daily quota) and does its I/O; every decision is
//! plain code (the vendor module, `retry`, `limits`), so the actor stays a thin shell (actix is
//! in passive maintenance, and this keeps it replaceable).

use crate::limits::{DailyQuota, RateLimits};
use crate::{Attempt, VendorApi};
use actix::{Actor, Context, Handler, Message, ResponseFuture};
use pushmesh_contract::now_ms;
use pushmesh_contract::stage::DevicePush;
use std::sync::Arc;

pub struct VendorActor<V: VendorApi> {
    api: Arc<V>,
    limits: Arc<RateLimits>,
    quota: Option<Arc<DailyQuota>>,
}

impl<V: VendorApi> VendorActor<V> {
    pub fn new(api: V, limits: RateLimits, quota: Option<DailyQuota>) -> Self {
        VendorActor {
            api: Arc::new(api),
            limits: Arc::new(limits),
            quota: quota.map(Arc::new),
        }
    }
}

impl<V: VendorApi> Actor for VendorActor<V> {
    type Context = Context<Self>;
}

/// One vendor request: pushes of one app and one message, at most the vendor's batch size.
#[derive(Message)]
#[rtype(result = "Vec<Attempt>")]
pub struct SendRequest(pub Vec<DevicePush>);

impl<V: VendorApi> Handler<SendRequest> for VendorActor<V> {
    type Result = ResponseFuture<Vec<Attempt>>;

    fn handle(&mut self, msg: SendRequest, _: &mut Context<Self>) -> Self::Result {
        let (api, limits, quota) = (self.api.clone(), self.limits.clone(), self.quota.clone());
        Box::pin(async move {
            let pushes = msg.0;
            // The quota is checked before sending: pushes over it wait for the next day
            // instead of being sent and refused.
            let (granted, over) = match &quota {
                Some(q) => {
                    let (granted, wait) = q.take(pushes.len() as u64, now_ms());
                    let detail = format!("daily quota of {} reached", q.limit);
                    (granted as usize, Some(Attempt::Defer { wait, detail }))
                }
                None => (pushes.len(), None),
            };
            let mut attempts = Vec::with_capacity(pushes.len());
            if granted > 0 {
                // Every attempt, first or retried, passes the rate limits.
                limits.acquire(granted).await;
                attempts = api.send(&pushes[..granted]).await;
            }
            if let Some(defer) = over {
                attempts.resize(pushes.len(), defer);
            }
            attempts
        })
    }
}
