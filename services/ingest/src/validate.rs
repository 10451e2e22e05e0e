//! What ingest accepts, as plain functions: a delivery's routing key and body in, an [`Accepted`]
//! item or a [`Rejection`] that names the problem out. No I/O here.

use pushmesh_contract::public::{
    routing, BindingEvent, ConversationType, ImMessage, PresenceOffline, PresenceOnline, PushConfig,
};
use pushmesh_contract::stage::Notification;
use pushmesh_runtime::settings::{check_id, IngestSettings};
use serde::de::DeserializeOwned;
use std::collections::HashSet;

mod call;
#[cfg(test)]
mod fuzz;
pub use call::{Cancel, Invite};

/// Why a message was refused. The text goes into header `x-pushmesh-error` and always names
/// the field (or the routing key) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

fn reject<T>(msg: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection(msg.into()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A message with something to push to these (deduplicated, sender-free) recipients.
    Push {
        app_id: String,
        message_id: String,
        recipients: Vec<String>,
        notification: Notification,
        ttl_s: u64,
        dry_run: bool,
    },
    /// A valid message that asks for no push (no push config, or no recipient left).
    NoPush,
    Online(PresenceOnline),
    Offline(PresenceOffline),
    Bind(BindingEvent),
    Unbind(BindingEvent),
    Invite(call::Invite),
    Cancel(call::Cancel),
}

pub struct Validator<'a> {
    pub limits: &'a IngestSettings,
    pub is_known_app: &'a dyn Fn(&str) -> bool,
}

impl Validator<'_> {
    pub fn validate(&self, routing_key: &str, body: &[u8]) -> Result<Accepted, Rejection> {
        match routing_key {
            routing::IM_MESSAGE => self.message(parse(body)?),
            routing::PRESENCE_ONLINE => {
                let e: PresenceOnline = parse(body)?;
                self.app(&e.app_id)?;
                field("user_id", &e.user_id)?;
                field("session_id", &e.session_id)?;
                if e.ttl_s == 0 {
                    return reject("ttl_s: must be at least 1 second");
                }
                Ok(Accepted::Online(e))
            }
            routing::PRESENCE_OFFLINE => {
                let e: PresenceOffline = parse(body)?;
                self.app(&e.app_id)?;
                field("user_id", &e.user_id)?;
                field("session_id", &e.session_id)?;
                Ok(Accepted::Offline(e))
            }
            routing::BINDING_BIND | routing::BINDING_UNBIND => {
                let e: BindingEvent = parse(body)?;
                self.app(&e.app_id)?;
                field("user_id", &e.user_id)?;
                field("push_id", &e.push_id)?;
                Ok(if routing_key == routing::BINDING_BIND {
                    Accepted::Bind(e)
                } else {
                    Accepted::Unbind(e)
                })
            }
            routing::CALL_INVITE => self.invite(parse(body)?),
            routing::CALL_CANCEL => self.cancel(parse(body)?),
            other => reject(format!(
                "routing key `{other}` is not part of the contract (expected im.message, \
                 im.call.invite, im.call.cancel, presence.online, presence.offline, binding.bind \
                 or binding.unbind)"
            )),
        }
    }

    fn message(&self, m: ImMessage) -> Result<Accepted, Rejection> {
        self.app(&m.app_id)?;
        field("message_id", &m.message_id)?;
        field("conversation_id", &m.conversation_id)?;
        field("sender_id", &m.sender_id)?;
        // The sender never receives a push for its own group message; a user named twice gets one.
        let (group, sender) = (m.conversation_type == ConversationType::Group, &m.sender_id);
        let recipients: Vec<String> = self
            .users("recipients", m.recipients)?
            .into_iter()
            .filter(|r| !(group && r == sender))
            .collect();
        let ttl_s = match m.ttl_s {
            None => self.limits.default_ttl_s,
            Some(0) => return reject("ttl_s: must be at least 1 second"),
            Some(t) if t > self.limits.max_ttl_s => {
                return reject(format!(
                    "ttl_s: {t} is above the maximum {}",
                    self.limits.max_ttl_s
                ))
            }
            Some(t) => t,
        };
        let Some(push) = m.push else {
            return Ok(Accepted::NoPush);
        };
        let notification = self.push(push)?;
        if recipients.is_empty() {
            return Ok(Accepted::NoPush);
        }
        Ok(Accepted::Push {
            app_id: m.app_id,
            message_id: m.message_id,
            recipients,
            notification,
            ttl_s,
            dry_run: m.dry_run,
        })
    }

    /// A push config as the notification every vendor can carry.
    fn push(&self, push: PushConfig) -> Result<Notification, Rejection> {
        if push.title.is_empty() && push.content.is_empty() {
            return reject("push: title and content are both empty");
        }
        let size =
            push.title.len() + push.content.len() + push.payload.as_ref().map_or(0, String::len);
        if size > self.limits.max_push_bytes {
            return reject(format!(
                "push: title, content and payload are {size} bytes together, at most {} fit a \
                 vendor's 4096-byte limit",
                self.limits.max_push_bytes
            ));
        }
        if let Some(r) = &push.resources_id {
            field("push.resources_id", r)?;
        }
        Ok(Notification {
            title: push.title,
            content: push.content,
            payload: push.payload,
            resources_id: push.resources_id,
        })
    }

    /// A list of users: 1 to `max_recipients`, each a valid id, named once (a repeat dropped).
    fn users(&self, name: &str, users: Vec<String>) -> Result<Vec<String>, Rejection> {
        if users.is_empty() {
            return reject(format!("{name}: must name at least one user"));
        }
        if users.len() > self.limits.max_recipients {
            return reject(format!(
                "{name}: {} users, at most {} are allowed",
                users.len(),
                self.limits.max_recipients
            ));
        }
        for (i, u) in users.iter().enumerate() {
            field(&format!("{name}[{i}]"), u)?;
        }
        let mut seen = HashSet::new();
        Ok(users
            .into_iter()
            .filter(|u| seen.insert(u.clone()))
            .collect())
    }

    fn app(&self, app_id: &str) -> Result<(), Rejection> {
        field("app_id", app_id)?;
        if !(self.is_known_app)(app_id) {
            return reject(format!("app_id: `{app_id}` is not a configured app"));
        }
        Ok(())
    }
}

