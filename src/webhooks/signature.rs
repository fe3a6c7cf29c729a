//! `X-Fanvue-Signature: t=<unix seconds>,v0=<hex HMAC-SHA256 of "{t}.{raw body}">`,
//! verified in constant time against the current secret and, during a
//! rotation overlap, the previous one; stale timestamps are refused.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Fanvue-Signature header")]
    Missing,
    #[error("malformed X-Fanvue-Signature header")]
    Malformed,
    #[error("signature timestamp outside the allowed window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
    #[error("no webhook secret is configured")]
    NoSecret,
}

/// Parses `t=…,v0=…` (order-free; unknown keys ignored).
pub fn parse(header: &str) -> Result<(i64, Vec<u8>), SignatureError> {
    let mut t = None;
    let mut v0 = None;
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k.trim() {
            "t" => {
                t = Some(
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v0" => v0 = Some(hex::decode(v.trim()).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    match (t, v0) {
        (Some(t), Some(sig)) if sig.len() == 32 => Ok((t, sig)),
        _ => Err(SignatureError::Malformed),
    }
}

fn matches(secret: &SecretString, t: i64, body: &[u8], sig: &[u8]) -> bool {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
    else {
        return false;
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(sig).is_ok()
}

/// Verifies a delivery. `previous` is accepted only until its deadline.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    current: Option<&SecretString>,
    previous: Option<&(SecretString, DateTime<Utc>)>,
    tolerance_secs: i64,
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (t, sig) = parse(header)?;
    if (now.timestamp() - t).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let current = current.ok_or(SignatureError::NoSecret)?;
    if matches(current, t, body, &sig) {
        return Ok(());
    }
    if let Some((old, until)) = previous
        && now <= *until
        && matches(old, t, body, &sig)
    {
        return Ok(());
    }
    Err(SignatureError::Mismatch)
}

/// Builds a header (tests and the load generator sign like Fanvue does).
pub fn sign(secret: &SecretString, t: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> SecretString {
        SecretString::from(x.to_owned())
    }

    #[test]
    fn matches_the_simulators_reference_signature() {
        let now = Utc::now();
        let body = br#"{"a":1}"#;
        let header = crate::sim::signature_header("k", now.timestamp(), body);
        assert_eq!(
            verify(Some(&header), body, Some(&s("k")), None, 300, now),
            Ok(())
        );
        assert_eq!(header, sign(&s("k"), now.timestamp(), body));
    }

    #[test]
    fn refuses_every_bad_variant() {
        let now = Utc::now();
        let t = now.timestamp();
        let body = b"{}";
        let good = sign(&s("k"), t, body);
        assert_eq!(
            verify(None, body, Some(&s("k")), None, 300, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(Some("garbage"), body, Some(&s("k")), None, 300, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("t=1,v0=zz"), body, Some(&s("k")), None, 300, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some(&good), b"{ }", Some(&s("k")), None, 300, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&good), body, Some(&s("other")), None, 300, now),
            Err(SignatureError::Mismatch)
        );
        let old = sign(&s("k"), t - 360, body);
        assert_eq!(
            verify(Some(&old), body, Some(&s("k")), None, 300, now),
            Err(SignatureError::Stale)
        );
        let future = sign(&s("k"), t + 360, body);
        assert_eq!(
            verify(Some(&future), body, Some(&s("k")), None, 300, now),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn previous_secret_works_only_during_the_overlap() {
        let now = Utc::now();
        let body = b"{}";
        let by_old = sign(&s("old"), now.timestamp(), body);
        let overlap = (s("old"), now + chrono::Duration::hours(1));
        assert_eq!(
            verify(
                Some(&by_old),
                body,
                Some(&s("new")),
                Some(&overlap),
                300,
                now
            ),
            Ok(())
        );
        let ended = (s("old"), now - chrono::Duration::seconds(1));
        assert_eq!(
            verify(Some(&by_old), body, Some(&s("new")), Some(&ended), 300, now),
            Err(SignatureError::Mismatch)
        );
    }
}
