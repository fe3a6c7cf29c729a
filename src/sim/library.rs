//! Creators' media libraries (`GET /media`): generated per creator from the seed with their
//! own RNG stream, so adding them left every other part of a seeded world unchanged. The
//! creator side's media in history, templates and live replies is drawn from the library,
//! which makes `purchasedBy` answer from the same purchases the messages show.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::scenario::next_uuid;
use super::world::{MediaItem, MediaType, MediaUsage, MediaVariant, UserId, World};

const FOLDERS: &[&str] = &["Photo sets", "Videos", "PPV vault", "Voice notes", "Extras"];
const SUBJECTS: &[&str] = &[
    "Beach day",
    "Golden hour",
    "Mirror selfie",
    "Behind the scenes",
    "Workout",
    "Cozy night",
    "City lights",
    "Poolside",
    "Morning coffee",
    "Studio shoot",
];
const PRICES: &[u32] = &[500, 999, 1500, 2500, 4000];

fn extension(t: MediaType) -> &'static str {
    match t {
        MediaType::Image => "jpg",
        MediaType::Video => "mp4",
        MediaType::Audio => "m4a",
        MediaType::Document => "pdf",
    }
}

/// The library of the `index`-th creator: 30–60 items, newest first.
pub fn generate(
    seed: u64,
    index: usize,
    handle: &str,
    start: i64,
    epoch_ms: i64,
) -> Vec<MediaItem> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d65_6469_615f_6c69 ^ ((index as u64) << 20));
    let n = rng.random_range(30..=60);
    let span = (epoch_ms - start).max(1);
    let mut items: Vec<MediaItem> = (0..n)
        .map(|i| {
            let media_type = match rng.random_range(0..100) {
                0..=49 => MediaType::Image,
                50..=79 => MediaType::Video,
                80..=91 => MediaType::Audio,
                _ => MediaType::Document,
            };
            let folder_name = match media_type {
                _ if rng.random_bool(0.2) => None,
                MediaType::Image => Some(if rng.random_bool(0.5) {
                    FOLDERS[0]
                } else {
                    FOLDERS[2]
                }),
                MediaType::Video => Some(if rng.random_bool(0.5) {
                    FOLDERS[1]
                } else {
                    FOLDERS[2]
                }),
                MediaType::Audio => Some(FOLDERS[3]),
                MediaType::Document => Some(FOLDERS[4]),
            }
            .map(str::to_string);
            let mut usage = Vec::new();
            for (u, p) in [
                (MediaUsage::Chat, 0.7),
                (MediaUsage::Post, 0.4),
                (MediaUsage::Vault, 0.5),
            ] {
                if rng.random_bool(p) {
                    usage.push(u);
                }
            }
            if usage.is_empty() {
                usage.push(MediaUsage::Vault);
            }
            let uuid = next_uuid(&mut rng);
            let subject = SUBJECTS.choose(&mut rng).copied().unwrap_or("Untitled");
            let name = format!("{subject} {:02}.{}", i + 1, extension(media_type));
            let caption = rng.random_bool(0.5).then(|| format!("{subject} ✨"));
            let description = rng
                .random_bool(0.3)
                .then(|| format!("{subject}, {} edition", media_type.as_str()));
            let recommended_price = rng
                .random_bool(0.35)
                .then(|| PRICES.choose(&mut rng).copied().unwrap_or(999));
            let created_at = start + rng.random_range(0..span);
            let variants = variants(&mut rng, handle, &uuid, media_type);
            MediaItem {
                uuid,
                created_at,
                name,
                caption,
                description,
                media_type,
                folder_name,
                recommended_price,
                usage,
                variants,
            }
        })
        .collect();
    items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.uuid.cmp(&b.uuid)));
    items
}

