//! Discount-code pools: imported lists of single-use codes, or codes generated from a
//! pattern on demand. A pool running low raises a notice and a `code_pool.low_stock` event
//! once; a dry pool makes rewards wait as `pending_stock`, never silently.

use crate::rows::{self, CodePool, columns};
use crate::{Backend, Conn, Millis, Result, StoreError, notices, outbox};
use serde_json::json;
use sqlx::Row;
use vouch_core::id::time_ordered;

pub struct NewPool<'a> {
    pub key: &'a str,
    pub name: &'a str,
    /// Generated codes; `None` for an imported pool.
    pub pattern: Option<&'a str>,
    pub low_stock_threshold: i64,
}

pub async fn create(
    c: &mut Conn,
    workspace_id: i64,
    p: &NewPool<'_>,
    now: Millis,
) -> Result<CodePool> {
    let key = vouch_core::Slug::parse(p.key)
        .map_err(|e| StoreError::Rejected("invalid", format!("key: {}", e.message)))?;
    if let Some(pattern) = p.pattern {
        vouch_core::code::check_pattern(pattern)
            .map_err(|e| StoreError::Rejected("invalid", e.to_string()))?;
    }
    if p.name.trim().is_empty() || p.name.len() > 100 {
        return Err(StoreError::Rejected(
            "invalid",
            "name: use 1 to 100 characters".into(),
        ));
    }
    if p.low_stock_threshold < 0 {
        return Err(StoreError::Rejected(
            "invalid",
            "low_stock_threshold: use 0 or more".into(),
        ));
    }
    let q = rows::dynamic(format!(
        "INSERT INTO code_pools (workspace_id, public_id, key, name, pattern, low_stock_threshold, low_stock_alerted, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7) RETURNING {}",
        columns::<CodePool>()
    ))
    .bind(workspace_id)
    .bind(time_ordered::<8>("pool_", now))
    .bind(key.as_str().to_string())
    .bind(p.name.trim().to_string())
    .bind(p.pattern.map(str::to_string))
    .bind(p.low_stock_threshold)
    .bind(now);
    rows::fetch_one(c, q)
        .await
        .map_err(crate::conflict_as("a code pool with this key"))
}

pub async fn by_key(c: &mut Conn, workspace_id: i64, key: &str) -> Result<Option<CodePool>> {
    let q = rows::select::<CodePool>("WHERE workspace_id = $1 AND key = $2")
        .bind(workspace_id)
        .bind(key.to_string());
    Ok(rows::fetch_optional(c, q).await?)
}

pub async fn by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<CodePool>> {
    Ok(rows::by_public_id(c, workspace_id, public_id).await?)
}

pub async fn list(c: &mut Conn, workspace_id: i64) -> Result<Vec<CodePool>> {
    let q = rows::select::<CodePool>("WHERE workspace_id = $1 ORDER BY key").bind(workspace_id);
    Ok(rows::fetch_all(c, q).await?)
}

/// Codes not yet given to a reward (`None` for a generated pool, which never runs dry).
pub async fn available(c: &mut Conn, pool: &CodePool) -> Result<Option<i64>> {
    if pool.pattern.is_some() {
        return Ok(None);
    }
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM pool_codes WHERE pool_id = $1 AND reward_id IS NULL",
    )
    .bind(pool.id)
    .fetch_one(&mut *c)
    .await?
    .try_get("n")?;
    Ok(Some(n))
}

/// Adds imported codes; returns how many were new (codes already in the pool are skipped).
pub async fn add_codes(
    c: &mut Conn,
    pool: &CodePool,
    codes: &[String],
    now: Millis,
) -> Result<i64> {
    if pool.pattern.is_some() {
        return Err(StoreError::Rejected(
            "generated_pool",
            "this pool generates its codes from a pattern; import codes into an imported pool"
                .into(),
        ));
    }
    let mut added = 0;
    for code in codes {
        let code = code.trim().to_ascii_uppercase();
        if code.is_empty() {
            continue;
        }
        if code.len() > 64
            || !code
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return Err(StoreError::Rejected(
                "invalid",
                format!("code {code:?}: use up to 64 of A-Z, 0-9, - and _"),
            ));
        }
        added += sqlx::query(
            "INSERT INTO pool_codes (workspace_id, pool_id, code, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (pool_id, code) DO NOTHING",
        )
        .bind(pool.workspace_id)
        .bind(pool.id)
        .bind(code)
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected() as i64;
    }
    sqlx::query("UPDATE code_pools SET low_stock_alerted = 0, updated_at = $2 WHERE id = $1")
        .bind(pool.id)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(added)
}

