//! Pure presentation rules shared by the list, the thread and the fan
//! panel: names (display name, falling back to the handle), avatars, the
//! kind-aware one-line preview, message kinds and times. No I/O.

use chrono::{DateTime, Datelike, Utc};

use crate::domain::{AgencyZone, Cents};

/// The ordinary one-to-one message types (no badge in the thread).
const ORDINARY: &[&str] = &[
    "SINGLE_RECIPIENT",
    "CHAT_TEXT_REPLY",
    "CHAT_TEXT_GENERATION",
    "CHAT_TEXT_REWRITE",
];

/// The name to show: the display name, else the handle (per Fanvue's note
/// on names), else a neutral placeholder.
pub fn fan_name(display: Option<&str>, handle: Option<&str>) -> String {
    [display, handle]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| "Unknown fan".to_owned())
}

/// The avatar letter: the first letter or digit of the name (skipping
/// marks and direction overrides), upper-cased; `?` if there is none.
pub fn initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_else(|| "?".to_owned())
}

/// An avatar URL fit for an `<img>`: absolute https only (anything else,
/// including `javascript:` and plain http, shows the initial instead).
pub fn safe_avatar(url: Option<&str>) -> Option<String> {
    let parsed = url::Url::parse(url?.trim()).ok()?;
    (parsed.scheme() == "https" && parsed.host_str().is_some()).then(|| parsed.to_string())
}

pub fn is_automated(kind: &str) -> bool {
    kind.starts_with("AUTOMATED_")
}

/// "AUTOMATED_NEW_SUBSCRIBER" → "New subscriber".
fn humanise(raw: &str) -> String {
    let words = raw.replace('_', " ").to_lowercase();
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The thread's badge for a kind: automated, mass message, voice call, or
/// an unknown type's raw name; none for ordinary messages and tips.
pub fn kind_badge(kind: &str) -> Option<String> {
    if ORDINARY.contains(&kind) || kind == "TIP" {
        None
    } else if let Some(rest) = kind.strip_prefix("AUTOMATED_") {
        Some(format!("Automated · {}", humanise(rest)))
    } else if kind == "BROADCAST" {
        Some("Mass message".to_owned())
    } else if kind == "VOICE_CALL" {
        Some("Voice call".to_owned())
    } else {
        Some(kind.to_owned())
    }
}

/// "Photo", "Video ×2", … by Fanvue's `mediaType` and the number of items.
pub fn media_label(media_type: Option<&str>, count: i32) -> String {
    let noun = match media_type.map(str::to_ascii_lowercase).as_deref() {
        Some("image" | "photo") => "Photo",
        Some("video") => "Video",
        Some("audio") => "Audio",
        Some("document") => "Document",
        _ => "Media",
    };
    if count > 1 {
        format!("{noun} ×{count}")
    } else {
        noun.to_owned()
    }
}

/// A message's newest state, as the preview needs it.
#[derive(Debug, Clone, Default)]
pub struct PreviewInput<'a> {
    pub kind: &'a str,
    pub text: Option<&'a str>,
    pub media_type: Option<&'a str>,
    pub media_count: i32,
    pub has_media: bool,
    pub price_cents: Option<i64>,
    pub purchased: bool,
    pub deleted: bool,
    pub tip_cents: Option<i64>,
}

const PREVIEW_CHARS: usize = 120;

/// The list row's one-line summary of the newest message.
pub fn preview(m: &PreviewInput<'_>) -> String {
    if m.deleted {
        return "Message unsent".to_owned();
    }
    let text = m
        .text
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    let body = if m.kind == "TIP" {
        match m.tip_cents.or(m.price_cents) {
            Some(c) => format!("Tip {}", Cents(c)),
            None => "Tip".to_owned(),
        }
    } else if let Some(price) = m.price_cents {
        let state = if m.purchased { "paid" } else { "awaiting" };
        format!("PPV {} · {state}", Cents(price))
    } else if let Some(t) = text {
        t
    } else if m.has_media || m.media_count > 0 {
        media_label(m.media_type, m.media_count.max(1))
    } else if let Some(b) = kind_badge(m.kind) {
        b
    } else {
        "(empty message)".to_owned()
    };
    let body = if is_automated(m.kind) {
        format!("Automated: {body}")
    } else if m.kind == "BROADCAST" {
        format!("Mass message: {body}")
    } else {
        body
    };
    truncate(&body, PREVIEW_CHARS)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// "now", "5m", "3h", "2d", then the date.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    if secs < 60 {
        "now".to_owned()
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86_400 {
        format!("{}h", secs / 3600)
    } else if secs < 7 * 86_400 {
        format!("{}d", secs / 86_400)
    } else if at.year() == now.year() {
        at.format("%b %-d").to_string()
    } else {
        at.format("%b %-d, %Y").to_string()
    }
}

