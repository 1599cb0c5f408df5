//! Time as stored: UTC instants in milliseconds since the Unix epoch.

/// A UTC instant in milliseconds since the Unix epoch, as every table stores time.
pub type Millis = i64;

/// The current instant. The only place core reads the clock; callers pass it down.
pub fn now_ms() -> Millis {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An instant as RFC 3339 in UTC, as the API shows time.
pub fn rfc3339(ms: Millis) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Parses an RFC 3339 instant (`2026-12-01T09:00:00Z`, offsets allowed) to milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    s.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_is_utc_both_ways() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            super::parse_rfc3339("2023-11-14T23:13:20.123+01:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(super::parse_rfc3339("yesterday"), None);
    }
}
