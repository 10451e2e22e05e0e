//! Calls at ingest: an invite becomes call-lane jobs for its invitees; a cancel is told to every
//! dispatcher (which withdraws the call's pushes) and may bring a "missed call" notification.
//! Ingest remembers each call it saw (its invitees, its deadline, its cancel) in its store, so a
//! cancel without invitees reaches all of them, and a cancel that overtook its invite still
//! keeps the phones from ringing.

use crate::dedup::{DedupKey, DedupStore};
use crate::handler::IngestHandler;
use crate::routed::Routed;
use crate::validate::{Cancel, Invite};
use pushmesh_contract::public::{CallEvent, Outcome, OutcomeStatus};
use pushmesh_contract::stage::{CallEnded, CallRef, Notification, PresenceItem, PushJob};
use pushmesh_contract::trace::TraceWhat;
use pushmesh_contract::{codec, now_ms};
use pushmesh_runtime::amqp::topology::{self, Lane, MAX_CALL_TIMEOUT_S, MESSAGE_ID_HEADER};
use pushmesh_runtime::amqp::{AmqpError, Outgoing};
use pushmesh_runtime::recent;
use pushmesh_runtime::trace::{self, About};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What ingest knows of a call.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct CallRecord {
    /// The invite was seen: its invitees and when it stops ringing.
    invite: Option<(Vec<String>, u64)>,
    /// A cancel was seen: whom it covers (None: everyone).
    ended: Option<Option<Vec<String>>>,
    /// A cancel's "missed call" notification, not yet sent because the invitees were unknown.
    missed: Option<Notification>,
}

impl CallRecord {
    fn ended_for(&self, user: &str) -> bool {
        match &self.ended {
            Some(None) => true,
            Some(Some(users)) => users.iter().any(|u| u == user),
            None => false,
        }
    }
}

fn call_key(app_id: &str, call_id: &str) -> DedupKey {
    recent::key(&[app_id.as_bytes(), call_id.as_bytes(), b"call"])
}

/// The key an invite is deduplicated by (a `message_id`'s has two parts, this three).
fn invite_key(app_id: &str, call_id: &str) -> DedupKey {
    recent::key(&[app_id.as_bytes(), call_id.as_bytes(), b"invite"])
}

impl<S: DedupStore> IngestHandler<S> {
    fn call_record(&self, key: &DedupKey) -> Result<CallRecord, AmqpError> {
        let since = now_ms().saturating_sub(self.window_ms());
        let found = self.store().call(key, since).map_err(AmqpError::stage)?;
        Ok(found
            .and_then(|v| codec::decode(&v).ok())
            .unwrap_or_default())
    }

    fn put_call_record(&self, key: &DedupKey, record: &CallRecord) {
        self.store().put_call(key, codec::encode(record), now_ms());
    }

    /// Rings the invitees a cancel did not already cover; answers `cancelled` for the others
    /// (and sends them the cancel's "missed call" notification, if it waited for this).
    pub(crate) fn route_invite(&mut self, i: Invite, routed: &mut Routed) -> Result<(), AmqpError> {
        let key = call_key(&i.app_id, &i.call_id);
        let mut record = self.call_record(&key)?;
        if record.invite.is_some() || !self.pass_on(invite_key(&i.app_id, &i.call_id), routed)? {
            tracing::info!(app_id = %i.app_id, call_id = %i.call_id, "duplicate call invite suppressed");
            self.count("call", "duplicate");
            let about = About::message(&i.app_id, &i.call_id);
            routed.trace.record(about, TraceWhat::Duplicate);
            return Ok(());
        }
        self.count("call", "accepted");
        let accepted = TraceWhat::Accepted {
            recipients: i.invitees.len() as u32,
            dry_run: false,
        };
        routed
            .trace
            .record(About::message(&i.app_id, &i.call_id), accepted);
        let deadline = now_ms() + i.timeout_s * 1000;
        let (ended, ringing): (Vec<String>, Vec<String>) = i
            .invitees
            .iter()
            .cloned()
            .partition(|u| record.ended_for(u));
        for user in &ended {
            let o = Outcome::recipient(&i.app_id, &i.call_id, user, OutcomeStatus::Cancelled);
            routed
                .direct
                .push(outcome(o, &i.call_id, CallEvent::Invite));
        }
        if let Some(missed) = record.missed.take() {
            self.ring(
                &i.app_id,
                &i.call_id,
                CallEvent::Missed,
                missed,
                ended,
                None,
                routed,
            );
        }
        record.invite = Some((i.invitees, deadline));
        self.put_call_record(&key, &record);
        if let Some(notification) = i.notification {
            let event = CallEvent::Invite;
            self.ring(
                &i.app_id,
                &i.call_id,
                event,
                notification,
                ringing,
                Some(deadline),
                routed,
            );
        }
        Ok(())
    }