/// Absolute time, labelled UTC.
pub fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Absolute time in the agency's zone, labelled with the zone's
/// abbreviation at that instant ("2026-03-29 02:30 BST", "… +0545").
pub fn local(at: DateTime<Utc>, zone: AgencyZone) -> String {
    zone.date_time(at)
}

/// Machine-readable time for `<time datetime>`.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str) -> PreviewInput<'_> {
        PreviewInput {
            kind,
            ..Default::default()
        }
    }

    #[test]
    fn names_fall_back_to_the_handle() {
        assert_eq!(fan_name(Some("Ann"), Some("ann1")), "Ann");
        assert_eq!(fan_name(Some("  "), Some("ann1")), "ann1");
        assert_eq!(fan_name(None, None), "Unknown fan");
        assert_eq!(initial("\u{202e}évi"), "É");
        assert_eq!(initial("<>"), "?");
    }

    #[test]
    fn only_https_avatars() {
        assert_eq!(
            safe_avatar(Some("https://cdn.example/a.png")).as_deref(),
            Some("https://cdn.example/a.png")
        );
        assert_eq!(safe_avatar(Some("http://cdn.example/a.png")), None);
        assert_eq!(safe_avatar(Some("javascript:alert(1)")), None);
        assert_eq!(safe_avatar(Some("/relative.png")), None);
        assert_eq!(safe_avatar(None), None);
    }

    #[test]
    fn previews_know_the_kind() {
        let tip = PreviewInput {
            tip_cents: Some(500),
            ..input("TIP")
        };
        assert_eq!(preview(&tip), "Tip $5.00");
        let ppv = PreviewInput {
            price_cents: Some(1200),
            has_media: true,
            ..input("SINGLE_RECIPIENT")
        };
        assert_eq!(preview(&ppv), "PPV $12.00 · awaiting");
        let paid = PreviewInput {
            purchased: true,
            ..ppv.clone()
        };
        assert_eq!(preview(&paid), "PPV $12.00 · paid");
        let photos = PreviewInput {
            media_type: Some("image"),
            media_count: 3,
            has_media: true,
            ..input("SINGLE_RECIPIENT")
        };
        assert_eq!(preview(&photos), "Photo ×3");
        let auto = PreviewInput {
            text: Some("Welcome!\nthanks"),
            ..input("AUTOMATED_NEW_SUBSCRIBER")
        };
        assert_eq!(preview(&auto), "Automated: Welcome! thanks");
        let gone = PreviewInput {
            deleted: true,
            text: Some("oops"),
            ..input("SINGLE_RECIPIENT")
        };
        assert_eq!(preview(&gone), "Message unsent");
        assert_eq!(preview(&input("SOMETHING_NEW")), "SOMETHING_NEW");
        let long = "x".repeat(5000);
        let long = PreviewInput {
            text: Some(&long),
            ..input("SINGLE_RECIPIENT")
        };
        assert_eq!(preview(&long).chars().count(), PREVIEW_CHARS);
    }

    #[test]
    fn kinds_get_their_badges() {
        assert_eq!(kind_badge("SINGLE_RECIPIENT"), None);
        assert_eq!(kind_badge("TIP"), None);
        assert_eq!(
            kind_badge("AUTOMATED_NEW_SUBSCRIBER").as_deref(),
            Some("Automated · New subscriber")
        );
        assert_eq!(kind_badge("BROADCAST").as_deref(), Some("Mass message"));
        assert_eq!(kind_badge("HOLOGRAM").as_deref(), Some("HOLOGRAM"));
        assert_eq!(media_label(Some("video"), 1), "Video");
        assert_eq!(media_label(None, 2), "Media ×2");
    }

    #[test]
    fn relative_times() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ago = |s: i64| relative(now - chrono::Duration::seconds(s), now);
        assert_eq!(ago(5), "now");
        assert_eq!(ago(300), "5m");
        assert_eq!(ago(3 * 3600), "3h");
        assert_eq!(ago(2 * 86_400), "2d");
        assert_eq!(ago(30 * 86_400), "Nov 2");
        assert_eq!(ago(400 * 86_400), "Oct 28, 2025");
        assert_eq!(utc(now), "2026-12-02 12:00 UTC");
    }

    #[test]
    fn local_times_carry_the_zones_abbreviation() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let zone = |n| AgencyZone::parse(n).unwrap();
        assert_eq!(local(at, AgencyZone::UTC), "2026-12-02 12:00 UTC");
        assert_eq!(local(at, zone("Asia/Kathmandu")), "2026-12-02 17:45 +0545");
        assert_eq!(local(at, zone("America/New_York")), "2026-12-02 07:00 EST");
    }
}
