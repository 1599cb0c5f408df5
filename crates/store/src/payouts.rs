//! Payouts: batches of payable cash above a minimum. Confirming a batch moves each payee's
//! amount out of payable into pending in one posting, so no later batch can pay it again;
//! marking it paid moves it out of the business, cancelling moves it back. Idempotent by batch
//! key. The file a bank or PayPal-style service takes comes from a `Provider`; the CSV
//! exporter is the first.

use crate::audit::{self, Actor};
use crate::rows::{self, Customer, Payout, PayoutItem, columns};
use crate::{Backend, Conn, Millis, Result, Store, StoreError, customers, ledger, outbox};
use serde_json::json;
use sqlx::Row;
use vouch_core::id::time_ordered;
use vouch_core::ledger::{Account, payout_cancelled, payout_confirmed, payout_paid};

/// One payee of a batch, as a preview or a file shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub customer: Customer,
    pub amount_minor: i64,
}

/// Payees whose payable balance in `currency` is at least `minimum` (and above zero). With
/// `lock` (PostgreSQL, inside a write), the balance rows stay locked until the caller commits.
pub async fn preview(
    c: &mut Conn,
    lock: bool,
    workspace_id: i64,
    currency: &str,
    minimum: i64,
) -> Result<Vec<Line>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let rows = rows::dynamic(format!(
        "SELECT customer_id, balance_minor FROM ledger_balances
         WHERE workspace_id = $1 AND account = $2 AND currency = $3 AND customer_id > 0 ORDER BY customer_id{lock}"
    ))
    .bind(workspace_id)
    .bind(Account::AdvocatePayable.as_str())
    .bind(currency.to_string())
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let amount = Account::AdvocatePayable.natural(r.try_get::<i64, _>("balance_minor")?);
        if amount <= 0 || amount < minimum {
            continue;
        }
        let id: i64 = r.try_get("customer_id")?;
        let customer = customers::by_id(c, workspace_id, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a payable balance without its customer".into()))?;
        out.push(Line {
            customer,
            amount_minor: amount,
        });
    }
    Ok(out)
}

