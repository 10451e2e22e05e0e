//! The one place internal stage messages are turned into bytes and back.
//!
//! Every body starts with a version byte so the format can change here, in one place: a stage
//! that meets a version it does not know fails the message with a clear error instead of
//! misreading it. bincode is pinned to 2 (3.0 is a deliberate compile error upstream).

use serde::{de::DeserializeOwned, Serialize};

/// The format every stage writes today.
pub const VERSION: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty message body: expected a version byte")]
    Empty,
    #[error("unknown codec version {0} (this build reads version {VERSION})")]
    UnknownVersion(u8),
    #[error("malformed message body: {0}")]
    Malformed(String),
    #[error("trailing bytes after message body: {0} bytes")]
    Trailing(usize),
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![VERSION];
    // Encoding our own serde types into a Vec cannot fail: no size limit, no unsupported types.
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("stage messages always encode");
    out.extend_from_slice(&body);
    out
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != VERSION {
        return Err(CodecError::UnknownVersion(version));
    }
    let (value, used) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::Trailing(body.len() - used));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::{Notification, PushJob};

    fn job() -> PushJob {
        PushJob {
            app_id: "demo".into(),
            message_id: "m-1".into(),
            recipients: vec!["alice".into(), "bob".into()],
            notification: Notification {
                title: "Hi".into(),
                content: "héllo".into(),
                payload: Some("{\"k\":1}".into()),
                resources_id: None,
            },
            expires_at_ms: 42,
            call: None,
            accepted_us: 0,
            dry_run: false,
        }
    }

    #[test]
    fn round_trips_with_version_byte() {
        let bytes = encode(&job());
        assert_eq!(bytes[0], VERSION);
        let back: PushJob = decode(&bytes).unwrap();
        assert_eq!(back, job());
    }

    #[test]
    fn refuses_unknown_version_and_garbage() {
        let mut bytes = encode(&job());
        bytes[0] = 9;
        assert!(matches!(
            decode::<PushJob>(&bytes),
            Err(CodecError::UnknownVersion(9))
        ));
        assert!(matches!(decode::<PushJob>(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode::<PushJob>(&[VERSION, 200, 1]),
            Err(CodecError::Malformed(_))
        ));
    }
}
