//! The compose form as submitted (kept verbatim as the draft, so a failure
//! never loses what the chatter typed) and its validation into a send.

use uuid::Uuid;

use crate::domain::Cents;
use crate::domain::FieldErrors;
pub use crate::store::sends::Seen;

/// Fanvue's limit on a message's text, in characters.
pub const MAX_TEXT_CHARS: usize = 5000;
/// Most media items one message may carry.
pub const MAX_MEDIA: usize = 20;

/// The submitted fields, as typed.
#[derive(Debug, Clone, Default)]
pub struct ComposeForm {
    pub idempotency_key: String,
    pub text: String,
    pub price: String,
    /// Repeatable `media` fields, in order, duplicates dropped.
    pub media: Vec<String>,
    pub template_uuid: String,
    /// "Send anyway" for media this fan already bought.
    pub confirm_resell: bool,
    /// The `unknown` send a "Retry anyway" knowingly repeats.
    pub retry_of: String,
    /// The thread version the form was rendered with (the newest message
    /// it showed, empty for an empty thread); absent from clients that do
    /// not take part in the collision check.
    pub seen: Option<String>,
    /// "Send anyway" after a collision hold.
    pub send_anyway: bool,
}

impl ComposeForm {
    /// Reads an `application/x-www-form-urlencoded` body (repeatable
    /// `media`, which the derive-based form extractor cannot take).
    pub fn from_urlencoded(body: &[u8]) -> Self {
        let mut f = ComposeForm::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            match k.as_ref() {
                "idempotency_key" => f.idempotency_key = v.into_owned(),
                "text" => f.text = v.into_owned(),
                "price" => f.price = v.into_owned(),
                "media" => {
                    let v = v.trim().to_owned();
                    if !v.is_empty() && !f.media.contains(&v) {
                        f.media.push(v);
                    }
                }
                "template_uuid" => f.template_uuid = v.trim().to_owned(),
                "confirm_resell" => f.confirm_resell = !v.is_empty(),
                "retry_of" => f.retry_of = v.trim().to_owned(),
                "seen" => f.seen = Some(v.trim().to_owned()),
                "send_anyway" => f.send_anyway = !v.is_empty(),
                _ => {}
            }
        }
        f
    }
}

/// A validated send.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSend {
    pub idempotency_key: String,
    /// What Fanvue gets as `text`: as typed, or none when blank.
    pub text: Option<String>,
    pub price: Option<Cents>,
    pub media: Vec<Uuid>,
    pub template: Option<Uuid>,
    pub confirm_resell: bool,
    pub retry_of: Option<Uuid>,
    /// What the chatter saw; None: no collision check (a client without
    /// the field).
    pub seen: Option<Seen>,
    pub send_anyway: bool,
}

