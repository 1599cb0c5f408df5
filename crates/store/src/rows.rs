//! One typed row struct per table. The same declaration serves the store's reads,
//! `vouch export`/`vouch import`, and the test that no table is left out of them.

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

/// A row that can be read from and written to its table in full.
pub trait TableRow: Serialize + for<'de> Deserialize<'de> + Send + Sync + Sized + 'static {
    const TABLE: &'static str;
    const COLUMNS: &'static [&'static str];
    /// `COLUMNS` joined by commas, built once.
    fn column_list() -> &'static str;
    fn from_row(row: &AnyRow) -> sqlx::Result<Self>;
    fn bind_all(self, q: Query<'static, Any, AnyArguments>) -> Query<'static, Any, AnyArguments>;
}

macro_rules! table_row {
    ($(#[$m:meta])* $name:ident => $table:literal { $($col:ident : $ty:ty),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $(pub $col: $ty),+ }

        impl TableRow for $name {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static [&'static str] = &[$(stringify!($col)),+];
            fn column_list() -> &'static str {
                static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                LIST.get_or_init(|| Self::COLUMNS.join(", "))
            }
            fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
                Ok(Self { $($col: row.try_get(stringify!($col))?),+ })
            }
            fn bind_all(self, q: Query<'static, Any, AnyArguments>) -> Query<'static, Any, AnyArguments> {
                q $(.bind(self.$col))+
            }
        }
    };
}

/// The comma-separated column list of a table, for `SELECT` statements.
pub fn columns<T: TableRow>() -> &'static str {
    T::column_list()
}

table_row!(
    /// A business: the tenant every other row belongs to.
    Workspace => "workspaces" {
    id: i64, public_id: String, slug: String, name: String, brand_color: String,
    logo_url: String, currency: String, time_zone: String, sender_name: String,
    sender_email: String, created_at: i64, updated_at: i64, ip_salt: String,
});

table_row!(
    /// A person who signs in; members tie users to workspaces with a role.
    User => "users" {
    id: i64, email: String, password_hash: String, created_at: i64, updated_at: i64,
});

table_row!(Member => "members" {
    id: i64, workspace_id: i64, user_id: i64, role: String, created_at: i64,
});

table_row!(Session => "sessions" {
    id: i64, workspace_id: i64, user_id: i64, token_hash: String, csrf_token: String,
    ip: String, user_agent: String, created_at: i64, last_seen_at: i64, expires_at: i64,
});

table_row!(ApiKey => "api_keys" {
    id: i64, workspace_id: i64, public_id: String, name: String, prefix: String,
    key_hash: String, scopes: String, created_by: String, created_at: i64,
    last_used_at: Option<i64>, revoked_at: Option<i64>,
});

table_row!(AuditEntry => "audit_log" {
    id: i64, workspace_id: i64, actor_kind: String, actor_id: Option<i64>, actor_label: String,
    action: String, target: String, details: String, ip: String, created_at: i64,
});

table_row!(
    /// A domain event in the outbox, written in the transaction of the change it reports.
    Event => "events" {
    id: i64, workspace_id: i64, public_id: String, kind: String, payload: String,
    created_at: i64, dispatched_at: Option<i64>,
});

table_row!(Job => "jobs" {
    id: i64, workspace_id: Option<i64>, kind: String, payload: String, status: String,
    attempts: i64, max_attempts: i64, run_at: i64, locked_until: Option<i64>,
    locked_by: Option<String>, last_error: Option<String>, dedupe_key: Option<String>,
    created_at: i64, updated_at: i64, finished_at: Option<i64>,
});

table_row!(LoginThrottle => "login_throttle" {
    key: String, failures: i64, window_start: i64,
});

table_row!(SystemProbe => "system_probes" {
    key: String, runs: i64, last_run_at: i64,
});

table_row!(
    /// A referral program; `rules` is the JSON of its current version.
    Program => "programs" {
    id: i64, workspace_id: i64, public_id: String, name: String, status: String,
    version: i64, rules: String, created_at: i64, updated_at: i64,
});

table_row!(ProgramVersion => "program_versions" {
    id: i64, workspace_id: i64, program_id: i64, version: i64, rules: String, created_at: i64,
});

table_row!(Customer => "customers" {
    id: i64, workspace_id: i64, public_id: String, email: Option<String>, email_key: Option<String>,
    name: String, external_id: Option<String>, phone: String, attributes: String,
    consent_marketing: i64, created_from: String, created_at: i64, updated_at: i64,
});

