//! What staff write about fans: a note's body and a tag's name and colour.
//! Colours are a fixed palette rendered as CSS classes, so no user input
//! ever reaches a style.

use std::fmt;

use super::ParseError;
use super::names::{clean, invisible_or_bidi};

/// Longest note, in characters.
pub const NOTE_MAX_CHARS: usize = 2000;
/// Longest tag name, in characters.
pub const TAG_NAME_MAX_CHARS: usize = 40;

/// A note's text: trimmed, 1–2000 characters. Line breaks and tabs are
/// kept (a note is free text); other control characters and bidi
/// overrides are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteBody(String);

impl NoteBody {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ParseError::new("Write something in the note first."));
        }
        let n = s.chars().count();
        if n > NOTE_MAX_CHARS {
            return Err(ParseError::new(format!(
                "A note can be at most {NOTE_MAX_CHARS} characters; this one has {n}."
            )));
        }
        if s.chars()
            .any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || invisible_or_bidi(c))
        {
            return Err(ParseError::new(
                "The note contains characters that are not allowed.",
            ));
        }
        Ok(Self(s.replace("\r\n", "\n")))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tag's name: trimmed, 1–40 characters, one line. Unique per agency
/// regardless of case (the database's unique index enforces it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagName(String);

impl TagName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        clean(raw, "tag name", TAG_NAME_MAX_CHARS).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The palette tags are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagColour {
    Grey,
    Blue,
    Green,
    Yellow,
    Orange,
    Red,
    Purple,
    Pink,
}

impl TagColour {
    pub const ALL: [TagColour; 8] = [
        TagColour::Grey,
        TagColour::Blue,
        TagColour::Green,
        TagColour::Yellow,
        TagColour::Orange,
        TagColour::Red,
        TagColour::Purple,
        TagColour::Pink,
    ];

    /// As stored (and in forms).
    pub fn as_str(self) -> &'static str {
        match self {
            TagColour::Grey => "grey",
            TagColour::Blue => "blue",
            TagColour::Green => "green",
            TagColour::Yellow => "yellow",
            TagColour::Orange => "orange",
            TagColour::Red => "red",
            TagColour::Purple => "purple",
            TagColour::Pink => "pink",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TagColour::Grey => "Grey",
            TagColour::Blue => "Blue",
            TagColour::Green => "Green",
            TagColour::Yellow => "Yellow",
            TagColour::Orange => "Orange",
            TagColour::Red => "Red",
            TagColour::Purple => "Purple",
            TagColour::Pink => "Pink",
        }
    }

    /// The chip's CSS class (`tag-blue`, … in inbox.css).
    pub fn class(self) -> &'static str {
        match self {
            TagColour::Grey => "tag-grey",
            TagColour::Blue => "tag-blue",
            TagColour::Green => "tag-green",
            TagColour::Yellow => "tag-yellow",
            TagColour::Orange => "tag-orange",
            TagColour::Red => "tag-red",
            TagColour::Purple => "tag-purple",
            TagColour::Pink => "tag-pink",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        TagColour::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ParseError::new("Choose one of the listed colours."))
    }

    /// A stored value; an unknown one (never written) shows as grey.
    pub fn from_db(s: &str) -> Self {
        Self::parse(s).unwrap_or(TagColour::Grey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_bodies_are_bounded_and_trimmed() {
        assert_eq!(
            NoteBody::parse("  hi\r\nthere ").unwrap().as_str(),
            "hi\nthere"
        );
        assert!(NoteBody::parse("   ").is_err());
        assert!(NoteBody::parse(&"a".repeat(NOTE_MAX_CHARS)).is_ok());
        let err = NoteBody::parse(&"é".repeat(NOTE_MAX_CHARS + 1)).unwrap_err();
        assert!(err.0.contains("at most 2000"), "{err}");
        assert!(NoteBody::parse("a\u{202E}b").is_err());
        assert!(NoteBody::parse("<script>alert(1)</script>").is_ok());
    }

    #[test]
    fn tag_names_and_colours() {
        assert_eq!(TagName::parse(" VIP ").unwrap().as_str(), "VIP");
        assert!(TagName::parse("").is_err());
        assert!(TagName::parse(&"x".repeat(41)).is_err());
        assert!(TagName::parse("a\nb").is_err());
        assert_eq!(TagColour::parse("blue").unwrap().class(), "tag-blue");
        assert!(TagColour::parse("red; background:url(x)").is_err());
        for c in TagColour::ALL {
            assert_eq!(TagColour::parse(c.as_str()).unwrap(), c);
        }
    }
}
