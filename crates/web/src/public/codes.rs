//! The code cache in front of the redirect: a hit costs a read lock and a hash lookup, a miss
//! one indexed query. Entries live 30 s (unknown codes 5 s) so a change made by another replica
//! is seen soon; changes made here invalidate at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use url::Url;
use vouch_core::program::{ProgramRules, ProgramStatus};
use vouch_store::advocates::CodeTarget;

/// What the redirect needs to know about a code, parsed once.
#[derive(Debug)]
pub struct Resolved {
    pub code: String,
    pub workspace_id: i64,
    pub program_id: i64,
    pub advocate_id: i64,
    pub credits: bool,
    pub destination: Url,
    pub window_secs: u64,
    pub ip_salt: String,
    /// The advocate's own browsers: their clicks on their own link never qualify.
    pub own_visitors: Vec<String>,
}

impl Resolved {
    pub fn from_target(t: CodeTarget, own_visitors: Vec<String>) -> Option<Self> {
        let rules: ProgramRules = serde_json::from_str(&t.rules).ok()?;
        let status = ProgramStatus::parse(&t.program_status).ok()?;
        Some(Self {
            code: t.code,
            workspace_id: t.workspace_id,
            program_id: t.program_id,
            advocate_id: t.advocate_id,
            credits: status.credits(),
            destination: Url::parse(&rules.default_destination).ok()?,
            window_secs: rules.attribution_window_days as u64 * 86_400,
            ip_salt: t.ip_salt,
            own_visitors,
        })
    }
}

const TTL: Duration = Duration::from_secs(30);
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 200_000;

/// A cached lookup: the target (`None` for an unknown code) and when it was loaded.
type Entry = (Option<Arc<Resolved>>, Instant);

#[derive(Default)]
pub struct CodeCache {
    map: RwLock<HashMap<String, Entry>>,
}

impl CodeCache {
    /// `Some(entry)` when cached and fresh (the entry itself is `None` for an unknown code).
    pub fn get(&self, code: &str) -> Option<Option<Arc<Resolved>>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let (entry, at) = map.get(code)?;
        let ttl = if entry.is_some() { TTL } else { NEGATIVE_TTL };
        (at.elapsed() < ttl).then(|| entry.clone())
    }

    pub fn put(&self, code: &str, entry: Option<Arc<Resolved>>) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            // Simple and bounded: start over rather than track recency on the hot path.
            map.clear();
        }
        map.insert(code.to_string(), (entry, Instant::now()));
    }

    /// Forgets every code of a program (its rules or status changed).
    pub fn forget_program(&self, program_id: i64) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (e, _)| e.as_ref().is_none_or(|r| r.program_id != program_id));
    }

    pub fn forget(&self, code: &str) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(code);
    }
}