table_row!(Advocate => "advocates" {
    id: i64, workspace_id: i64, public_id: String, program_id: i64, customer_id: i64,
    code: String, vanity_code: Option<String>, status: String, created_at: i64,
});

table_row!(CodeRow => "referral_codes" {
    code: String, workspace_id: i64, advocate_id: i64, kind: String, created_at: i64,
});

table_row!(Click => "clicks" {
    id: i64, workspace_id: i64, public_id: String, program_id: i64, advocate_id: i64,
    visitor_id: String, ip_hash: String, user_agent: String, referer: String, params: String,
    qualified: i64, unqualified_reason: String, created_at: i64,
});

table_row!(ClickRollup => "click_rollups" {
    workspace_id: i64, advocate_id: i64, day: i64, clicks: i64, qualified_clicks: i64,
});

table_row!(Referral => "referrals" {
    id: i64, workspace_id: i64, public_id: String, program_id: i64, program_version: i64,
    advocate_id: i64, friend_customer_id: i64, status: String, rejection_reason: Option<String>,
    source: String, click_public_id: Option<String>, fraud_verdict: String, fraud_findings: String,
    trace: String, conversions: i64, created_at: i64, converted_at: Option<i64>,
    qualified_at: Option<i64>, updated_at: i64,
});

table_row!(Conversion => "conversions" {
    id: i64, workspace_id: i64, public_id: String, external_id: String, customer_id: i64,
    kind: String, amount_minor: i64, currency: String, referral_id: Option<i64>, status: String,
    trace: String, occurred_at: i64, created_at: i64, reversed_at: Option<i64>,
    reversal_external_id: Option<String>,
});

table_row!(AdvocateVisitor => "advocate_visitors" {
    workspace_id: i64, advocate_id: i64, visitor_id: String, created_at: i64, ip_hash: String,
});

table_row!(
    /// One issued reward, keyed by its cause.
    Reward => "rewards" {
    id: i64, workspace_id: i64, public_id: String, cause_key: String, program_id: i64,
    program_version: i64, referral_id: Option<i64>, conversion_id: Option<i64>,
    advocate_id: Option<i64>, customer_id: i64, beneficiary: String, rule_key: String,
    kind: String, amount_minor: i64, currency: String, detail: String, tier: Option<String>,
    campaigns: String, campaign_extra_minor: i64, status: String, reason: String,
    refusal: Option<String>, hold_until: i64, code: Option<String>, posted: i64,
    payout_id: Option<i64>, lost_value_minor: i64, occurred_at: i64, created_at: i64,
    approved_at: Option<i64>, fulfilled_at: Option<i64>, ended_at: Option<i64>, updated_at: i64,
});

table_row!(LedgerTransaction => "ledger_transactions" {
    id: i64, workspace_id: i64, public_id: String, cause_key: String, currency: String,
    kind: String, reward_id: Option<i64>, payout_id: Option<i64>, memo: String, posted_at: i64,
});

table_row!(LedgerEntry => "ledger_entries" {
    id: i64, workspace_id: i64, transaction_id: i64, account: String, customer_id: i64,
    currency: String, amount_minor: i64, posted_at: i64,
});

table_row!(LedgerBalance => "ledger_balances" {
    workspace_id: i64, account: String, customer_id: i64, currency: String,
    balance_minor: i64, updated_at: i64,
});

table_row!(CodePool => "code_pools" {
    id: i64, workspace_id: i64, public_id: String, key: String, name: String,
    pattern: Option<String>, low_stock_threshold: i64, low_stock_alerted: i64,
    created_at: i64, updated_at: i64,
});

table_row!(PoolCode => "pool_codes" {
    id: i64, workspace_id: i64, pool_id: i64, code: String, reward_id: Option<i64>,
    assigned_at: Option<i64>, redeemed_at: Option<i64>, created_at: i64,
});

table_row!(Entitlement => "entitlements" {
    id: i64, workspace_id: i64, public_id: String, customer_id: i64, feature: String,
    reward_id: i64, starts_at: i64, ends_at: Option<i64>, revoked_at: Option<i64>, created_at: i64,
});

table_row!(CampaignRow => "campaigns" {
    id: i64, workspace_id: i64, public_id: String, name: String, headline: String,
    program_ids: String, starts_at: i64, ends_at: i64, time_zone: String, effect: String,
    stackable: i64, sides: String, audience: String, budget_minor: Option<i64>,
    spent_minor: i64, cancelled_at: Option<i64>, created_at: i64, updated_at: i64,
});

