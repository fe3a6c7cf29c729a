//! Static assets, embedded in the binary (no CDN, nothing to deploy beside
//! it). URLs carry a content hash, so browsers may cache them for a year and
//! still pick up a new release at once.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/app.js"),
    },
    Asset {
        name: "inbox.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/inbox.css"),
    },
    Asset {
        name: "inbox.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/inbox.js"),
    },
    Asset {
        name: "live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/live.js"),
    },
    Asset {
        name: "compose.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/compose.js"),
    },
    Asset {
        name: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/dashboard.css"),
    },
    Asset {
        name: "collab.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/collab.js"),
    },
    Asset {
        name: "logo.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../static/logo.svg"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../static/favicon.svg"),
    },
];

/// Short content hash per asset, computed once.
static HASHES: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| crate::credentials::token::sha256_hex_bytes(a.body)[..12].to_owned())
        .collect()
});

static URLS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .zip(HASHES.iter())
        .map(|(a, h)| format!("/static/{}?v={h}", a.name))
        .collect()
});

/// The cache-busting URL of an embedded asset (`/static/app.css?v=…`).
pub fn url(name: &str) -> &'static str {
    ASSETS
        .iter()
        .position(|a| a.name == name)
        .and_then(|i| URLS.get(i))
        .map_or("/static/missing", String::as_str)
}

pub async fn serve(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let Some(i) = ASSETS.iter().position(|a| a.name == file.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let asset = &ASSETS[i];
    let etag = format!("\"{}\"", HASHES[i]);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"));
    if fresh {
        res.finish()
    } else {
        res.content_type(asset.content_type).body(asset.body)
    }
}
