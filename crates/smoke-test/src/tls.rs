//! `--min-cert-days`: how long the server's certificate stays valid, read from
//! the peer certificate of a real response (the strategy's SSL-certificate risk).

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::Url;
use serde::Serialize;

/// `host:port` of an https URL; `None` for plain http.
pub fn origin(url: &Url) -> Option<String> {
    (url.scheme() == "https").then(|| {
        format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(443)
        )
    })
}

/// Keeps the first certificate seen per https origin during a run.
#[derive(Debug, Default)]
pub struct CertTracker {
    seen: Mutex<BTreeMap<String, Option<Vec<u8>>>>,
}

impl CertTracker {
    /// Tracks the https origins among `urls`; `None` when there is none.
    pub fn for_urls<'a>(urls: impl IntoIterator<Item = &'a Url>) -> Option<Self> {
        let seen: BTreeMap<String, Option<Vec<u8>>> = urls
            .into_iter()
            .filter_map(origin)
            .map(|o| (o, None))
            .collect();
        (!seen.is_empty()).then(|| CertTracker {
            seen: Mutex::new(seen),
        })
    }

    pub fn observe(&self, url: &Url, der: Option<&[u8]>) {
        let (Some(o), Some(der)) = (origin(url), der) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot @ None) = seen.get_mut(&o) {
            *slot = Some(der.to_vec());
        }
    }

    pub fn judge_all(&self, min_days: u32) -> Vec<CertStatus> {
        let now = chrono::Utc::now().timestamp();
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter()
            .map(|(o, der)| judge(o, der.as_deref(), min_days, now))
            .collect()
    }
}

/// What was seen of one origin's certificate.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct CertStatus {
    /// `host:port` the certificate was presented by.
    pub origin: String,
    pub subject: Option<String>,
    /// RFC 3339 expiry time.
    pub not_after: Option<String>,
    /// Whole days until expiry (negative when already expired).
    pub days_left: Option<i64>,
    pub min_days: u32,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Expiry of a DER certificate as Unix seconds, and its subject.
pub fn expiry(der: &[u8]) -> Result<(i64, String), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("cannot parse the server certificate: {e}"))?;
    Ok((
        cert.validity().not_after.timestamp(),
        cert.subject().to_string(),
    ))
}

/// Judges one origin's certificate against `--min-cert-days` at time `now` (Unix seconds).
pub fn judge(origin: &str, der: Option<&[u8]>, min_days: u32, now: i64) -> CertStatus {
    let mut st = CertStatus {
        origin: origin.to_owned(),
        subject: None,
        not_after: None,
        days_left: None,
        min_days,
        passed: false,
        reason: None,
    };
    let Some(der) = der else {
        st.reason = Some("no certificate seen: no TLS connection to this origin succeeded".into());
        return st;
    };
    match expiry(der) {
        Err(e) => st.reason = Some(e),
        Ok((not_after, subject)) => {
            let left = not_after - now;
            st.subject = Some(subject);
            st.not_after = chrono::DateTime::from_timestamp(not_after, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            st.days_left = Some(left.div_euclid(86_400));
            st.passed = left >= i64::from(min_days) * 86_400;
            if !st.passed {
                st.reason = Some(format!(
                    "certificate expires in {} days ({}), fewer than --min-cert-days {min_days}",
                    left.div_euclid(86_400),
                    st.not_after.as_deref().unwrap_or("?")
                ));
            }
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_expiring_in(days: i64) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        use chrono::Datelike;
        // rcgen takes a calendar day (midnight UTC): one day later, then truncated.
        let end = chrono::Utc::now() + chrono::Duration::days(days + 1);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn time_now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn days_left_decides() {
        let now = time_now();
        let der = cert_expiring_in(10);
        let ok = judge("localhost:443", Some(&der), 7, now);
        assert!(ok.passed, "{ok:?}");
        assert!(matches!(ok.days_left, Some(9 | 10)), "{ok:?}");
        let short = judge("localhost:443", Some(&der), 30, now);
        assert!(!short.passed);
        assert!(
            short
                .reason
                .unwrap()
                .contains("fewer than --min-cert-days 30")
        );
    }

    #[test]
    fn unseen_or_garbage_certificates_fail() {
        assert!(!judge("h:443", None, 1, 0).passed);
        let bad = judge("h:443", Some(b"not der"), 1, 0);
        assert!(!bad.passed);
        assert!(bad.reason.unwrap().contains("cannot parse"));
    }
}
