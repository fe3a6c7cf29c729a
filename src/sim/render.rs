//! JSON rendering of the hot objects (messages, chat rows) straight into a byte buffer.
//! Batch responses hold up to 2,500 messages, so this avoids building `serde_json::Value`
//! trees on the request path. Field names and shapes follow the Fanvue docs.

use uuid::Uuid;

use super::faults::Faults;
use super::world::{ChatId, Message, User, UserId, UserJson, World};

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for unix milliseconds.
pub fn iso(ms: i64) -> String {
    let mut b = Vec::with_capacity(24);
    write_iso_raw(&mut b, ms);
    String::from_utf8(b).unwrap_or_default()
}

fn two(b: &mut Vec<u8>, v: u32) {
    b.push(b'0' + (v / 10) as u8);
    b.push(b'0' + (v % 10) as u8);
}

fn write_iso_raw(b: &mut Vec<u8>, ms: i64) {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    // Civil-from-days (proleptic Gregorian), valid for all i64 days in range.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let y = y.clamp(0, 9999) as u32;
    two(b, y / 100);
    two(b, y % 100);
    b.push(b'-');
    two(b, m);
    b.push(b'-');
    two(b, d);
    b.push(b'T');
    two(b, sod / 3600);
    b.push(b':');
    two(b, sod / 60 % 60);
    b.push(b':');
    two(b, sod % 60);
    b.push(b'.');
    b.push(b'0' + (milli / 100) as u8);
    two(b, milli % 100);
    b.push(b'Z');
}

pub fn write_iso(b: &mut Vec<u8>, ms: i64) {
    b.push(b'"');
    write_iso_raw(b, ms);
    b.push(b'"');
}

pub fn write_opt_iso(b: &mut Vec<u8>, ms: Option<i64>) {
    match ms {
        Some(ms) => write_iso(b, ms),
        None => b.extend_from_slice(b"null"),
    }
}

pub fn write_str(b: &mut Vec<u8>, s: &str) {
    // serde_json's escaper is correct and fast; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *b, s);
}

pub fn write_opt_str(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(b, s),
        None => b.extend_from_slice(b"null"),
    }
}

pub fn write_uuid(b: &mut Vec<u8>, u: &Uuid) {
    let mut buf = [0u8; 36];
    b.push(b'"');
    b.extend_from_slice(u.hyphenated().encode_lower(&mut buf).as_bytes());
    b.push(b'"');
}

fn write_bool(b: &mut Vec<u8>, v: bool) {
    b.extend_from_slice(if v { b"true" } else { b"false" });
}

fn write_num(b: &mut Vec<u8>, v: u64) {
    let mut tmp = itoa_buf(v);
    b.append(&mut tmp);
}

fn itoa_buf(mut v: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    if v == 0 {
        out.push(b'0');
        return out;
    }
    while v > 0 {
        out.push(b'0' + (v % 10) as u8);
        v /= 10;
    }
    out.reverse();
    out
}

/// The two constant halves of a user object, split where the per-chat nickname goes.
pub fn user_fragments(u: &User) -> UserJson {
    let mut head = Vec::with_capacity(96);
    head.extend_from_slice(b"{\"uuid\":");
    write_uuid(&mut head, &u.uuid);
    head.extend_from_slice(b",\"handle\":");
    write_str(&mut head, &u.handle);
    head.extend_from_slice(b",\"nickname\":");
    let mut tail = Vec::with_capacity(160);
    tail.extend_from_slice(b",\"displayName\":");
    write_str(&mut tail, &u.display_name);
    tail.extend_from_slice(b",\"isTopSpender\":");
    write_bool(&mut tail, u.is_top_spender);
    tail.extend_from_slice(b",\"avatarUrl\":");
    write_opt_str(&mut tail, u.avatar_url.as_deref());
    tail.extend_from_slice(b",\"registeredAt\":");
    write_iso(&mut tail, u.registered_at);
    tail.push(b'}');
    (head.into_boxed_slice(), tail.into_boxed_slice())
}

/// The enriched user object (`uuid, handle, nickname, displayName, isTopSpender,
/// avatarUrl, registeredAt`) used for chat rows and message sender/recipient.
pub fn write_user(b: &mut Vec<u8>, w: &World, id: UserId, nickname: Option<&str>) {
    let (head, tail) = &w.user_json[id as usize];
    b.extend_from_slice(head);
    write_opt_str(b, nickname);
    b.extend_from_slice(tail);
}

fn type_str<'a>(m: &Message, faults: &'a Faults) -> &'a str {
    if faults.message_has_unknown_type(&m.uuid) {
        faults.unknown_type()
    } else {
        m.kind.as_str()
    }
}