table_row!(Payout => "payouts" {
    id: i64, workspace_id: i64, public_id: String, batch_key: String, currency: String,
    status: String, minimum_minor: i64, total_minor: i64, payees: i64, provider: String,
    reference: Option<String>, created_at: i64, paid_at: Option<i64>, cancelled_at: Option<i64>,
    updated_at: i64,
});

table_row!(PayoutItem => "payout_items" {
    id: i64, workspace_id: i64, payout_id: i64, customer_id: i64, amount_minor: i64,
});

table_row!(EarlyReversal => "early_reversals" {
    workspace_id: i64, external_id: String, reversal_external_id: String, received_at: i64,
});

table_row!(Notice => "notices" {
    id: i64, workspace_id: i64, kind: String, subject: String, message: String,
    created_at: i64, dismissed_at: Option<i64>,
});

/// A query whose SQL is built at run time from static column lists (never from input).
pub type AnyQuery = Query<'static, Any, AnyArguments>;

pub fn dynamic(sql: String) -> AnyQuery {
    sqlx::query(sqlx::AssertSqlSafe(sql))
}

/// `SELECT <all columns of T> FROM <table of T> <rest>`.
pub fn select<T: TableRow>(rest: &str) -> AnyQuery {
    dynamic(format!(
        "SELECT {} FROM {} {rest}",
        columns::<T>(),
        T::TABLE
    ))
}

/// `sql`, one `INSERT` or `UPDATE` of one row of `T`, made to give that row back through
/// [`written`]: with `RETURNING` on PostgreSQL; on SQLite as it is, the row read by its id
/// afterwards. SQLite runs a statement with `RETURNING` under a statement journal of its own,
/// which copies every page the statement touches; that cost a rewarded conversion a sixth of
/// its statement time, where the read-back is one lookup on a page already in memory.
pub fn returning<T: TableRow>(c: &crate::Conn, sql: &str) -> AnyQuery {
    if c.is_sqlite() {
        dynamic(sql.to_string())
    } else {
        dynamic(format!("{sql} RETURNING {}", columns::<T>()))
    }
}

/// The row a query from [`returning`] wrote, or `None` if it wrote none (`ON CONFLICT DO
/// NOTHING`, an `UPDATE` that matched nothing). `updated`: the id of the row an `UPDATE`
/// names (an insert's id comes from the statement).
pub async fn written<T: TableRow>(
    c: &mut crate::Conn,
    q: AnyQuery,
    updated: Option<i64>,
) -> sqlx::Result<Option<T>> {
    if !c.is_sqlite() {
        return fetch_optional(c, q).await;
    }
    let done = q.execute(&mut *c).await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let id = updated.or(done.last_insert_id()).ok_or_else(|| {
        sqlx::Error::Protocol(format!("no id for the row written to {}", T::TABLE))
    })?;
    fetch_optional(c, select::<T>("WHERE id = $1").bind(id)).await
}

/// [`written`] for a statement that must write its row.
pub async fn written_one<T: TableRow>(
    c: &mut crate::Conn,
    q: AnyQuery,
    updated: Option<i64>,
) -> sqlx::Result<T> {
    written(c, q, updated)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

pub async fn fetch_optional<T: TableRow>(
    c: &mut crate::Conn,
    q: AnyQuery,
) -> sqlx::Result<Option<T>> {
    q.fetch_optional(&mut *c)
        .await?
        .map(|r| T::from_row(&r))
        .transpose()
}

pub async fn fetch_one<T: TableRow>(c: &mut crate::Conn, q: AnyQuery) -> sqlx::Result<T> {
    T::from_row(&q.fetch_one(&mut *c).await?)
}

pub async fn fetch_all<T: TableRow>(c: &mut crate::Conn, q: AnyQuery) -> sqlx::Result<Vec<T>> {
    q.fetch_all(&mut *c)
        .await?
        .iter()
        .map(T::from_row)
        .collect()
}

/// The row of `T` with this public id in this workspace (tenancy is in the query, always).
pub async fn by_public_id<T: TableRow>(
    c: &mut crate::Conn,
    workspace_id: i64,
    public_id: &str,
) -> sqlx::Result<Option<T>> {
    fetch_optional(
        c,
        select::<T>("WHERE workspace_id = $1 AND public_id = $2")
            .bind(workspace_id)
            .bind(public_id.to_string()),
    )
    .await
}

/// The row of `T` with this internal id in this workspace.
pub async fn by_id<T: TableRow>(
    c: &mut crate::Conn,
    workspace_id: i64,
    id: i64,
) -> sqlx::Result<Option<T>> {
    fetch_optional(
        c,
        select::<T>("WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id)
            .bind(id),
    )
    .await
}
