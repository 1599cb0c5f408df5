//! The ledger in the store: balanced postings appended as one transaction each, keyed by
//! cause so a replay posts nothing, with running balances kept beside the entries. The
//! schema refuses any update or delete of a posted entry (triggers on both backends).

use crate::rows::{self, LedgerBalance, LedgerEntry, LedgerTransaction};
use crate::{Backend, Conn, Millis, Result, StoreError};
use sqlx::Row;
use vouch_core::id::time_ordered;
use vouch_core::ledger::{Account, Posting};

/// What a ledger transaction is about.
pub struct Cause<'a> {
    /// Unique per workspace: `reward:{id}:accrue`, `payout:{id}:paid`, …
    pub key: String,
    pub kind: &'a str,
    pub currency: &'a str,
    pub reward_id: Option<i64>,
    pub payout_id: Option<i64>,
    pub memo: String,
}

/// Appends `posting` for `cause`. Returns `None` (and posts nothing) when the cause was
/// posted before.
pub async fn post(
    c: &mut Conn,
    workspace_id: i64,
    cause: &Cause<'_>,
    posting: &Posting,
    now: Millis,
) -> Result<Option<LedgerTransaction>> {
    let q = rows::returning::<LedgerTransaction>(
        c,
        "INSERT INTO ledger_transactions (workspace_id, public_id, cause_key, currency, kind, reward_id, payout_id, memo, posted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (workspace_id, cause_key) DO NOTHING",
    )
    .bind(workspace_id)
    .bind(time_ordered::<8>("ltx_", now))
    .bind(cause.key.clone())
    .bind(cause.currency.to_string())
    .bind(cause.kind.to_string())
    .bind(cause.reward_id)
    .bind(cause.payout_id)
    .bind(cause.memo.clone())
    .bind(now);
    let Some(tx) = rows::written::<LedgerTransaction>(c, q, None).await? else {
        return Ok(None);
    };
    // Every leg in one statement, then every balance it moves in one more: a posting is three
    // statements whatever its size.
    let legs = posting.legs();
    if legs.is_empty() {
        return Ok(Some(tx));
    }
    let values = |width: usize, n: usize| {
        (0..n)
            .map(|i| {
                let cols: Vec<String> =
                    (1..=width).map(|k| format!("${}", i * width + k)).collect();
                format!("({})", cols.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut q = rows::dynamic(format!(
        "INSERT INTO ledger_entries (workspace_id, transaction_id, account, customer_id, currency, amount_minor, posted_at)
         VALUES {}",
        values(7, legs.len())
    ));
    for leg in legs {
        q = q
            .bind(workspace_id)
            .bind(tx.id)
            .bind(leg.account.as_str())
            .bind(leg.customer_id)
            .bind(cause.currency.to_string())
            .bind(leg.amount_minor)
            .bind(now);
    }
    q.execute(&mut *c).await?;
    // One row per balance (an upsert may touch a row once), in a fixed order so that concurrent
    // postings on PostgreSQL lock balances in the same order.
    let mut moved: std::collections::BTreeMap<(&'static str, i64), i64> = Default::default();
    for leg in legs {
        *moved
            .entry((leg.account.as_str(), leg.customer_id))
            .or_default() += leg.amount_minor;
    }
    let mut q = rows::dynamic(format!(
        "INSERT INTO ledger_balances (workspace_id, account, customer_id, currency, balance_minor, updated_at)
         VALUES {}
         ON CONFLICT (workspace_id, account, customer_id, currency)
         DO UPDATE SET balance_minor = ledger_balances.balance_minor + excluded.balance_minor, updated_at = excluded.updated_at",
        values(6, moved.len())
    ));
    for ((account, customer_id), amount) in moved {
        q = q
            .bind(workspace_id)
            .bind(account)
            .bind(customer_id)
            .bind(cause.currency.to_string())
            .bind(amount)
            .bind(now);
    }
    q.execute(&mut *c).await?;
    Ok(Some(tx))
}

/// The stored balance (natural sign) of one account. On PostgreSQL the row is locked until the
/// caller's transaction ends, so a decision made on it (a payout, a clawback) cannot race
/// another.
pub async fn balance(
    c: &mut Conn,
    backend: Backend,
    workspace_id: i64,
    account: Account,
    customer_id: i64,
    currency: &str,
) -> Result<i64> {
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = rows::dynamic(format!(
        "SELECT balance_minor FROM ledger_balances
         WHERE workspace_id = $1 AND account = $2 AND customer_id = $3 AND currency = $4{lock}"
    ))
    .bind(workspace_id)
    .bind(account.as_str())
    .bind(customer_id)
    .bind(currency.to_string())
    .fetch_optional(&mut *c)
    .await?;
    let signed = match row {
        Some(r) => r.try_get::<i64, _>("balance_minor")?,
        None => 0,
    };
    Ok(account.natural(signed))
}

/// The balance (natural sign) derived from the entries posted up to and including `at`.
pub async fn balance_at(
    c: &mut Conn,
    workspace_id: i64,
    account: Account,
    customer_id: i64,
    currency: &str,
    at: Millis,
) -> Result<i64> {
    let signed: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS s FROM ledger_entries
         WHERE workspace_id = $1 AND account = $2 AND customer_id = $3 AND currency = $4 AND posted_at <= $5",
    )
    .bind(workspace_id)
    .bind(account.as_str())
    .bind(customer_id)
    .bind(currency.to_string())
    .bind(at)
    .fetch_one(&mut *c)
    .await?
    .try_get("s")?;
    Ok(account.natural(signed))
}

/// Every stored balance of a workspace, optionally of one customer.
pub async fn balances(
    c: &mut Conn,
    workspace_id: i64,
    customer_id: Option<i64>,
) -> Result<Vec<LedgerBalance>> {
    let q = rows::select::<LedgerBalance>(
        "WHERE workspace_id = $1 AND ($2 < 0 OR customer_id = $2) ORDER BY currency, account, customer_id",
    )
    .bind(workspace_id)
    .bind(customer_id.unwrap_or(-1));
    Ok(rows::fetch_all(c, q).await?)
}

/// Entries of a workspace, newest first, optionally of one customer.
pub async fn entries(
    c: &mut Conn,
    workspace_id: i64,
    customer_id: Option<i64>,
    before: i64,
    limit: i64,
) -> Result<Vec<(LedgerEntry, LedgerTransaction)>> {
    let q = rows::select::<LedgerEntry>(
        "WHERE workspace_id = $1 AND ($2 < 0 OR customer_id = $2) AND id < $3 ORDER BY id DESC LIMIT $4",
    )
    .bind(workspace_id)
    .bind(customer_id.unwrap_or(-1))
    .bind(before)
    .bind(limit);
    let list: Vec<LedgerEntry> = rows::fetch_all(c, q).await?;
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let t: LedgerTransaction = rows::by_id(c, workspace_id, e.transaction_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("ledger entry without its transaction".into()))?;
        out.push((e, t));
    }
    Ok(out)
}

/// Checks the whole ledger of a workspace: every transaction sums to zero and every stored
/// balance equals the sum of its entries. Returns what does not hold (empty when sound).
pub async fn audit(c: &mut Conn, workspace_id: i64) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let unbalanced = sqlx::query(
        "SELECT transaction_id, CAST(SUM(amount_minor) AS BIGINT) AS s FROM ledger_entries WHERE workspace_id = $1
         GROUP BY transaction_id HAVING SUM(amount_minor) <> 0",
    )
    .bind(workspace_id)
    .fetch_all(&mut *c)
    .await?;
    for r in unbalanced {
        problems.push(format!(
            "transaction {} sums to {}",
            r.try_get::<i64, _>("transaction_id")?,
            r.try_get::<i64, _>("s")?
        ));
    }
    for b in balances(c, workspace_id, None).await? {
        let derived: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS s FROM ledger_entries
             WHERE workspace_id = $1 AND account = $2 AND customer_id = $3 AND currency = $4",
        )
        .bind(workspace_id)
        .bind(b.account.clone())
        .bind(b.customer_id)
        .bind(b.currency.clone())
        .fetch_one(&mut *c)
        .await?
        .try_get("s")?;
        if derived != b.balance_minor {
            problems.push(format!(
                "{} of customer {} in {}: stored {} but the entries sum to {derived}",
                b.account, b.customer_id, b.currency, b.balance_minor
            ));
        }
    }
    Ok(problems)
}

/// What spending credit did.
#[derive(Debug, Clone)]
pub struct Redemption {
    pub transaction: LedgerTransaction,
    /// The customer's credit left after it.
    pub balance_minor: i64,
    /// This reference was redeemed before: nothing changed.
    pub duplicate: bool,
}

/// Spends `amount` of a customer's credit, once per `reference` (the order or invoice that used
/// it): never more than the balance, even under concurrent requests.
pub async fn redeem_credit(
    store: &crate::Store,
    workspace_id: i64,
    customer_id: i64,
    currency: &str,
    amount: i64,
    reference: &str,
    actor: &crate::audit::Actor,
) -> Result<Redemption> {
    if amount < 1 {
        return Err(StoreError::Rejected(
            "invalid",
            "amount_minor: use 1 or more".into(),
        ));
    }
    if reference.trim().is_empty() || reference.len() > 200 {
        return Err(StoreError::Rejected(
            "invalid",
            "reference: name the order or invoice that used the credit (1 to 200 characters)"
                .into(),
        ));
    }
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    let cause = format!("redemption:{customer_id}:{}", reference.trim());
    // On PostgreSQL the balance row stays locked until commit: two spends cannot both see it.
    let available = balance(
        &mut tx,
        store.backend(),
        workspace_id,
        Account::CustomerCredit,
        customer_id,
        currency,
    )
    .await?;
    let before = rows::select::<LedgerTransaction>("WHERE workspace_id = $1 AND cause_key = $2")
        .bind(workspace_id)
        .bind(cause.clone());
    if let Some(t) = rows::fetch_optional::<LedgerTransaction>(&mut tx, before).await? {
        return Ok(Redemption {
            transaction: t,
            balance_minor: available,
            duplicate: true,
        });
    }
    if available < amount {
        return Err(StoreError::Rejected(
            "insufficient_credit",
            format!("the customer has {available} {currency} of credit; {amount} was asked"),
        ));
    }
    let posting = vouch_core::ledger::redeem(customer_id, amount)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let c = Cause {
        key: cause,
        kind: "redemption",
        currency,
        reward_id: None,
        payout_id: None,
        memo: format!("credit spent on {}", reference.trim()),
    };
    let t = post(&mut tx, workspace_id, &c, &posting, now)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a redemption posted twice".into()))?;
    crate::audit::record(&mut tx, workspace_id, actor, "credit.redeemed", &format!("customer:{customer_id}"),
        serde_json::json!({ "amount_minor": amount, "currency": currency, "reference": reference.trim() }), now).await?;
    crate::outbox::emit(&mut tx, workspace_id, "credit.redeemed",
        serde_json::json!({ "customer_id": customer_id, "amount_minor": amount, "currency": currency, "reference": reference.trim() }), now).await?;
    tx.commit().await?;
    Ok(Redemption {
        transaction: t,
        balance_minor: available - amount,
        duplicate: false,
    })
}