/// The body as `T`; a body of the wrong shape is refused naming the field (`push.title: ...`).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let (path, inner) = (e.path().to_string(), e.inner());
        match (inner.is_data(), path.as_str()) {
            (_, ".") => Rejection(format!("invalid JSON body: {inner}")),
            (false, _) => Rejection(format!("invalid JSON body at {path}: {inner}")),
            (true, _) => Rejection(format!("{path}: {inner}")),
        }
    })?;
    json.end()
        .map_err(|e| Rejection(format!("invalid JSON body: {e}")))?;
    Ok(parsed)
}

fn field(name: &str, value: &str) -> Result<(), Rejection> {
    check_id(value).map_err(|reason| Rejection(format!("{name}: {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> IngestSettings {
        IngestSettings::default()
    }

    fn check(key: &str, body: serde_json::Value) -> Result<Accepted, Rejection> {
        let limits = limits();
        let known = |app: &str| app == "demo";
        let v = Validator {
            limits: &limits,
            is_known_app: &known,
        };
        v.validate(key, body.to_string().as_bytes())
    }

    fn message(extra: serde_json::Value) -> serde_json::Value {
        let mut m = json!({
            "app_id": "demo", "message_id": "m1", "conversation_type": "group",
            "conversation_id": "g1", "sender_id": "alice", "recipients": ["alice", "bob", "bob", "carol"],
            "push": {"title": "T", "content": "C", "payload": "{\"x\":1}"}
        });
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m
    }

    #[test]
    fn group_drops_sender_and_repeats() {
        let Accepted::Push {
            recipients, ttl_s, ..
        } = check("im.message", message(json!({}))).unwrap()
        else {
            panic!("expected a push");
        };
        assert_eq!(recipients, ["bob", "carol"]);
        assert_eq!(ttl_s, 86_400);
    }

    #[test]
    fn no_push_config_means_no_push() {
        let mut m = message(json!({}));
        m.as_object_mut().unwrap().remove("push");
        assert_eq!(check("im.message", m).unwrap(), Accepted::NoPush);
    }

    #[test]
    fn rejections_name_the_field() {
        let cases = [
            (message(json!({"app_id": "nope"})), "app_id"),
            (message(json!({"recipients": []})), "recipients"),
            (
                message(json!({"recipients": ["ok", "has space"]})),
                "recipients[1]",
            ),
            (message(json!({"ttl_s": 0})), "ttl_s"),
            (
                message(json!({"push": {"title": "T", "content": "x".repeat(5000)}})),
                "push",
            ),
            (json!({"app_id": "demo"}), "message_id"),
        ];
        for (body, needle) in cases {
            let err = check("im.message", body).unwrap_err().0;
            assert!(err.contains(needle), "`{err}` should name `{needle}`");
        }
        let err = check("im.unknown", json!({})).unwrap_err().0;
        assert!(err.contains("im.unknown"), "{err}");
        let limits = limits();
        let v = Validator {
            limits: &limits,
            is_known_app: &|_| true,
        };
        assert!(v
            .validate("im.message", b"{not json")
            .unwrap_err()
            .0
            .contains("invalid JSON"));
    }

    #[test]
    fn presence_and_binding_events() {
        let on = json!({"app_id": "demo", "user_id": "u", "session_id": "s", "ttl_s": 30});
        assert!(matches!(
            check("presence.online", on).unwrap(),
            Accepted::Online(_)
        ));
        let zero = json!({"app_id": "demo", "user_id": "u", "session_id": "s", "ttl_s": 0});
        assert!(check("presence.online", zero)
            .unwrap_err()
            .0
            .contains("ttl_s"));
        let bind = json!({"app_id": "demo", "user_id": "u", "push_id": "p"});
        assert!(matches!(
            check("binding.unbind", bind).unwrap(),
            Accepted::Unbind(_)
        ));
    }
}
