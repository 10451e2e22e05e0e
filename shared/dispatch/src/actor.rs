//! The vendor actor: one per (app, vendor credential). It owns that client's state (auth
//! token, and the limits later issues add) and does its I/O; every decision is plain code in
//! the vendor module or in `retry`, so the actor stays a thin shell (actix is in passive
//! maintenance, and this keeps it replaceable).

use crate::{Attempt, VendorApi};
use actix::{Actor, Context, Handler, Message, ResponseFuture};
use pushmesh_contract::stage::DevicePush;
use std::sync::Arc;

pub struct VendorActor<V: VendorApi> {
    api: Arc<V>,
}

impl<V: VendorApi> VendorActor<V> {
    pub fn new(api: V) -> Self {
        VendorActor { api: Arc::new(api) }
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
        let api = self.api.clone();
        Box::pin(async move { api.send(&msg.0).await })
    }
}
