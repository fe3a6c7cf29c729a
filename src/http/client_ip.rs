//! The client's address for throttling and the audit log. Behind reverse
//! proxies that append to `X-Forwarded-For` (nginx, ALB, Traefik, Caddy),
//! only the entries they added can be believed: with N trusted proxies the
//! client is the Nth entry from the right; everything left of it was written
//! by the client. Without trusted proxies the header is ignored.

use std::future::{Ready, ready};
use std::net::{IpAddr, SocketAddr};

use actix_web::{FromRequest, HttpRequest, dev::Payload};

use crate::config::Settings;

#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// How many proxies in front append to `X-Forwarded-For` (0: trust none).
/// Registered as app data by start-up; absent means 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    hops: usize,
}

impl TrustedProxies {
    pub fn new(hops: usize) -> Self {
        Self { hops }
    }

    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(if settings.trust_forwarded_for {
            settings.trusted_proxy_hops
        } else {
            0
        })
    }
}

/// The address the outermost trusted proxy saw, from every
/// `X-Forwarded-For` value in order. `None` (use the peer) when the list is
/// shorter than the trusted hops or that entry is not an address: skipping
/// to another entry would move into the part the client controls.
pub fn forwarded_client<'a>(
    values: impl IntoIterator<Item = &'a str>,
    hops: usize,
) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    let entries: Vec<&str> = values.into_iter().flat_map(|v| v.split(',')).collect();
    let entry = entries.len().checked_sub(hops).map(|i| entries[i].trim())?;
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
}

impl ClientIp {
    pub fn of(req: &HttpRequest) -> Self {
        let hops = req
            .app_data::<TrustedProxies>()
            .copied()
            .unwrap_or_default()
            .hops;
        if hops > 0 {
            // Read lossily: a byte the client smuggled into the list must not
            // make the whole header unreadable (and the proxy the client).
            let values: Vec<String> = req
                .headers()
                .get_all("x-forwarded-for")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            if let Some(ip) = forwarded_client(values.iter().map(String::as_str), hops) {
                return Self(ip.to_string());
            }
        }
        Self(
            req.peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unknown".to_owned()),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;

    fn ip(s: &str) -> Option<std::net::IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_nth_entry_from_the_right_is_the_client() {
        let spoofed = "6.6.6.6, 10.0.0.1, 203.0.113.7";
        assert_eq!(forwarded_client([spoofed], 1), ip("203.0.113.7"));
        assert_eq!(forwarded_client([spoofed], 2), ip("10.0.0.1"));
        assert_eq!(forwarded_client([spoofed], 3), ip("6.6.6.6"));
        // Several header lines are one list, in order.
        assert_eq!(
            forwarded_client(["6.6.6.6", "203.0.113.7"], 1),
            ip("203.0.113.7")
        );
        assert_eq!(forwarded_client(["2001:db8::1"], 1), ip("2001:db8::1"));
        assert_eq!(
            forwarded_client(["6.6.6.6, 203.0.113.7:4711"], 1),
            ip("203.0.113.7")
        );
        assert_eq!(
            forwarded_client(["[2001:db8::2]:443"], 1),
            ip("2001:db8::2")
        );
    }

    #[test]
    fn short_or_malformed_lists_fall_back_to_the_peer() {
        assert_eq!(forwarded_client(["203.0.113.7"], 0), None);
        assert_eq!(forwarded_client(["203.0.113.7"], 2), None);
        assert_eq!(forwarded_client(Vec::<&str>::new(), 1), None);
        assert_eq!(forwarded_client([""], 1), None);
        assert_eq!(forwarded_client(["1.2.3.4, "], 1), None);
        assert_eq!(forwarded_client(["1.2.3.4, unknown"], 1), None);
        assert_eq!(forwarded_client(["1.2.3.4, 999.1.1.1"], 1), None);
        assert_eq!(forwarded_client(["1.2.3.4, <script>"], 1), None);
        // A malformed entry the client wrote to the left does not matter.
        assert_eq!(
            forwarded_client(["junk,, 203.0.113.7"], 1),
            ip("203.0.113.7")
        );
    }
}
