//! Advocates: customers enrolled in a program, each with a generated code (and optionally a
//! vanity one). Codes live in one server-wide table so `/r/{code}` finds exactly one advocate.

use crate::rows::{self, Advocate, columns};
use crate::{Conn, Millis, Result, StoreError};
use sqlx::Row;
use vouch_core::code::ReferralCode;
use vouch_core::id::time_ordered;

/// Claims `code` for an advocate. `false` when another advocate (anywhere) holds it.
async fn claim_code(
    c: &mut Conn,
    code: &ReferralCode,
    workspace_id: i64,
    advocate_id: i64,
    kind: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO referral_codes (code, workspace_id, advocate_id, kind, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(code.as_str().to_string())
    .bind(workspace_id)
    .bind(advocate_id)
    .bind(kind.to_string())
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Enrols a customer in a program (idempotent: an enrolled customer keeps their advocate).
pub async fn enroll(
    c: &mut Conn,
    workspace_id: i64,
    program_id: i64,
    customer_id: i64,
    vanity: Option<&ReferralCode>,
    now: Millis,
) -> Result<(Advocate, bool)> {
    let existing = rows::select::<Advocate>(
        "WHERE program_id = $1 AND customer_id = $2 AND workspace_id = $3",
    )
    .bind(program_id)
    .bind(customer_id)
    .bind(workspace_id);
    if let Some(a) = rows::fetch_optional(c, existing).await? {
        return Ok((a, false));
    }
    let q = rows::dynamic(format!(
        "INSERT INTO advocates (workspace_id, public_id, program_id, customer_id, code, status, created_at)
         VALUES ($1, $2, $3, $4, '', 'active', $5) RETURNING {}",
        columns::<Advocate>()
    ))
    .bind(workspace_id)
    .bind(time_ordered::<8>("adv_", now))
    .bind(program_id)
    .bind(customer_id)
    .bind(now);
    let mut a: Advocate = rows::fetch_one(c, q).await?;
    let code = loop {
        // Collisions are rare (31^8 codes); another draw settles one.
        let code = ReferralCode::generate();
        if claim_code(c, &code, workspace_id, a.id, "generated", now).await? {
            break code;
        }
    };
    if let Some(v) = vanity
        && !claim_code(c, v, workspace_id, a.id, "vanity", now).await?
    {
        return Err(StoreError::Conflict("this vanity code"));
    }
    sqlx::query("UPDATE advocates SET code = $2, vanity_code = $3 WHERE id = $1")
        .bind(a.id)
        .bind(code.as_str().to_string())
        .bind(vanity.map(|v| v.as_str().to_string()))
        .execute(&mut *c)
        .await?;
    a.code = code.as_str().to_string();
    a.vanity_code = vanity.map(|v| v.as_str().to_string());
    Ok((a, true))
}

/// Where a code leads: everything the redirect needs, in one indexed lookup.
#[derive(Debug, Clone)]
pub struct CodeTarget {
    pub code: String,
    pub workspace_id: i64,
    pub program_id: i64,
    pub advocate_id: i64,
    pub program_status: String,
    pub rules: String,
    pub ip_salt: String,
}

pub async fn resolve_code(c: &mut Conn, code: &ReferralCode) -> Result<Option<CodeTarget>> {
    let row = sqlx::query(
        "SELECT rc.code AS code, rc.workspace_id AS workspace_id, a.program_id AS program_id, a.id AS advocate_id,
            p.status AS program_status, p.rules AS rules, w.ip_salt AS ip_salt, a.status AS advocate_status
         FROM referral_codes rc
         JOIN advocates a ON a.id = rc.advocate_id AND a.workspace_id = rc.workspace_id
         JOIN programs p ON p.id = a.program_id AND p.workspace_id = a.workspace_id
         JOIN workspaces w ON w.id = rc.workspace_id
         WHERE rc.code = $1",
    )
    .bind(code.as_str().to_string())
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let advocate_status: String = r.try_get("advocate_status")?;
    let program_status: String = r.try_get("program_status")?;
    Ok(Some(CodeTarget {
        code: r.try_get("code")?,
        workspace_id: r.try_get("workspace_id")?,
        program_id: r.try_get("program_id")?,
        advocate_id: r.try_get("advocate_id")?,
        // A disabled advocate's link still lands, like a paused program's, but earns nothing.
        program_status: if advocate_status == "active" {
            program_status
        } else {
            "paused".into()
        },
        rules: r.try_get("rules")?,
        ip_salt: r.try_get("ip_salt")?,
    }))
}

pub async fn by_id(c: &mut Conn, workspace_id: i64, id: i64) -> Result<Option<Advocate>> {
    Ok(rows::by_id(c, workspace_id, id).await?)
}

pub async fn by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<Advocate>> {
    Ok(rows::by_public_id(c, workspace_id, public_id).await?)
}

/// The advocate behind a code, within one workspace (codes of other workspaces are not found).
pub async fn by_code(
    c: &mut Conn,
    workspace_id: i64,
    code: &ReferralCode,
) -> Result<Option<Advocate>> {
    let q = rows::select::<Advocate>(
        "WHERE workspace_id = $2 AND id = (
            SELECT advocate_id FROM referral_codes WHERE code = $1 AND workspace_id = $2)",
    )
    .bind(code.as_str().to_string())
    .bind(workspace_id);
    Ok(rows::fetch_optional(c, q).await?)
}

pub async fn of_customer(
    c: &mut Conn,
    workspace_id: i64,
    program_id: i64,
    customer_id: i64,
) -> Result<Option<Advocate>> {
    let q = rows::select::<Advocate>(
        "WHERE workspace_id = $1 AND program_id = $2 AND customer_id = $3",
    )
    .bind(workspace_id)
    .bind(program_id)
    .bind(customer_id);
    Ok(rows::fetch_optional(c, q).await?)
}

pub async fn list(
    c: &mut Conn,
    workspace_id: i64,
    program_id: Option<i64>,
    after: i64,
    limit: i64,
) -> Result<Vec<Advocate>> {
    let q = match program_id {
        Some(p) => rows::select::<Advocate>(
            "WHERE workspace_id = $1 AND program_id = $2 AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(workspace_id)
        .bind(p)
        .bind(after)
        .bind(limit),
        None => {
            rows::select::<Advocate>("WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                .bind(workspace_id)
                .bind(after)
                .bind(limit)
        }
    };
    Ok(rows::fetch_all(c, q).await?)
}

/// Remembers that an advocate uses this browser, seen from this (salted, hashed) address;
/// idempotent, and the latest address wins.
pub async fn remember_visitor(
    c: &mut Conn,
    workspace_id: i64,
    advocate_id: i64,
    visitor_id: &str,
    ip_hash: &str,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO advocate_visitors (workspace_id, advocate_id, visitor_id, created_at, ip_hash) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workspace_id, advocate_id, visitor_id)
         DO UPDATE SET ip_hash = CASE WHEN excluded.ip_hash <> '' THEN excluded.ip_hash ELSE advocate_visitors.ip_hash END",
    )
    .bind(workspace_id)
    .bind(advocate_id)
    .bind(visitor_id.to_string())
    .bind(now)
    .bind(ip_hash.to_string())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The browsers an advocate is known to use, newest first (at most 20).
pub async fn visitors_of(c: &mut Conn, workspace_id: i64, advocate_id: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT visitor_id FROM advocate_visitors WHERE workspace_id = $1 AND advocate_id = $2 ORDER BY created_at DESC LIMIT 20",
    )
    .bind(workspace_id)
    .bind(advocate_id)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("visitor_id")?)).collect()
}

/// The addresses (salted hashes) an advocate's browsers were seen from, newest first.
pub async fn ips_of(c: &mut Conn, workspace_id: i64, advocate_id: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT ip_hash FROM advocate_visitors WHERE workspace_id = $1 AND advocate_id = $2 AND ip_hash <> ''
         ORDER BY created_at DESC LIMIT 20",
    )
    .bind(workspace_id)
    .bind(advocate_id)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("ip_hash")?)).collect()
}