    /// Tells every dispatcher the call ended for the cancel's invitees, and sends the "missed
    /// call" notification to those it knows.
    pub(crate) fn route_cancel(&mut self, c: Cancel, routed: &mut Routed) -> Result<(), AmqpError> {
        self.count("call", "accepted");
        let key = call_key(&c.app_id, &c.call_id);
        let mut record = self.call_record(&key)?;
        let until_ms = match &record.invite {
            Some((_, deadline)) => *deadline,
            None => now_ms() + MAX_CALL_TIMEOUT_S * 1000,
        };
        let ended = CallEnded {
            app_id: c.app_id.clone(),
            call_id: c.call_id.clone(),
            invitees: c.invitees.clone(),
            until_ms,
        };
        routed.direct.push(Outgoing::broadcast(
            topology::CALLS_ENDED_EXCHANGE,
            codec::encode(&ended),
        ));
        let known = c
            .invitees
            .clone()
            .or(record.invite.as_ref().map(|i| i.0.clone()));
        if let Some(notification) = c.notification {
            match known {
                Some(users) => {
                    let (app, call) = (&c.app_id, &c.call_id);
                    self.ring(
                        app,
                        call,
                        CallEvent::Missed,
                        notification,
                        users,
                        None,
                        routed,
                    );
                }
                // Sent when the invite comes, to whom it names.
                None => record.missed = Some(notification),
            }
        }
        record.ended = Some(match (record.ended.take(), c.invitees) {
            (Some(None), _) | (_, None) => None,
            (Some(Some(mut before)), Some(now)) => {
                before.extend(now);
                Some(before)
            }
            (None, Some(now)) => Some(now),
        });
        self.put_call_record(&key, &record);
        Ok(())
    }

    /// One call-lane job per shard of `users`: the invitation (until `deadline`), or a
    /// notification that lives as long as a message's default.
    #[allow(clippy::too_many_arguments)]
    fn ring(
        &self,
        app_id: &str,
        call_id: &str,
        event: CallEvent,
        notification: Notification,
        users: Vec<String>,
        deadline: Option<u64>,
        routed: &mut Routed,
    ) {
        let shards = self.settings().shards;
        let accepted_us = trace::now_us();
        let mut by_shard: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for u in users {
            let shard = topology::shard_of(app_id, &u, shards);
            by_shard.entry(shard).or_default().push(u);
        }
        let default_ttl_ms = self.settings().ingest.default_ttl_s * 1000;
        let expires_at_ms = deadline.unwrap_or(now_ms() + default_ttl_ms);
        for (shard, recipients) in by_shard {
            let job = PushJob {
                app_id: app_id.to_owned(),
                message_id: call_id.to_owned(),
                recipients,
                notification: notification.clone(),
                expires_at_ms,
                call: Some(CallRef {
                    call_id: call_id.to_owned(),
                    event,
                }),
                accepted_us,
                dry_run: false,
            };
            routed.presence(shard, Lane::Call, PresenceItem::Job(job));
        }
    }
}

fn outcome(o: Outcome, call_id: &str, event: CallEvent) -> Outgoing {
    let call = CallRef {
        call_id: call_id.to_owned(),
        event,
    };
    let o = o.of_call(Some(&call));
    let body = serde_json::to_vec(&o).expect("outcomes serialize");
    Outgoing::json(topology::OUTCOMES_EXCHANGE, o.routing_key(), body)
        .with_header(MESSAGE_ID_HEADER, call_id)
}