/// A full message object as returned by `GET …/messages` and the batch endpoint.
pub fn write_message(b: &mut Vec<u8>, w: &World, m: &Message, faults: &Faults) {
    let chat = &w.chats[m.chat as usize];
    let (from, to) = if m.from_creator {
        (chat.creator, chat.fan)
    } else {
        (chat.fan, chat.creator)
    };
    let nick = |u: UserId| {
        if u == chat.fan {
            chat.nickname.as_deref()
        } else {
            None
        }
    };
    b.extend_from_slice(b"{\"uuid\":");
    write_uuid(b, &m.uuid);
    b.extend_from_slice(b",\"text\":");
    write_opt_str(b, m.text.as_deref());
    b.extend_from_slice(b",\"sentAt\":");
    write_iso(b, m.sent_at);
    b.extend_from_slice(b",\"sender\":");
    write_user(b, w, from, nick(from));
    b.extend_from_slice(b",\"recipient\":");
    write_user(b, w, to, nick(to));
    b.extend_from_slice(b",\"type\":");
    write_str(b, type_str(m, faults));
    b.extend_from_slice(b",\"hasMedia\":");
    write_bool(b, !m.media.is_empty());
    b.extend_from_slice(b",\"mediaType\":");
    write_opt_str(b, m.media_type.map(|t| t.as_str()));
    b.extend_from_slice(b",\"mediaUuids\":[");
    for (i, u) in m.media.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        write_uuid(b, u);
    }
    b.extend_from_slice(b"],\"pricing\":");
    match m.price {
        Some(p) => {
            b.extend_from_slice(b"{\"USD\":{\"price\":");
            write_num(b, u64::from(p));
            b.extend_from_slice(b"}}");
        }
        None => b.extend_from_slice(b"null"),
    }
    b.extend_from_slice(b",\"purchasedAt\":");
    write_opt_iso(b, m.purchased_at);
    b.extend_from_slice(b",\"sentByUserId\":");
    match m.sent_by {
        Some(u) => write_uuid(b, &w.user(u).uuid),
        None => b.extend_from_slice(b"null"),
    }
    b.extend_from_slice(b",\"isRead\":");
    write_bool(b, m.is_read);
    b.push(b'}');
}

/// The deliberately broken object used by the `batch_malformed_item` fault.
pub fn write_malformed_message(b: &mut Vec<u8>) {
    b.extend_from_slice(
        b"{\"uuid\":null,\"text\":42,\"sentAt\":\"not-a-date\",\"sender\":\"?\",\"type\":7,\"pricing\":{\"USD\":{}}}",
    );
}

/// A chat row as returned by `GET /chats`.
pub fn write_chat_row(b: &mut Vec<u8>, w: &World, chat: ChatId, faults: &Faults) {
    let c = &w.chats[chat as usize];
    b.extend_from_slice(b"{\"createdAt\":");
    write_iso(b, c.created_at);
    b.extend_from_slice(b",\"lastMessageAt\":");
    let last = w.last_message(chat);
    write_opt_iso(b, last.map(|m| m.sent_at));
    b.extend_from_slice(b",\"isRead\":");
    write_bool(b, c.unread == 0 && !c.marked_unread);
    b.extend_from_slice(b",\"isMuted\":");
    write_bool(b, c.is_muted);
    b.extend_from_slice(b",\"unreadMessagesCount\":");
    write_num(b, u64::from(c.unread));
    b.extend_from_slice(b",\"user\":");
    write_user(b, w, c.fan, c.nickname.as_deref());
    b.extend_from_slice(b",\"lastMessage\":");
    match last {
        Some(m) => {
            b.extend_from_slice(b"{\"uuid\":");
            write_uuid(b, &m.uuid);
            b.extend_from_slice(b",\"type\":");
            write_str(b, type_str(m, faults));
            b.extend_from_slice(b",\"text\":");
            write_opt_str(b, m.text.as_deref());
            b.extend_from_slice(b",\"hasMedia\":");
            write_bool(b, !m.media.is_empty());
            b.extend_from_slice(b",\"mediaType\":");
            write_opt_str(b, m.media_type.map(|t| t.as_str()));
            b.extend_from_slice(b",\"senderUuid\":");
            let sender = if m.from_creator { c.creator } else { c.fan };
            write_uuid(b, &w.user(sender).uuid);
            b.extend_from_slice(b",\"sentAt\":");
            write_iso(b, m.sent_at);
            b.extend_from_slice(b",\"sentByUserId\":");
            match m.sent_by {
                Some(u) => write_uuid(b, &w.user(u).uuid),
                None => b.extend_from_slice(b"null"),
            }
            b.push(b'}');
        }
        None => b.extend_from_slice(b"null"),
    }
    b.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_matches_chrono() {
        for ms in [
            0i64,
            1_767_225_600_123,
            951_782_400_000,
            4_102_444_799_999,
            1,
        ] {
            let ours = iso(ms);
            let theirs = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(ours, theirs, "ms={ms}");
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut b = Vec::new();
        write_str(&mut b, "a\"b\n");
        assert_eq!(String::from_utf8(b).unwrap(), r#""a\"b\n""#);
    }

    #[test]
    fn numbers_render() {
        let mut b = Vec::new();
        write_num(&mut b, 0);
        b.push(b',');
        write_num(&mut b, 1500);
        assert_eq!(String::from_utf8(b).unwrap(), "0,1500");
    }
}