async fn lock_payouts(c: &mut Conn, backend: Backend, workspace_id: i64) -> Result<()> {
    if backend == Backend::Postgres {
        // One batch at a time per workspace: the balances it reads are the ones it moves.
        sqlx::query(
            "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended('payouts', $1))) AS l",
        )
        .bind(workspace_id)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

pub async fn by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<Payout>> {
    Ok(rows::by_public_id(c, workspace_id, public_id).await?)
}

pub async fn items(c: &mut Conn, payout: &Payout) -> Result<Vec<(PayoutItem, Customer)>> {
    let q = rows::select::<PayoutItem>("WHERE workspace_id = $1 AND payout_id = $2 ORDER BY id")
        .bind(payout.workspace_id)
        .bind(payout.id);
    let list: Vec<PayoutItem> = rows::fetch_all(c, q).await?;
    let mut out = Vec::new();
    for i in list {
        let k = customers::by_id(c, payout.workspace_id, i.customer_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a payout item without its customer".into()))?;
        out.push((i, k));
    }
    Ok(out)
}

pub async fn list(c: &mut Conn, workspace_id: i64, before: i64, limit: i64) -> Result<Vec<Payout>> {
    let q = rows::select::<Payout>("WHERE workspace_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
        .bind(workspace_id)
        .bind(before)
        .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}

/// Confirms a batch of every payable balance of at least `minimum`. The same `batch_key`
/// again returns the batch made the first time. Returns the batch and whether this call
/// made it.
pub async fn confirm(
    store: &Store,
    workspace_id: i64,
    batch_key: &str,
    currency: &str,
    minimum: i64,
    actor: &Actor,
) -> Result<(Payout, bool)> {
    if batch_key.trim().is_empty() || batch_key.len() > 100 {
        return Err(StoreError::Rejected(
            "invalid",
            "batch_key: use 1 to 100 characters".into(),
        ));
    }
    if minimum < 0 {
        return Err(StoreError::Rejected(
            "invalid",
            "minimum_minor: use 0 or more".into(),
        ));
    }
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    lock_payouts(&mut tx, store.backend(), workspace_id).await?;
    let existing = rows::select::<Payout>("WHERE workspace_id = $1 AND batch_key = $2")
        .bind(workspace_id)
        .bind(batch_key.to_string());
    if let Some(p) = rows::fetch_optional::<Payout>(&mut tx, existing).await? {
        return Ok((p, false));
    }
    let lines = preview(
        &mut tx,
        store.backend() == Backend::Postgres,
        workspace_id,
        currency,
        minimum,
    )
    .await?;
    if lines.is_empty() {
        return Err(StoreError::Rejected(
            "nothing_to_pay",
            format!("no advocate has {currency} payable of at least {minimum}"),
        ));
    }
    let total: i64 = lines.iter().map(|l| l.amount_minor).sum();
    let q = rows::dynamic(format!(
        "INSERT INTO payouts (workspace_id, public_id, batch_key, currency, status, minimum_minor, total_minor, payees,
            provider, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'confirmed', $5, $6, $7, 'csv', $8, $8) RETURNING {}",
        columns::<Payout>()
    ))
    .bind(workspace_id)
    .bind(time_ordered::<8>("pay_", now))
    .bind(batch_key.trim().to_string())
    .bind(currency.to_string())
    .bind(minimum)
    .bind(total)
    .bind(lines.len() as i64)
    .bind(now);
    let payout: Payout = rows::fetch_one(&mut tx, q).await?;
    let amounts: Vec<(i64, i64)> = lines
        .iter()
        .map(|l| (l.customer.id, l.amount_minor))
        .collect();
    for (customer, amount) in &amounts {
        sqlx::query("INSERT INTO payout_items (workspace_id, payout_id, customer_id, amount_minor) VALUES ($1, $2, $3, $4)")
            .bind(workspace_id)
            .bind(payout.id)
            .bind(customer)
            .bind(amount)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE rewards SET payout_id = $3, updated_at = $4 WHERE workspace_id = $1 AND customer_id = $2
               AND kind = 'cash' AND status = 'approved' AND posted = 1 AND payout_id IS NULL AND currency = $5",
        )
        .bind(workspace_id)
        .bind(customer)
        .bind(payout.id)
        .bind(now)
        .bind(currency.to_string())
        .execute(&mut *tx)
        .await?;
    }
    post(
        &mut tx,
        &payout,
        "confirmed",
        &payout_confirmed(&amounts),
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        workspace_id,
        actor,
        "payout.confirmed",
        &format!("payout:{}", payout.public_id),
        json!({ "batch_key": payout.batch_key, "total_minor": total, "payees": lines.len() }),
        now,
    )
    .await?;
    outbox::emit(
        &mut tx,
        workspace_id,
        "payout.confirmed",
        json!({ "payout": payout.public_id, "total_minor": total, "currency": currency }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((payout, true))
}

async fn post(
    c: &mut Conn,
    payout: &Payout,
    step: &str,
    posting: &std::result::Result<vouch_core::ledger::Posting, vouch_core::ledger::Unbalanced>,
    now: Millis,
) -> Result<()> {
    let posting = posting
        .as_ref()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let cause = ledger::Cause {
        key: format!("payout:{}:{step}", payout.id),
        kind: "payout",
        currency: &payout.currency,
        reward_id: None,
        payout_id: Some(payout.id),
        memo: format!("payout {} {step}", payout.batch_key),
    };
    ledger::post(c, payout.workspace_id, &cause, posting, now).await?;
    Ok(())
}

async fn amounts(c: &mut Conn, payout: &Payout) -> Result<Vec<(i64, i64)>> {
    Ok(items(c, payout)
        .await?
        .into_iter()
        .map(|(i, _)| (i.customer_id, i.amount_minor))
        .collect())
}

/// Marks a confirmed batch paid with the provider's or bank's reference: its cash rewards
/// are fulfilled.
pub async fn mark_paid(
    store: &Store,
    workspace_id: i64,
    public_id: &str,
    reference: &str,
    actor: &Actor,
) -> Result<Payout> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    lock_payouts(&mut tx, store.backend(), workspace_id).await?;
    let p = by_public_id(&mut tx, workspace_id, public_id)
        .await?
        .ok_or(StoreError::NotFound("payout"))?;
    if p.status == "paid" {
        return Ok(p);
    }
    if p.status != "confirmed" {
        return Err(StoreError::Rejected(
            "payout_cancelled",
            "this payout was cancelled; confirm a new batch".into(),
        ));
    }
    if reference.trim().is_empty() || reference.len() > 200 {
        return Err(StoreError::Rejected(
            "invalid",
            "reference: give the bank's or provider's reference (1 to 200 characters)".into(),
        ));
    }
    let list = amounts(&mut tx, &p).await?;
    post(&mut tx, &p, "paid", &payout_paid(&list), now).await?;
    let q = rows::dynamic(format!(
        "UPDATE payouts SET status = 'paid', reference = $3, paid_at = $4, updated_at = $4 WHERE workspace_id = $1 AND id = $2 RETURNING {}",
        columns::<Payout>()
    ))
    .bind(workspace_id)
    .bind(p.id)
    .bind(reference.trim().to_string())
    .bind(now);
    let paid: Payout = rows::fetch_one(&mut tx, q).await?;
    let rewards: Vec<crate::rows::Reward> = rows::fetch_all(&mut tx, rows::dynamic(format!(
        "UPDATE rewards SET status = 'fulfilled', reason = 'paid out', fulfilled_at = $3, updated_at = $3
         WHERE workspace_id = $1 AND payout_id = $2 AND status = 'approved' RETURNING {}",
        columns::<crate::rows::Reward>()
    )).bind(workspace_id).bind(p.id).bind(now)).await?;
    for r in &rewards {
        crate::rewards::fulfilled(&mut tx, r, now).await?;
    }
    audit::record(
        &mut tx,
        workspace_id,
        actor,
        "payout.paid",
        &format!("payout:{}", p.public_id),
        json!({ "reference": reference.trim() }),
        now,
    )
    .await?;
    outbox::emit(
        &mut tx,
        workspace_id,
        "payout.paid",
        json!({ "payout": paid.public_id, "reference": paid.reference }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(paid)
}

/// Cancels a confirmed batch: the amounts go back to payable.
pub async fn cancel(
    store: &Store,
    workspace_id: i64,
    public_id: &str,
    actor: &Actor,
) -> Result<Payout> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    lock_payouts(&mut tx, store.backend(), workspace_id).await?;
    let p = by_public_id(&mut tx, workspace_id, public_id)
        .await?
        .ok_or(StoreError::NotFound("payout"))?;
    match p.status.as_str() {
        "cancelled" => return Ok(p),
        "paid" => {
            return Err(StoreError::Rejected(
                "payout_paid",
                "this payout is marked paid and cannot be cancelled".into(),
            ));
        }
        _ => {}
    }
    let list = amounts(&mut tx, &p).await?;
    post(&mut tx, &p, "cancelled", &payout_cancelled(&list), now).await?;
    sqlx::query("UPDATE rewards SET payout_id = NULL, updated_at = $3 WHERE workspace_id = $1 AND payout_id = $2 AND status = 'approved'")
        .bind(workspace_id)
        .bind(p.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let q = rows::dynamic(format!(
        "UPDATE payouts SET status = 'cancelled', cancelled_at = $3, updated_at = $3 WHERE workspace_id = $1 AND id = $2 RETURNING {}",
        columns::<Payout>()
    ))
    .bind(workspace_id)
    .bind(p.id)
    .bind(now);
    let cancelled: Payout = rows::fetch_one(&mut tx, q).await?;
    audit::record(
        &mut tx,
        workspace_id,
        actor,
        "payout.cancelled",
        &format!("payout:{}", p.public_id),
        json!({}),
        now,
    )
    .await?;
    outbox::emit(
        &mut tx,
        workspace_id,
        "payout.cancelled",
        json!({ "payout": cancelled.public_id }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(cancelled)
}

/// Turns a batch into what a bank or payout service takes.
pub trait Provider {
    fn name(&self) -> &'static str;
    fn content_type(&self) -> &'static str;
    fn render(&self, payout: &Payout, lines: &[(PayoutItem, Customer)]) -> Result<Vec<u8>>;
}

/// Generic bank/PayPal-style CSV: one row per payee.
pub struct CsvExport;

/// `1234` minor units of EUR as `12.34`; of JPY as `1234`.
pub fn decimal(amount_minor: i64, currency: &str) -> String {
    let digits = vouch_core::settings::currency_minor_units(currency).unwrap_or(2) as u32;
    if digits == 0 {
        return amount_minor.to_string();
    }
    let unit = 10i64.pow(digits);
    let sign = if amount_minor < 0 { "-" } else { "" };
    let a = amount_minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        a / unit as u64,
        a % unit as u64,
        width = digits as usize
    )
}

impl Provider for CsvExport {
    fn name(&self) -> &'static str {
        "csv"
    }
    fn content_type(&self) -> &'static str {
        "text/csv; charset=utf-8"
    }
    fn render(&self, payout: &Payout, lines: &[(PayoutItem, Customer)]) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| StoreError::Io(std::io::Error::other(e));
        w.write_record([
            "batch",
            "payee_id",
            "external_id",
            "email",
            "name",
            "amount",
            "currency",
            "note",
        ])
        .map_err(io)?;
        for (item, k) in lines {
            // Every cell a person or another system chose is made spreadsheet-safe.
            let safe = crate::spreadsheet::safe;
            w.write_record([
                safe(&payout.batch_key).as_ref(),
                k.public_id.as_str(),
                &safe(k.external_id.as_deref().unwrap_or("")),
                &safe(k.email.as_deref().unwrap_or("")),
                &safe(&k.name),
                &decimal(item.amount_minor, &payout.currency),
                payout.currency.as_str(),
                &safe(&format!("Referral rewards {}", payout.batch_key)),
            ])
            .map_err(io)?;
        }
        w.into_inner()
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))
    }
}
