//! Keyset cursors as they travel in links: `<microseconds>.<uuid>`, the
//! position of the last row shown. Opaque to users; parsed strictly.

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use super::error::InboxError;
use crate::store::inbox::{ChatCursor, MessageCursor};

fn encode(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{}", at.timestamp_micros(), id.simple())
}

fn decode(raw: &str, what: &str) -> Result<(DateTime<Utc>, Uuid), InboxError> {
    let bad = || {
        InboxError::BadRequest(format!(
            "The {what} link is not valid (its position marker is damaged). Go back to the first page and try again."
        ))
    };
    let (micros, id) = raw.trim().split_once('.').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    // Postgres timestamps span 4713 BC to 294276 AD; chrono goes further
    // back. Real positions are recent, so years 1–9999 bound them safely.
    if !(1..=9999).contains(&at.year()) {
        return Err(bad());
    }
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((at, id))
}

pub fn chat(c: ChatCursor) -> String {
    encode(c.at, c.id)
}

pub fn parse_chat(raw: &str) -> Result<ChatCursor, InboxError> {
    decode(raw, "\"Load more\"").map(|(at, id)| ChatCursor { at, id })
}

pub fn message(c: MessageCursor) -> String {
    encode(c.at, c.uuid)
}

pub fn parse_message(raw: &str) -> Result<MessageCursor, InboxError> {
    decode(raw, "\"Load older\"").map(|(at, uuid)| MessageCursor { at, uuid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let c = ChatCursor {
            at: DateTime::from_timestamp_micros(1_764_633_600_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(parse_chat(&chat(c)).unwrap(), c);
        for bad in [
            "",
            "x",
            "12",
            "12.",
            ".abc",
            "abc.0190",
            "99999999999999999999.0",
            "1.not-a-uuid",
            "-8210298412800000000.0190a0a0a0a07a0a8a0a0a0a0a0a0a0a",
            "253402300800000000.0190a0a0a0a07a0a8a0a0a0a0a0a0a0a",
        ] {
            assert!(
                matches!(parse_chat(bad), Err(InboxError::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
