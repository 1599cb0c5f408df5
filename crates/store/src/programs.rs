//! Programs and their rule versions. Changing the rules writes a new version; referrals keep
//! the version they were judged under, so the past is never rewritten.

use crate::rows::{self, Program, ProgramVersion, columns};
use crate::{Conn, Millis, Result, StoreError};
use vouch_core::id::time_ordered;
use vouch_core::program::{ProgramRules, ProgramStatus};

fn rules_json(rules: &ProgramRules) -> String {
    serde_json::to_string(rules).expect("rules serialise")
}

/// The rules a stored program (or version) carries.
///
/// Parsed once per distinct text: a conversion reads its program's rules three times, and a
/// version's text never changes (a change is a new version), so the parse is remembered by
/// the text itself, which makes the memo right whatever database the text came from.
pub fn rules_of(json: &str) -> Result<ProgramRules> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    /// Enough for every live version of a server's programs; emptied when full.
    const KEEP: usize = 256;
    static PARSED: LazyLock<Mutex<HashMap<String, ProgramRules>>> = LazyLock::new(Mutex::default);
    if let Some(rules) = PARSED.lock().expect("rules memo").get(json) {
        return Ok(rules.clone());
    }
    let rules: ProgramRules = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("program rules: {e}")))?;
    let mut parsed = PARSED.lock().expect("rules memo");
    if parsed.len() >= KEEP {
        parsed.clear();
    }
    parsed.insert(json.to_string(), rules.clone());
    Ok(rules)
}

pub async fn create(
    c: &mut Conn,
    workspace_id: i64,
    name: &str,
    status: ProgramStatus,
    rules: &ProgramRules,
    now: Millis,
) -> Result<Program> {
    let q = rows::dynamic(format!(
        "INSERT INTO programs (workspace_id, public_id, name, status, version, rules, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 1, $5, $6, $6) RETURNING {}",
        columns::<Program>()
    ))
    .bind(workspace_id)
    .bind(time_ordered::<8>("prg_", now))
    .bind(name.to_string())
    .bind(status.as_str())
    .bind(rules_json(rules))
    .bind(now);
    let p: Program = rows::fetch_one(c, q).await?;
    insert_version(c, &p, now).await?;
    Ok(p)
}

async fn insert_version(c: &mut Conn, p: &Program, now: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO program_versions (workspace_id, program_id, version, rules, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(p.workspace_id)
    .bind(p.id)
    .bind(p.version)
    .bind(p.rules.clone())
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<Program>> {
    Ok(rows::by_public_id(c, workspace_id, public_id).await?)
}

pub async fn by_id(c: &mut Conn, workspace_id: i64, id: i64) -> Result<Option<Program>> {
    Ok(rows::by_id(c, workspace_id, id).await?)
}

/// Programs of a workspace, by id, after the cursor.
pub async fn list(c: &mut Conn, workspace_id: i64, after: i64, limit: i64) -> Result<Vec<Program>> {
    let q = rows::select::<Program>("WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3")
        .bind(workspace_id)
        .bind(after)
        .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}

/// Updates name, status and rules; new rules make a new version, the same rules do not.
pub async fn update(
    c: &mut Conn,
    program: &Program,
    name: &str,
    status: ProgramStatus,
    rules: &ProgramRules,
    now: Millis,
) -> Result<Program> {
    let json = rules_json(rules);
    let changed = rules_of(&program.rules)? != *rules;
    let version = if changed {
        program.version + 1
    } else {
        program.version
    };
    let q = rows::dynamic(format!(
        "UPDATE programs SET name = $3, status = $4, version = $5, rules = $6, updated_at = $7
         WHERE workspace_id = $1 AND id = $2 RETURNING {}",
        columns::<Program>()
    ))
    .bind(program.workspace_id)
    .bind(program.id)
    .bind(name.to_string())
    .bind(status.as_str())
    .bind(version)
    .bind(json)
    .bind(now);
    let p: Program = rows::fetch_one(c, q).await?;
    if changed {
        insert_version(c, &p, now).await?;
    }
    Ok(p)
}

pub async fn version(
    c: &mut Conn,
    program_id: i64,
    version: i64,
) -> Result<Option<ProgramVersion>> {
    let q = rows::select::<ProgramVersion>("WHERE program_id = $1 AND version = $2")
        .bind(program_id)
        .bind(version);
    Ok(rows::fetch_optional(c, q).await?)
}

/// A program by its public id whatever its workspace: for public pages whose link names the
/// program (and so the workspace), like the join page. Never used behind an API key.
pub async fn by_public_id_any_workspace(c: &mut Conn, public_id: &str) -> Result<Option<Program>> {
    Ok(rows::fetch_optional(
        c,
        rows::select::<Program>("WHERE public_id = $1").bind(public_id.to_string()),
    )
    .await?)
}
