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

/// At most this many `v0` signatures are checked (a rotation may sign
/// twice); more is refused before any HMAC work.
const MAX_SIGNATURES: usize = 4;
/// Longer headers are refused unread (a real one is about 80 characters).
const MAX_HEADER_LEN: usize = 512;

/// Parses `t=…,v0=…` (order-free; unknown keys ignored, a repeated `t`
/// refused as ambiguous). `t` must be a canonical integer: the signed string
/// is rebuilt from it.
pub fn parse(header: &str) -> Result<(i64, Vec<Vec<u8>>), SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        let v = v.trim();
        match k.trim() {
            "t" => {
                let parsed = v.parse::<i64>().map_err(|_| SignatureError::Malformed)?;
                if t.is_some() || parsed.to_string() != v {
                    return Err(SignatureError::Malformed);
                }
                t = Some(parsed);
            }
            "v0" => {
                let sig = hex::decode(v).map_err(|_| SignatureError::Malformed)?;
                if sig.len() != 32 || sigs.len() == MAX_SIGNATURES {
                    return Err(SignatureError::Malformed);
                }
                sigs.push(sig);
            }
            _ => {}
        }
    }
    match t {
        Some(t) if !sigs.is_empty() => Ok((t, sigs)),
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
    let (t, sigs) = parse(header)?;
    // `abs_diff`: `t` is the sender's, and `now - t` overflows near i64::MIN.
    if now.timestamp().abs_diff(t) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let current = current.ok_or(SignatureError::NoSecret)?;
    let previous = previous
        .filter(|(_, until)| now <= *until)
        .map(|(old, _)| old);
    for sig in &sigs {
        if matches(current, t, body, sig) || previous.is_some_and(|old| matches(old, t, body, sig))
        {
            return Ok(());
        }
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

    /// Headers an attacker controls: none may panic (debug builds check
    /// overflow), and only a well-formed, fresh, matching one passes.
    #[test]
    fn hostile_headers_are_refused_without_panicking() {
        let now = Utc::now();
        let t = now.timestamp();
        let body = b"{}";
        let good = sign(&s("k"), t, body);
        let sig = good.split_once("v0=").map(|(_, v)| v.to_owned()).unwrap();
        let zeros = "0".repeat(64);
        let many_bad = (0..1000)
            .map(|_| format!("v0={zeros}"))
            .collect::<Vec<_>>()
            .join(",");
        use SignatureError::*;
        let table: Vec<(String, Result<(), SignatureError>)> = vec![
            (String::new(), Err(Malformed)),
            (",".into(), Err(Malformed)),
            ("=".into(), Err(Malformed)),
            ("t=".into(), Err(Malformed)),
            ("v0=".into(), Err(Malformed)),
            (format!("t={t}"), Err(Malformed)),
            (format!("v0={sig}"), Err(Malformed)),
            (format!("t={t},v0="), Err(Malformed)),
            (format!("t={t},v0={}", "zz".repeat(32)), Err(Malformed)),
            (format!("t={t},v0={}", &sig[..63]), Err(Malformed)),
            (format!("t={t},v0={}", &sig[..62]), Err(Malformed)),
            (format!("t={t},v0={sig}00"), Err(Malformed)),
            (format!("t=+{t},v0={sig}"), Err(Malformed)),
            (format!("t={t}.0,v0={sig}"), Err(Malformed)),
            (format!("t=99999999999999999999,v0={sig}"), Err(Malformed)),
            (format!("t={},v0={sig}", i64::MIN), Err(Stale)),
            (format!("t={},v0={sig}", i64::MIN + 1), Err(Stale)),
            (format!("t={},v0={sig}", i64::MAX), Err(Stale)),
            (format!("t=-{t},v0={sig}"), Err(Stale)),
            (format!("t=0,v0={sig}"), Err(Stale)),
            // The same key twice is ambiguous: which `t` was signed?
            (format!("t={t},t={t},v0={sig}"), Err(Malformed)),
            (format!("t=0,t={t},v0={sig}"), Err(Malformed)),
            // A bounded number of `v0` (a rotation may sign twice); any may
            // match. Beyond the bound: refused before any HMAC is computed.
            (format!("t={t},v0={zeros},v0={sig}"), Ok(())),
            (format!("t={t},v0={zeros}"), Err(Mismatch)),
            (format!("t={t},{many_bad},v0={sig}"), Err(Malformed)),
            (format!("t={t},v0={sig},junk"), Err(Malformed)),
            (format!("t={t},v0={sig},v1=whatever"), Ok(())),
            (format!(" t = {t} , v0 = {sig} "), Ok(())),
            (format!("t={t},v0={}", sig.to_uppercase()), Ok(())),
            (good.clone(), Ok(())),
        ];
        for (header, want) in table {
            let got = verify(Some(&header), body, Some(&s("k")), None, 300, now);
            let shown: String = header.chars().take(120).collect();
            assert_eq!(got, want, "header {shown:?}");
        }
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
