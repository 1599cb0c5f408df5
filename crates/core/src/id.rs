//! Public ids: how the API, the pages and webhooks name a row (`cnv_…`, `rwd_…`).
//!
//! A public id is `{prefix}{creation ms as 11 hex}{random hex}`: unguessable through its
//! random part (OS CSPRNG), and ordered by creation time, so the unique index on it grows at
//! its end like the table. A fully random id puts every insert on a leaf page of its own,
//! which the commit then writes whole: ten of them per conversion were most of what a
//! rewarded conversion wrote to disk.

use crate::Millis;
use crate::secret::random_hex;

/// A time-ordered public id with `BYTES` random bytes after the 11 hex digits of `now`
/// (enough until the year 10889). Ids made within the same millisecond are ordered at random.
pub fn time_ordered<const BYTES: usize>(prefix: &str, now: Millis) -> String {
    format!("{prefix}{:011x}{}", now.max(0), random_hex::<BYTES>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation_time_and_differ_within_a_millisecond() {
        let (a, b, c) = (
            time_ordered::<8>("cnv_", 1_700_000_000_000),
            time_ordered::<8>("cnv_", 1_700_000_000_000),
            time_ordered::<8>("cnv_", 1_700_000_000_001),
        );
        assert_eq!(a.len(), "cnv_".len() + 11 + 16);
        assert!(a.starts_with("cnv_18bcfe56800"), "{a}");
        assert_ne!(a, b);
        assert!(a < c && b < c);
        // Before the epoch (a clock gone wrong) still makes a well-formed id.
        assert_eq!(time_ordered::<6>("", -5).len(), 23);
    }
}
