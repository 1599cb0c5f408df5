//! Public ids: how the API, the pages and webhooks name a row (`cnv_…`, `rwd_…`).
//!
//! A public id is `{prefix}{creation ms as 11 hex}{random hex}`: unguessable through its
//! random part (OS CSPRNG), and ordered by creation time, so the unique index on it grows at
//! its end like the table. A fully random id puts every insert on a leaf page of its own,
//! which the commit then writes whole: fifteen of them per conversion were most of what a
//! rewarded conversion wrote to disk.

use crate::Millis;
use std::cell::RefCell;

/// A time-ordered public id with `BYTES` random bytes after the 11 hex digits of `now`
/// (enough until the year 10889). Ids made within the same millisecond are ordered at random.
pub fn time_ordered<const BYTES: usize>(prefix: &str, now: Millis) -> String {
    let mut random = [0u8; BYTES];
    fill(&mut random);
    format!("{prefix}{:011x}{}", now.max(0), hex::encode(random))
}

/// OS random bytes, fetched 4 KiB at a time per thread: a conversion makes a dozen ids, and a
/// system call for each was a measurable part of its write. Ids are names, not secrets, so
/// holding their randomness in memory a little ahead costs nothing; tokens do not use this.
fn fill(out: &mut [u8]) {
    struct Pool {
        bytes: [u8; 4096],
        used: usize,
    }
    thread_local! {
        static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; 4096], used: 4096 }) };
    }
    POOL.with_borrow_mut(|pool| {
        if pool.used + out.len() > pool.bytes.len() {
            getrandom::fill(&mut pool.bytes).expect("the operating system's random source failed");
            pool.used = 0;
        }
        out.copy_from_slice(&pool.bytes[pool.used..pool.used + out.len()]);
        pool.used += out.len();
    });
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
        // Past the end of a pool of random bytes ids still differ.
        let many: std::collections::HashSet<String> =
            (0..2_000).map(|_| time_ordered::<8>("", 0)).collect();
        assert_eq!(many.len(), 2_000);
    }
}
