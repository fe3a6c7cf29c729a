//! The hostile-input scenario knob (`scenario.hostile_names`, off by default): some fans get
//! display names, handles and nicknames, and some messages texts, that break naive
//! renderers — markup, an event-handler injection, right-to-left overrides, zero-width
//! joiners, a 5,000-character word, emoji. Deterministic (no RNG), and every value stays
//! within Fanvue's shapes (texts ≤ 5000 characters).

use std::sync::Arc;

use super::world::{Role, UserId, World};

/// Display names, handles (as suffixes) and nicknames given to hostile fans.
pub const NAMES: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "\u{202E}nimda\u{202C} RTL",
    "Zero\u{200D}Width\u{200D}\u{200B}Joiner",
    "🔥💋👀 Emoji 🏳️‍🌈",
];

/// Message texts used for hostile messages; the last is one 5,000-character word.
pub fn texts() -> Vec<Arc<str>> {
    let mut v: Vec<Arc<str>> = vec![
        Arc::from("<script>alert(1)</script>"),
        Arc::from("\"><img src=x onerror=alert(1)>"),
        Arc::from("hello \u{202E}gnp.exe\u{202C} world"),
        Arc::from("zero\u{200D}width\u{200D}\u{200B}joiners\u{FEFF}here"),
        Arc::from("🔥💋👀🏳️‍🌈 emoji party 👨‍👩‍👧‍👦"),
        Arc::from("line one\nline two <b>bold?</b> &amp; &lt;"),
    ];
    v.push(Arc::from(long_word()));
    v
}

/// One word of exactly 5,000 characters (Fanvue's text maximum).
pub fn long_word() -> String {
    "W".repeat(5000)
}

/// Makes every third fan of each creator hostile (name, every sixth also the handle, the
/// next fan the nickname) and every fourth fan message hostile.
pub fn apply(w: &mut World) {
    let creators = w.creators.clone();
    let texts = texts();
    for c in creators {
        let mut chats: Vec<u32> = w
            .creator_data
            .get(&c)
            .map(|cd| cd.by_fan.values().copied().collect())
            .unwrap_or_default();
        chats.sort_unstable();
        for (f, chat) in chats.iter().enumerate() {
            let fan: UserId = w.chats[*chat as usize].fan;
            if w.user(fan).role != Role::Fan {
                continue;
            }
            let name = NAMES[(f / 3) % NAMES.len()];
            match f % 3 {
                0 => {
                    let u = &mut w.users[fan as usize];
                    u.display_name = name.to_string();
                    if f.is_multiple_of(6) {
                        u.handle = format!("{}{name}", u.handle);
                    }
                    w.user_json[fan as usize] =
                        super::render::user_fragments(&w.users[fan as usize]);
                }
                1 => w.chats[*chat as usize].nickname = Some(name.to_string()),
                _ => {}
            }
        }
    }
    let mut k = 0usize;
    for m in w.messages.iter_mut() {
        if m.from_creator || m.text.is_none() {
            continue;
        }
        if k.is_multiple_of(4) {
            m.text = Some(texts[(k / 4) % texts.len()].clone());
        }
        k += 1;
    }
}
