use reqwest::{Response, StatusCode};

use crate::helpers::*;

fn assert_security_headers(r: &Response, what: &str) {
    let h = r.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"))
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{what}: {csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(
        h.get("x-content-type-options").unwrap(),
        "nosniff",
        "{what}"
    );
    assert_eq!(h.get("referrer-policy").unwrap(), "same-origin", "{what}");
    assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{what}");
    let id = h
        .get("x-request-id")
        .unwrap_or_else(|| panic!("{what}: no request id"))
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{what}: request id {id}");
    assert!(
        h.get("strict-transport-security").is_none(),
        "{what}: no HSTS over http"
    );
}

#[tokio::test]
async fn security_headers_on_html_static_and_error_responses() {
    let app = TestApp::spawn().await;
    let c = app.client();

    let page = c.get("/login").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_security_headers(&page, "html page");
    assert_eq!(page.headers().get("cache-control").unwrap(), "no-store");

    let css = c.get("/static/app.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_security_headers(&css, "static file");
    assert_eq!(
        css.headers().get("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );
    assert!(
        css.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );

    let missing = c.get("/no/such/page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&missing, "404");
    let body = missing.text().await.unwrap();
    assert!(body.contains("Page not found"), "{body}");

    let wrong_method = c
        .http
        .request(reqwest::Method::OPTIONS, c.url("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers(&wrong_method, "405");

    let csrf = c.post_raw("/login", &[("email", "a@b.test")]).await;
    assert_eq!(csrf.status(), StatusCode::FORBIDDEN);
    assert_security_headers(&csrf, "403");
}

#[tokio::test]
async fn request_ids_differ_per_request() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let a = c
        .get("/healthz")
        .await
        .headers()
        .get("x-request-id")
        .unwrap()
        .clone();
    let b = c
        .get("/healthz")
        .await
        .headers()
        .get("x-request-id")
        .unwrap()
        .clone();
    assert_ne!(a, b);
}

#[tokio::test]
async fn static_assets_revalidate_with_etag() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let r = c.get("/static/app.js").await;
    let etag = r
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let again = c
        .http
        .get(c.url("/static/app.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    // Pages reference assets by content hash.
    let (_, body) = c.get_html("/login").await;
    assert!(
        body.contains(&format!("/static/app.js?v={}", etag.trim_matches('"'))),
        "{body}"
    );
    assert_eq!(
        c.get("/static/config.toml").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn error_pages_leak_no_internals() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    // A malformed id in the path is a plain 404, not a parser message.
    let r = admin.get("/admin/staff/not-a-uuid").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body = r.text().await.unwrap();
    assert!(!body.to_lowercase().contains("uuid"), "{body}");
    assert!(
        !body.contains("sqlx") && !body.contains("panicked"),
        "{body}"
    );
    // A malformed query parameter: friendly 400.
    let r = admin.get("/admin/audit?page=abc").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("invalid parameter") && !body.contains("ParseIntError"),
        "{body}"
    );
}