/// Checks the form: text within 1–5000 characters unless media or a
/// template carries the message, a PPV has media and at least
/// `min_price`, media are uuids. Errors are per field, safe to show.
pub fn validate(form: &ComposeForm, min_price: Cents) -> Result<ValidSend, FieldErrors> {
    let mut errors = FieldErrors::default();
    let key = form.idempotency_key.trim();
    if key.is_empty() || key.len() > 100 || Uuid::parse_str(key).is_err() {
        errors.add(
            "form",
            "This form is out of date. Reload the page and send again.",
        );
    }
    let mut media = Vec::with_capacity(form.media.len());
    for m in &form.media {
        match Uuid::parse_str(m) {
            Ok(u) => media.push(u),
            Err(_) => errors.add(
                "media",
                "A selected media item is not valid; choose it again.",
            ),
        }
    }
    if media.len() > MAX_MEDIA {
        errors.add(
            "media",
            format!("Choose at most {MAX_MEDIA} media items for one message."),
        );
    }
    let template = if form.template_uuid.is_empty() {
        None
    } else {
        match Uuid::parse_str(&form.template_uuid) {
            Ok(u) => Some(u),
            Err(_) => {
                errors.add("template", "That template is not valid; choose it again.");
                None
            }
        }
    };
    let blank = form.text.trim().is_empty();
    let chars = form.text.chars().count();
    if form.text.contains('\0') {
        // Postgres text cannot hold NUL, and no one types it on purpose.
        errors.add(
            "text",
            "The message contains an invisible NUL character; remove it and send again.",
        );
    } else if blank && media.is_empty() && template.is_none() {
        errors.add("text", "Write a message, or attach media.");
    } else if chars > MAX_TEXT_CHARS {
        errors.add(
            "text",
            format!(
                "The message is {chars} characters long; Fanvue takes at most {MAX_TEXT_CHARS}."
            ),
        );
    }
    let price = errors
        .check("price", Cents::parse_form(&form.price))
        .flatten();
    if let Some(p) = price {
        if p < min_price {
            errors.add(
                "price",
                format!("A pay-to-view price must be at least {min_price}."),
            );
        }
        if media.is_empty() && template.is_none() {
            errors.add(
                "media",
                "A pay-to-view message needs at least one media item.",
            );
        }
    }
    let retry_of = if form.retry_of.is_empty() {
        None
    } else {
        Uuid::parse_str(&form.retry_of).ok()
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidSend {
        idempotency_key: key.to_owned(),
        text: (!blank).then(|| form.text.clone()),
        price,
        media,
        template,
        confirm_resell: form.confirm_resell,
        retry_of,
        // An unreadable version counts as an empty thread: everything in
        // the chat is then newer, so the send is held, never let through.
        seen: form
            .seen
            .as_deref()
            .map(|s| Uuid::parse_str(s).map_or(Seen::Empty, Seen::Message)),
        send_anyway: form.send_anyway,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "7d1c2a6e-5f3d-4c1a-9a8e-2f1d3c4b5a69";
    const MEDIA: &str = "0b7c2a6e-5f3d-4c1a-9a8e-2f1d3c4b5a69";

    fn form(text: &str, price: &str, media: &[&str]) -> ComposeForm {
        ComposeForm {
            idempotency_key: KEY.into(),
            text: text.into(),
            price: price.into(),
            media: media.iter().map(|m| (*m).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn min() -> Cents {
        Cents::new(300)
    }

    #[test]
    fn repeated_media_fields_are_read_in_order_without_duplicates() {
        let f = ComposeForm::from_urlencoded(
            format!("idempotency_key={KEY}&text=hi%20there&media={MEDIA}&media=x&media={MEDIA}&confirm_resell=on")
                .as_bytes(),
        );
        assert_eq!(f.text, "hi there");
        assert_eq!(f.media, vec![MEDIA.to_owned(), "x".to_owned()]);
        assert!(f.confirm_resell);
    }

    #[test]
    fn text_is_sent_as_typed_and_blank_text_needs_media() {
        let ok = validate(&form("  hello\n", "", &[]), min()).unwrap();
        assert_eq!(ok.text.as_deref(), Some("  hello\n"));
        let e = validate(&form(" \n\t", "", &[]), min()).unwrap_err();
        assert!(e.get("text").is_some());
        let media_only = validate(&form("", "", &[MEDIA]), min()).unwrap();
        assert_eq!(media_only.text, None);
    }

    #[test]
    fn text_over_5000_characters_is_refused_counting_characters_not_bytes() {
        assert!(validate(&form(&"é".repeat(5000), "", &[]), min()).is_ok());
        let e = validate(&form(&"é".repeat(5001), "", &[]), min()).unwrap_err();
        assert!(e.get("text").unwrap().contains("5001"));
    }

    #[test]
    fn ppv_needs_media_and_the_minimum_price() {
        let e = validate(&form("pay", "12.50", &[]), min()).unwrap_err();
        assert!(e.get("media").is_some());
        let e = validate(&form("pay", "2.99", &[MEDIA]), min()).unwrap_err();
        assert_eq!(
            e.get("price"),
            Some("A pay-to-view price must be at least $3.00.")
        );
        let e = validate(&form("pay", "twelve", &[MEDIA]), min()).unwrap_err();
        assert!(e.get("price").is_some());
        let ok = validate(&form("pay", "3", &[MEDIA]), min()).unwrap();
        assert_eq!(ok.price, Some(Cents::new(300)));
    }

    #[test]
    fn media_must_be_uuids_and_the_key_must_be_present() {
        let e = validate(&form("x", "", &["nope"]), min()).unwrap_err();
        assert!(e.get("media").is_some());
        let mut f = form("x", "", &[]);
        f.idempotency_key = String::new();
        assert!(validate(&f, min()).unwrap_err().get("form").is_some());
    }
}