fn variants(rng: &mut ChaCha8Rng, handle: &str, item: &Uuid, t: MediaType) -> Vec<MediaVariant> {
    let (w, h) = match t {
        MediaType::Image => (Some(1080), Some(1350)),
        MediaType::Video => (Some(1920), Some(1080)),
        MediaType::Audio | MediaType::Document => (None, None),
    };
    let length_ms = match t {
        MediaType::Video => Some(rng.random_range(5_000..600_000)),
        MediaType::Audio => Some(rng.random_range(3_000..120_000)),
        _ => None,
    };
    let url =
        |kind: &str, ext: &str| format!("https://media.sim.invalid/{handle}/{item}/{kind}.{ext}");
    let mut out = vec![MediaVariant {
        uuid: next_uuid(rng),
        variant_type: "main",
        display_position: 0,
        url: url("main", extension(t)),
        width: w,
        height: h,
        length_ms,
    }];
    if matches!(t, MediaType::Image | MediaType::Video) {
        for (pos, kind) in [(1, "thumbnail"), (2, "blurred")] {
            out.push(MediaVariant {
                uuid: next_uuid(rng),
                variant_type: kind,
                display_position: pos,
                url: url(kind, "jpg"),
                width: w.map(|x| x / 4),
                height: h.map(|x| x / 4),
                length_ms: None,
            });
        }
    }
    out
}

/// Library items standing in for a message's media: `n` distinct items of `want`'s type
/// when the library has them (any type otherwise), chosen stably from `key`.
pub fn pick(
    w: &World,
    creator: UserId,
    key: &Uuid,
    want: Option<MediaType>,
    n: usize,
) -> Option<(Vec<Uuid>, MediaType)> {
    let lib = &w.creator_data.get(&creator)?.media;
    let mut pool: Vec<&MediaItem> = lib
        .iter()
        .filter(|m| want.is_none_or(|t| m.media_type == t))
        .collect();
    if pool.is_empty() {
        pool = lib.iter().collect();
    }
    if pool.is_empty() {
        return None;
    }
    let h = u64::from_le_bytes(key.as_bytes()[..8].try_into().unwrap_or([0; 8]));
    let t = pool[(h % pool.len() as u64) as usize].media_type;
    let pool: Vec<&MediaItem> = pool.iter().copied().filter(|m| m.media_type == t).collect();
    let start = (h % pool.len() as u64) as usize;
    let uuids = (0..n.min(pool.len()))
        .map(|i| pool[(start + i) % pool.len()].uuid)
        .collect();
    Some((uuids, t))
}

/// Generates every creator's library and points the creator side's media in history and
/// templates at it.
pub fn attach(w: &mut World, seed: u64, start: i64, epoch_ms: i64) {
    let creators = w.creators.clone();
    for (i, &c) in creators.iter().enumerate() {
        let handle = w.user(c).handle.clone();
        let items = generate(seed, i, &handle, start, epoch_ms);
        w.set_media_library(c, items);
    }
    for id in 0..w.messages.len() {
        let m = &w.messages[id];
        if !m.from_creator || m.media.is_empty() {
            continue;
        }
        let creator = w.chats[m.chat as usize].creator;
        if let Some((uuids, t)) = pick(w, creator, &m.media[0], m.media_type, m.media.len()) {
            let m = &mut w.messages[id];
            m.media = uuids.into_boxed_slice();
            m.media_type = Some(t);
        }
    }
    for &c in &creators {
        let templates = w
            .creator_data
            .get(&c)
            .map(|cd| cd.templates.clone())
            .unwrap_or_default();
        let mapped: Vec<_> = templates
            .into_iter()
            .map(|mut t| {
                if let Some(first) = t.media_uuids.first().copied()
                    && let Some((uuids, _)) = pick(w, c, &first, None, t.media_uuids.len())
                {
                    t.media_uuids = uuids;
                }
                t
            })
            .collect();
        if let Some(cd) = w.creator_data.get_mut(&c) {
            cd.templates = mapped;
        }
    }
}