/// Gives one code of `pool` to `reward_id`, or `None` when the pool is dry.
pub async fn take(
    c: &mut Conn,
    backend: Backend,
    pool: &CodePool,
    reward_id: i64,
    now: Millis,
) -> Result<Option<String>> {
    if let Some(pattern) = &pool.pattern {
        for _ in 0..8 {
            let code = vouch_core::code::fill_pattern(pattern);
            let done = sqlx::query(
                "INSERT INTO pool_codes (workspace_id, pool_id, code, reward_id, assigned_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (pool_id, code) DO NOTHING",
            )
            .bind(pool.workspace_id)
            .bind(pool.id)
            .bind(code.clone())
            .bind(reward_id)
            .bind(now)
            .execute(&mut *c)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(Some(code));
            }
        }
        return Err(StoreError::Refused(format!(
            "pool {} could not generate a fresh code: its pattern has too few random places left",
            pool.key
        )));
    }
    // Two writers may pick the same free code on PostgreSQL: SKIP LOCKED gives each its own.
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let row = rows::dynamic(format!(
        "SELECT id, code FROM pool_codes WHERE pool_id = $1 AND reward_id IS NULL ORDER BY id LIMIT 1{lock}"
    ))
    .bind(pool.id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (id, code): (i64, String) = (row.try_get("id")?, row.try_get("code")?);
    sqlx::query("UPDATE pool_codes SET reward_id = $2, assigned_at = $3 WHERE id = $1")
        .bind(id)
        .bind(reward_id)
        .bind(now)
        .execute(&mut *c)
        .await?;
    warn_if_low(c, pool, now).await?;
    Ok(Some(code))
}

async fn warn_if_low(c: &mut Conn, pool: &CodePool, now: Millis) -> Result<()> {
    let left = available(c, pool).await?.unwrap_or(i64::MAX);
    if left > pool.low_stock_threshold {
        return Ok(());
    }
    let first = sqlx::query(
        "UPDATE code_pools SET low_stock_alerted = 1, updated_at = $2 WHERE id = $1 AND low_stock_alerted = 0",
    )
    .bind(pool.id)
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected()
        == 1;
    if first {
        low_stock(c, pool, left, now).await?;
    }
    Ok(())
}

/// Tells the admin (notice and event) that `pool` has `left` codes.
pub async fn low_stock(c: &mut Conn, pool: &CodePool, left: i64, now: Millis) -> Result<()> {
    let message = if left == 0 {
        format!(
            "Code pool {} is empty: discount rewards wait until you import more codes.",
            pool.name
        )
    } else {
        format!(
            "Code pool {} has {left} codes left: import more before it runs dry.",
            pool.name
        )
    };
    notices::raise(
        c,
        pool.workspace_id,
        "code_pool.low_stock",
        &pool.public_id,
        &message,
        now,
    )
    .await?;
    outbox::emit(
        c,
        pool.workspace_id,
        "code_pool.low_stock",
        json!({ "pool": pool.public_id, "key": pool.key, "available": left }),
        now,
    )
    .await?;
    Ok(())
}

/// Records that the shop saw `code` used. Returns false when no reward holds it.
pub async fn redeem(c: &mut Conn, workspace_id: i64, code: &str, now: Millis) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE pool_codes SET redeemed_at = COALESCE(redeemed_at, $3)
         WHERE workspace_id = $1 AND code = $2 AND reward_id IS NOT NULL",
    )
    .bind(workspace_id)
    .bind(code.trim().to_ascii_uppercase())
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// `redeem` as a command of its own.
pub async fn redeem_now(store: &crate::Store, workspace_id: i64, code: &str) -> Result<bool> {
    let mut tx = store.write().await?;
    let found = redeem(&mut tx, workspace_id, code, vouch_core::clock::now_ms()).await?;
    tx.commit().await?;
    Ok(found)
}

/// Whether the code given to `reward_id` was used.
pub async fn redeemed(c: &mut Conn, reward_id: i64) -> Result<bool> {
    let row = sqlx::query("SELECT redeemed_at FROM pool_codes WHERE reward_id = $1")
        .bind(reward_id)
        .fetch_optional(&mut *c)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<Option<i64>, _>("redeemed_at")?.is_some(),
        None => false,
    })
}
