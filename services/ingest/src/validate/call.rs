//! `im.call.invite` and `im.call.cancel`, checked as ingest checks every input: a rejection
//! names the field.

use super::{field, reject, Accepted, Rejection, Validator};
use pushmesh_contract::public::{CallCancel, CallInvite};
use pushmesh_contract::stage::Notification;
use pushmesh_runtime::amqp::topology::MAX_CALL_TIMEOUT_S;

/// How long a call rings when the invite does not say (ZIM's `ZIMCallInviteConfig.timeout`).
pub const DEFAULT_CALL_TIMEOUT_S: u64 = 90;

/// A valid invitation: its invitees without the inviter, each named once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub app_id: String,
    pub call_id: String,
    pub invitees: Vec<String>,
    pub timeout_s: u64,
    /// None: the call rings no phone (no push config).
    pub notification: Option<Notification>,
}

/// A valid cancel: for `invitees`, or all of the call's when None.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    pub app_id: String,
    pub call_id: String,
    pub invitees: Option<Vec<String>>,
    /// The "missed call" notification offline invitees get, if any.
    pub notification: Option<Notification>,
}

impl Validator<'_> {
    pub(super) fn invite(&self, c: CallInvite) -> Result<Accepted, Rejection> {
        self.app(&c.app_id)?;
        field("call_id", &c.call_id)?;
        field("inviter_id", &c.inviter_id)?;
        let invitees: Vec<String> = self
            .users("invitees", c.invitees)?
            .into_iter()
            .filter(|u| *u != c.inviter_id)
            .collect();
        let timeout_s = match c.timeout_s {
            None => DEFAULT_CALL_TIMEOUT_S,
            Some(t) if (1..=MAX_CALL_TIMEOUT_S).contains(&t) => t,
            Some(t) => {
                return reject(format!(
                    "timeout_s: {t} is outside 1 to {MAX_CALL_TIMEOUT_S} seconds"
                ))
            }
        };
        let notification = c.push.map(|p| self.push(p)).transpose()?;
        Ok(Accepted::Invite(Invite {
            app_id: c.app_id,
            call_id: c.call_id,
            invitees,
            timeout_s,
            notification,
        }))
    }

    pub(super) fn cancel(&self, c: CallCancel) -> Result<Accepted, Rejection> {
        self.app(&c.app_id)?;
        field("call_id", &c.call_id)?;
        let invitees = c.invitees.map(|u| self.users("invitees", u)).transpose()?;
        let notification = c.push.map(|p| self.push(p)).transpose()?;
        Ok(Accepted::Cancel(Cancel {
            app_id: c.app_id,
            call_id: c.call_id,
            invitees,
            notification,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::{Accepted, Rejection, Validator};
    use pushmesh_runtime::settings::IngestSettings;
    use serde_json::{json, Value};

    fn check(key: &str, body: Value) -> Result<Accepted, Rejection> {
        let limits = IngestSettings::default();
        let known = |app: &str| app == "demo";
        let v = Validator {
            limits: &limits,
            is_known_app: &known,
        };
        v.validate(key, body.to_string().as_bytes())
    }

    fn invite(extra: Value) -> Value {
        let mut c = json!({
            "app_id": "demo", "call_id": "c1", "inviter_id": "alice",
            "invitees": ["bob", "alice", "carol", "bob"], "push": {"title": "Alice", "content": "calling"}
        });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    }

    #[test]
    fn an_invite_rings_the_invitees_but_not_the_inviter_for_90_s_by_default() {
        let Ok(Accepted::Invite(i)) = check("im.call.invite", invite(json!({}))) else {
            panic!("accepted");
        };
        assert_eq!(i.invitees, ["bob", "carol"]);
        assert_eq!(i.timeout_s, 90);
        assert_eq!(i.notification.unwrap().title, "Alice");
    }

    #[test]
    fn bad_calls_are_rejected_naming_the_field() {
        let cases = [
            (
                "im.call.invite",
                invite(json!({"invitees": []})),
                "invitees: must name",
            ),
            (
                "im.call.invite",
                invite(json!({"timeout_s": 0})),
                "timeout_s: 0 is outside",
            ),
            (
                "im.call.invite",
                invite(json!({"timeout_s": 601})),
                "timeout_s: 601 is outside",
            ),
            (
                "im.call.invite",
                invite(json!({"timeout_s": "90"})),
                "timeout_s: invalid type: string",
            ),
            (
                "im.call.invite",
                invite(json!({"call_id": "a b"})),
                "call_id:",
            ),
            (
                "im.call.cancel",
                json!({"app_id": "demo"}),
                "missing field `call_id`",
            ),
            (
                "im.call.cancel",
                json!({"app_id": "demo", "call_id": "c1", "invitees": []}),
                "invitees: must name",
            ),
        ];
        for (key, body, expected) in cases {
            let Err(Rejection(reason)) = check(key, body.clone()) else {
                panic!("{body} was accepted");
            };
            assert!(reason.contains(expected), "{body}: {reason}");
        }
    }

    #[test]
    fn a_cancel_names_its_invitees_or_all() {
        let all = json!({"app_id": "demo", "call_id": "c1"});
        let Ok(Accepted::Cancel(c)) = check("im.call.cancel", all) else {
            panic!("accepted");
        };
        assert_eq!((c.invitees, c.notification), (None, None));
        let some = json!({"app_id": "demo", "call_id": "c1", "invitees": ["bob"],
                          "push": {"title": "Missed call", "content": "from Alice"}});
        let Ok(Accepted::Cancel(c)) = check("im.call.cancel", some) else {
            panic!("accepted");
        };
        assert_eq!(c.invitees.unwrap(), ["bob"]);
        assert_eq!(c.notification.unwrap().title, "Missed call");
    }
}
