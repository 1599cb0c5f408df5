//! Admin pages for rewards: the rewards list and approval queue, the reward rules and tier
//! editor with a preview, code pools, payouts, the campaign calendar, and an advocate's rewards
//! and ledger.

use super::session::Signed;
use super::views::{Chrome, FormErrors, notice, when};
use super::{AdminError, page};
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vouch_core::Invalid;
use vouch_core::campaign::{Audience, Effect, Sides, instant_in, local_text};
use vouch_core::ledger::Account;
use vouch_store::rewards::{self, Filter, Verdict};
use vouch_store::rows::{Program, Reward};
use vouch_store::{Conn, advocates, campaigns, customers, ledger, payouts, pools, programs};

/// Money as a person reads it: 1234 EUR minor units → "12.34 EUR".
fn money(minor: i64, currency: &str) -> String {
    format!("{} {currency}", payouts::decimal(minor, currency))
}

pub struct RewardRow {
    pub public_id: String,
    pub who: String,
    pub beneficiary: String,
    pub what: String,
    pub status: String,
    pub reason: String,
    pub hold_until: String,
    pub campaigns: String,
    /// Can be ticked for a bulk decision.
    pub decidable: bool,
}

async fn reward_row(c: &mut Conn, r: Reward) -> Result<RewardRow, AdminError> {
    let who = customers::by_id(c, r.workspace_id, r.customer_id)
        .await?
        .map(|k| k.email.unwrap_or(k.name))
        .unwrap_or_default();
    let what = match r.kind.as_str() {
        "credit" | "cash" => format!("{} {}", r.kind, money(r.amount_minor, &r.currency)),
        "discount" => match &r.code {
            Some(code) => format!("discount code {code}"),
            None => "discount code".to_string(),
        },
        other => {
            let detail: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or_default();
            let name = detail
                .get("feature")
                .or_else(|| detail.get("text"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            format!("{other}: {name}")
        }
    };
    let campaigns: Vec<String> = serde_json::from_str(&r.campaigns).unwrap_or_default();
    Ok(RewardRow {
        decidable: r.status == "pending"
            || r.status == "pending_stock"
            || (r.status == "approved" && r.kind == "perk"),
        public_id: r.public_id,
        who,
        beneficiary: r.beneficiary,
        what,
        status: r.status,
        reason: r.reason,
        hold_until: when(r.hold_until),
        campaigns: campaigns.join(", "),
    })
}

#[derive(Template)]
#[template(path = "rewards.html")]
pub struct RewardsPage {
    pub chrome: Chrome,
    pub rewards: Vec<RewardRow>,
    pub statuses: Vec<(&'static str, bool)>,
    pub queue: bool,
}

#[derive(Deserialize, Default)]
pub struct RewardFilter {
    status: Option<String>,
    queue: Option<String>,
    done: Option<String>,
}

const STATUSES: [&str; 7] = [
    "pending",
    "pending_stock",
    "approved",
    "fulfilled",
    "voided",
    "clawed_back",
    "refused",
];

pub async fn rewards_page(
    State(state): State<AppState>,
    s: Signed,
    Query(f): Query<RewardFilter>,
) -> Result<Response, AdminError> {
    let queue = f.queue.as_deref() == Some("1");
    let status = f.status.filter(|st| STATUSES.contains(&st.as_str()));
    let filter = Filter {
        status: status.clone(),
        awaiting_approval_at: queue.then(vouch_core::clock::now_ms),
        ..Default::default()
    };
    let mut c = state.store.read().await?;
    let mut rows = Vec::new();
    for r in rewards::list(&mut c, s.workspace.id, &filter, i64::MAX, 300).await? {
        rows.push(reward_row(&mut c, r).await?);
    }
    Ok(page(RewardsPage {
        chrome: Chrome::new(
            &s,
            if queue { "Approval queue" } else { "Rewards" },
            if queue { "approvals" } else { "rewards" },
            notice(f.done.as_deref()),
        ),
        rewards: rows,
        statuses: STATUSES
            .iter()
            .map(|st| (*st, status.as_deref() == Some(*st)))
            .collect(),
        queue,
    }))
}

/// Bulk decisions: ticked rewards arrive as repeated `reward` fields; all or none change.
pub async fn decide(
    State(state): State<AppState>,
    s: Signed,
    body: String,
) -> Result<Response, AdminError> {
    let form = super::views::BulkForm::parse(&body);
    let get = |k: &str| form.get(k);
    s.check_csrf(&get("csrf"))?;
    s.require_write()?;
    let ids = form.all("reward");
    let verdict = match get("decision").as_str() {
        "approve" => Verdict::Approve,
        "void" => Verdict::Void,
        "fulfil" => Verdict::Fulfil,
        _ => {
            return Err(AdminError::BadRequest(
                "choose approve, void or handed over".into(),
            ));
        }
    };
    if ids.is_empty() {
        return Err(AdminError::BadRequest("tick at least one reward".into()));
    }
    rewards::decide_rewards(
        &state.store,
        s.workspace.id,
        &ids,
        verdict,
        &get("reason"),
        &s.actor,
    )
    .await?;
    Ok(Redirect::to("/admin/rewards?done=decided").into_response())
}

// ---- reward rules and tiers, with a preview ----

#[derive(Template)]
#[template(path = "reward_rules.html")]
pub struct RulesPage {
    pub chrome: Chrome,
    pub program: Program,
    pub json: String,
    pub errors: FormErrors,
    pub preview_count: String,
    pub preview_at: String,
    pub preview: Vec<String>,
    pub time_zone: String,
}

#[derive(Deserialize, Default)]
pub struct PreviewQuery {
    referrals: Option<String>,
    at: Option<String>,
    done: Option<String>,
}

async fn load_program(state: &AppState, s: &Signed, id: &str) -> Result<Program, AdminError> {
    let mut c = state.store.read().await?;
    programs::by_public_id(&mut c, s.workspace.id, id)
        .await?
        .ok_or(AdminError::NotFound)
}

fn pretty(program: &Program) -> String {
    programs::rules_of(&program.rules)
        .ok()
        .and_then(|r| serde_json::to_string_pretty(&r.rewards).ok())
        .unwrap_or_default()
}

/// Words for one decision: "advocate: cash 20.00 EUR (rule advocate with campaign cmp_…)".
fn describe(d: &vouch_core::reward::Decision, currency: &str) -> String {
    let g = &d.grant;
    let what = match g.kind.as_str() {
        "credit" | "cash" => format!("{} {}", g.kind, money(g.amount_minor, currency)),
        "discount" => format!(
            "a discount code from pool {}",
            g.pool.as_deref().unwrap_or("")
        ),
        "feature" => format!("the feature {}", g.feature.as_deref().unwrap_or("")),
        _ => format!("the perk \"{}\"", g.text.as_deref().unwrap_or("")),
    };
    format!("{}: {what} ({})", d.beneficiary.as_str(), d.explanation)
}

pub async fn rules_page(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, AdminError> {
    let program = load_program(&state, &s, &id).await?;
    let tz = s.workspace.time_zone.clone();
    let mut errors = Vec::new();
    let mut preview = Vec::new();
    let count = q.referrals.clone().unwrap_or_else(|| "1".into());
    let at_text = q.at.clone().unwrap_or_default();
    if q.referrals.is_some() {
        let n = count.trim().parse::<i64>().ok().filter(|n| *n >= 1);
        let at = if at_text.trim().is_empty() {
            Ok(vouch_core::clock::now_ms())
        } else {
            instant_in("at", &at_text, &tz)
        };
        match (n, at) {
            (Some(n), Ok(at)) => {
                let mut c = state.store.read().await?;
                let decisions =
                    rewards::preview(&mut c, s.workspace.id, &program, n, at, 10_000).await?;
                preview = decisions
                    .iter()
                    .map(|d| describe(d, &s.workspace.currency))
                    .collect();
                if preview.is_empty() {
                    preview.push("nothing: no rule grants anything for this referral".into());
                }
                preview.insert(
                    0,
                    format!(
                        "An advocate with {n} referrals, on {} ({tz}), for a 100.00 purchase, earns:",
                        local_text(at, &tz)
                    ),
                );
            }
            (None, _) => errors.push(Invalid::new("referrals", "use a whole number of 1 or more")),
            (_, Err(e)) => errors.push(e),
        }
    }
    Ok(page(RulesPage {
        chrome: Chrome::new(&s, "Reward rules", "programs", notice(q.done.as_deref())),
        json: pretty(&program),
        program,
        errors: FormErrors(errors),
        preview_count: count,
        preview_at: at_text,
        preview,
        time_zone: tz,
    }))
}

#[derive(Deserialize)]
pub struct RulesForm {
    csrf: String,
    rewards: String,
}

pub async fn save_rules(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<RulesForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let program = load_program(&state, &s, &id).await?;
    let mut rules = programs::rules_of(&program.rules)?;
    let parsed = serde_json::from_str(&f.rewards)
        .map_err(|e| {
            vec![Invalid::new(
                "rewards",
                format!("not valid reward rules: {e}"),
            )]
        })
        .and_then(|r| {
            rules.rewards = r;
            rules.clone().checked()
        });
    match parsed {
        Ok(rules) => {
            let status = vouch_core::program::ProgramStatus::parse(&program.status)
                .map_err(|e| AdminError::BadRequest(e.to_string()))?;
            vouch_store::tracking::update_program(
                &state.store,
                s.workspace.id,
                &id,
                &program.name,
                status,
                &rules,
                &s.actor,
            )
            .await?;
            Ok(Redirect::to(&format!("/admin/programs/{id}/rewards?done=saved")).into_response())
        }
        Err(errors) => {
            let tz = s.workspace.time_zone.clone();
            let p = RulesPage {
                chrome: Chrome::new(&s, "Reward rules", "programs", ""),
                json: f.rewards,
                program,
                errors: FormErrors(errors),
                preview_count: "1".into(),
                preview_at: String::new(),
                preview: Vec::new(),
                time_zone: tz,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
        }
    }
}

// ---- code pools ----

pub struct PoolRow {
    pub public_id: String,
    pub key: String,
    pub name: String,
    pub source: String,
    pub available: String,
    pub low: bool,
}

#[derive(Template)]
#[template(path = "code_pools.html")]
pub struct PoolsPage {
    pub chrome: Chrome,
    pub pools: Vec<PoolRow>,
    pub form: PoolForm,
    pub errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub struct PoolForm {
    #[serde(default)]
    csrf: String,
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub pattern: String,
    #[serde(default)]
    pub low_stock_threshold: String,
}

async fn pools_view(
    state: &AppState,
    s: &Signed,
    notice_text: &'static str,
) -> Result<PoolsPage, AdminError> {
    let mut c = state.store.read().await?;
    let mut rows = Vec::new();
    for p in pools::list(&mut c, s.workspace.id).await? {
        let available = pools::available(&mut c, &p).await?;
        rows.push(PoolRow {
            low: available.is_some_and(|n| n <= p.low_stock_threshold),
            available: available.map_or("generated on demand".into(), |n| n.to_string()),
            source: p
                .pattern
                .clone()
                .map_or("imported".into(), |pt| format!("pattern {pt}")),
            public_id: p.public_id,
            key: p.key,
            name: p.name,
        });
    }
    Ok(PoolsPage {
        chrome: Chrome::new(s, "Code pools", "pools", notice_text),
        pools: rows,
        form: PoolForm {
            low_stock_threshold: "10".into(),
            ..Default::default()
        },
        errors: FormErrors::default(),
    })
}

pub async fn pools_page(
    State(state): State<AppState>,
    s: Signed,
    Query(d): Query<RewardFilter>,
) -> Result<Response, AdminError> {
    Ok(page(
        pools_view(&state, &s, notice(d.done.as_deref())).await?,
    ))
}

pub async fn create_pool(
    State(state): State<AppState>,
    s: Signed,
    Form(f): Form<PoolForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let threshold = f.low_stock_threshold.trim().parse::<i64>();
    let result = match threshold {
        Ok(t) => {
            let pattern = Some(f.pattern.trim()).filter(|p| !p.is_empty());
            rewards::create_pool(
                &state.store,
                s.workspace.id,
                &pools::NewPool {
                    key: &f.key,
                    name: &f.name,
                    pattern,
                    low_stock_threshold: t,
                },
                &s.actor,
            )
            .await
            .map(|_| ())
            .map_err(|e| match e {
                vouch_store::StoreError::Rejected(_, why) => Invalid::new(field_of(&why), why),
                vouch_store::StoreError::Conflict(what) => {
                    Invalid::new("key", format!("{what} already exists"))
                }
                other => Invalid::new("key", other.to_string()),
            })
        }
        Err(_) => Err(Invalid::new(
            "low_stock_threshold",
            "use a whole number of 0 or more",
        )),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/code-pools?done=saved").into_response()),
        Err(e) => {
            let mut p = pools_view(&state, &s, "").await?;
            p.form = f;
            p.errors = FormErrors(vec![e]);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
        }
    }
}

/// The field a store refusal names ("pattern: use …" → `pattern`).
fn field_of(why: &str) -> &'static str {
    ["key", "name", "pattern", "low_stock_threshold"]
        .into_iter()
        .find(|f| why.starts_with(f))
        .unwrap_or("key")
}

#[derive(Deserialize)]
pub struct CodesForm {
    csrf: String,
    codes: String,
}

pub async fn import_codes(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<CodesForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let codes: Vec<String> = f
        .codes
        .split(['\n', ',', ';'])
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if codes.is_empty() {
        return Err(AdminError::BadRequest(
            "paste at least one code, one a line".into(),
        ));
    }
    rewards::import_codes(&state.store, s.workspace.id, &id, &codes, &s.actor).await?;
    Ok(Redirect::to("/admin/code-pools?done=imported").into_response())
}

// ---- payouts ----

pub struct PayoutRow {
    pub public_id: String,
    pub batch_key: String,
    pub status: String,
    pub total: String,
    pub payees: i64,
    pub created: String,
    pub reference: String,
}

#[derive(Template)]
#[template(path = "payouts.html")]
pub struct PayoutsPage {
    pub chrome: Chrome,
    pub minimum: String,
    pub preview: Vec<(String, String)>,
    pub preview_total: String,
    pub batch_key: String,
    pub payouts: Vec<PayoutRow>,
}

#[derive(Deserialize, Default)]
pub struct PayoutQuery {
    minimum: Option<String>,
    done: Option<String>,
}

pub async fn payouts_page(
    State(state): State<AppState>,
    s: Signed,
    Query(q): Query<PayoutQuery>,
) -> Result<Response, AdminError> {
    let currency = s.workspace.currency.clone();
    let minimum_text = q.minimum.clone().unwrap_or_else(|| "0".into());
    let minimum = parse_amount(&minimum_text, &currency).unwrap_or(0);
    let mut c = state.store.read().await?;
    let lines = payouts::preview(&mut c, false, s.workspace.id, &currency, minimum).await?;
    let total: i64 = lines.iter().map(|l| l.amount_minor).sum();
    let preview = lines
        .into_iter()
        .map(|l| {
            (
                l.customer.email.unwrap_or(l.customer.name),
                money(l.amount_minor, &currency),
            )
        })
        .collect();
    let list = payouts::list(&mut c, s.workspace.id, i64::MAX, 100)
        .await?
        .into_iter()
        .map(|p| PayoutRow {
            total: money(p.total_minor, &p.currency),
            public_id: p.public_id,
            batch_key: p.batch_key,
            status: p.status,
            payees: p.payees,
            created: when(p.created_at),
            reference: p.reference.unwrap_or_default(),
        })
        .collect();
    Ok(page(PayoutsPage {
        chrome: Chrome::new(&s, "Payouts", "payouts", notice(q.done.as_deref())),
        minimum: minimum_text,
        preview,
        preview_total: money(total, &currency),
        batch_key: vouch_core::clock::rfc3339(vouch_core::clock::now_ms())[..10].to_string(),
        payouts: list,
    }))
}

/// "12.50" in a currency with two decimals → 1250 minor units.
fn parse_amount(text: &str, currency: &str) -> Option<i64> {
    let digits = vouch_core::settings::currency_minor_units(currency).unwrap_or(2) as u32;
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if frac.len() > digits as usize || whole.is_empty() && frac.is_empty() {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = digits as usize)
            .parse()
            .ok()?
    };
    (whole >= 0).then(|| whole * 10i64.pow(digits) + frac)
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    batch_key: String,
    minimum: String,
}

pub async fn confirm_payout(
    State(state): State<AppState>,
    s: Signed,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let minimum = parse_amount(&f.minimum, &s.workspace.currency)
        .ok_or_else(|| AdminError::BadRequest("the minimum is an amount such as 20.00".into()))?;
    payouts::confirm(
        &state.store,
        s.workspace.id,
        &f.batch_key,
        &s.workspace.currency,
        minimum,
        &s.actor,
    )
    .await?;
    Ok(Redirect::to("/admin/payouts?done=confirmed").into_response())
}

#[derive(Deserialize)]
pub struct PaidForm {
    csrf: String,
    #[serde(default)]
    reference: String,
    action: String,
}

pub async fn settle_payout(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<PaidForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    match f.action.as_str() {
        "paid" => {
            payouts::mark_paid(&state.store, s.workspace.id, &id, &f.reference, &s.actor).await?
        }
        "cancel" => payouts::cancel(&state.store, s.workspace.id, &id, &s.actor).await?,
        _ => return Err(AdminError::BadRequest("mark it paid or cancel it".into())),
    };
    Ok(Redirect::to("/admin/payouts?done=saved").into_response())
}

pub async fn export_payout(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    use vouch_store::payouts::Provider;
    let mut c = state.store.read().await?;
    let p = payouts::by_public_id(&mut c, s.workspace.id, &id)
        .await?
        .ok_or(AdminError::NotFound)?;
    let lines = payouts::items(&mut c, &p).await?;
    let csv = payouts::CsvExport.render(&p, &lines)?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                payouts::CsvExport.content_type().to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"payout-{}.csv\"",
                    p.batch_key.replace('"', "")
                ),
            ),
        ],
        csv,
    )
        .into_response())
}

// ---- campaigns ----

pub struct CampaignRow {
    pub public_id: String,
    pub name: String,
    pub headline: String,
    pub starts: String,
    pub ends: String,
    pub status: String,
    pub spent: String,
    pub cancellable: bool,
}

#[derive(Template)]
#[template(path = "campaigns.html")]
pub struct CampaignsPage {
    pub chrome: Chrome,
    pub campaigns: Vec<CampaignRow>,
    pub programs: Vec<(String, String)>,
    pub form: CampaignForm,
    pub errors: FormErrors,
    pub time_zone: String,
}

#[derive(Deserialize, Default)]
pub struct CampaignForm {
    #[serde(default)]
    csrf: String,
    pub name: String,
    #[serde(default)]
    pub headline: String,
    #[serde(default)]
    pub program: String,
    pub starts_at: String,
    pub ends_at: String,
    /// `multiplier`, `bonus` or `tiers`.
    pub effect: String,
    /// ×2 as "2", or a bonus amount as "5.00".
    #[serde(default)]
    pub value: String,
    /// The tier table a `tiers` campaign puts in force, as in the reward rules (JSON).
    #[serde(default)]
    pub tiers: String,
    #[serde(default)]
    pub sides: String,
    #[serde(default)]
    pub budget: String,
    #[serde(default)]
    pub stackable: Option<String>,
    /// `all`, `min_referrals` (with `audience_value` a count) or `attribute` (with
    /// `audience_key` and `audience_value`).
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub audience_key: String,
    #[serde(default)]
    pub audience_value: String,
}

async fn campaigns_view(
    state: &AppState,
    s: &Signed,
    notice_text: &'static str,
) -> Result<CampaignsPage, AdminError> {
    let mut c = state.store.read().await?;
    let now = vouch_core::clock::now_ms();
    let currency = s.workspace.currency.clone();
    let mut list = campaigns::list(&mut c, s.workspace.id, i64::MAX, 200).await?;
    // The calendar reads by start.
    list.sort_by_key(|r| r.starts_at);
    let rows = list
        .into_iter()
        .map(|r| CampaignRow {
            status: campaigns::status(&r, now).into(),
            cancellable: r.cancelled_at.is_none() && now < r.ends_at,
            headline: campaigns::headline(&r),
            starts: local_text(r.starts_at, &r.time_zone),
            ends: local_text(r.ends_at, &r.time_zone),
            spent: match r.budget_minor {
                Some(b) => format!(
                    "{} of {}",
                    money(r.spent_minor, &currency),
                    money(b, &currency)
                ),
                None => money(r.spent_minor, &currency),
            },
            public_id: r.public_id,
            name: r.name,
        })
        .collect();
    let programs = programs::list(&mut c, s.workspace.id, 0, 200)
        .await?
        .into_iter()
        .map(|p| (p.public_id, p.name))
        .collect();
    Ok(CampaignsPage {
        chrome: Chrome::new(s, "Campaigns", "campaigns", notice_text),
        campaigns: rows,
        programs,
        form: CampaignForm {
            effect: "multiplier".into(),
            value: "2".into(),
            ..Default::default()
        },
        errors: FormErrors::default(),
        time_zone: s.workspace.time_zone.clone(),
    })
}

pub async fn campaigns_page(
    State(state): State<AppState>,
    s: Signed,
    Query(d): Query<RewardFilter>,
) -> Result<Response, AdminError> {
    Ok(page(
        campaigns_view(&state, &s, notice(d.done.as_deref())).await?,
    ))
}

impl CampaignForm {
    fn value_hint() -> Invalid {
        Invalid::new(
            "value",
            "for a multiplier type a factor such as 2; for a bonus an amount such as 5.00",
        )
    }

    /// The typed tier table: JSON in the shape the reward rules use, at least one tier.
    fn tier_table(&self) -> Result<Vec<vouch_core::reward::Tier>, Invalid> {
        match serde_json::from_str::<Vec<vouch_core::reward::Tier>>(&self.tiers) {
            Ok(t) if !t.is_empty() => Ok(t),
            Ok(_) => Err(Invalid::new("tiers", "give at least one tier")),
            Err(e) => Err(Invalid::new(
                "tiers",
                format!(
                    "the tier table is not valid JSON in the shape of the reward rules' tiers ({e})"
                ),
            )),
        }
    }

    fn parse(&self, tz: &str, currency: &str) -> Result<campaigns::NewCampaign, Vec<Invalid>> {
        let mut errors = Vec::new();
        let starts = instant_in("starts_at", &self.starts_at, tz)
            .map_err(|e| errors.push(e))
            .unwrap_or(0);
        let ends = instant_in("ends_at", &self.ends_at, tz)
            .map_err(|e| errors.push(e))
            .unwrap_or(0);
        let effect = match self.effect.as_str() {
            "tiers" => self.tier_table().map(|tiers| Effect::Tiers { tiers }),
            "multiplier" => match self.value.trim().parse::<f64>() {
                // A factor typed by a person, stored as basis points.
                Ok(x) if x.is_finite() => Ok(Effect::Multiplier {
                    bps: (x * 10_000.0).round() as i64,
                }),
                _ => Err(Self::value_hint()),
            },
            "bonus" => parse_amount(&self.value, currency)
                .map(|amount_minor| Effect::Bonus { amount_minor })
                .ok_or_else(Self::value_hint),
            _ => Err(Self::value_hint()),
        };
        let effect = effect.map_err(|e| errors.push(e)).ok();
        let budget = if self.budget.trim().is_empty() {
            None
        } else {
            match parse_amount(&self.budget, currency) {
                Some(b) => Some(b),
                None => {
                    errors.push(Invalid::new(
                        "budget_minor",
                        "an amount such as 500.00, or leave it empty",
                    ));
                    None
                }
            }
        };
        let audience = match self.audience.as_str() {
            "min_referrals" => match self.audience_value.trim().parse::<i64>() {
                Ok(n) if n >= 1 => Audience::MinReferrals { n },
                _ => {
                    errors.push(Invalid::new(
                        "audience",
                        "for VIP advocates give a number of referrals of 1 or more",
                    ));
                    Audience::All
                }
            },
            "attribute" => {
                if self.audience_key.trim().is_empty() || self.audience_value.trim().is_empty() {
                    errors.push(Invalid::new(
                        "audience",
                        "for a segment give the customer attribute and its value",
                    ));
                }
                Audience::Attribute {
                    key: self.audience_key.trim().to_string(),
                    value: self.audience_value.trim().to_string(),
                }
            }
            _ => Audience::All,
        };
        let sides = match self.sides.as_str() {
            "friend" => Sides::Friend,
            "both" => Sides::Both,
            _ => Sides::Advocate,
        };
        match effect {
            Some(effect) if errors.is_empty() => Ok(campaigns::NewCampaign {
                name: self.name.clone(),
                headline: self.headline.clone(),
                program_public_ids: if self.program.is_empty() {
                    Vec::new()
                } else {
                    vec![self.program.clone()]
                },
                starts_at: starts,
                ends_at: ends,
                time_zone: tz.to_string(),
                effect,
                stackable: self.stackable.is_some(),
                sides,
                audience,
                budget_minor: budget,
            }),
            _ => Err(errors),
        }
    }
}

pub async fn create_campaign(
    State(state): State<AppState>,
    s: Signed,
    Form(f): Form<CampaignForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let result = match f.parse(&s.workspace.time_zone, &s.workspace.currency) {
        Ok(n) => campaigns::schedule(&state.store, s.workspace.id, &n, &s.actor)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                vouch_store::StoreError::Rejected(_, why) => why
                    .split("; ")
                    .map(|one| {
                        let (field, msg) = one.split_once(": ").unwrap_or(("name", one));
                        let field = [
                            "name",
                            "headline",
                            "programs",
                            "starts_at",
                            "ends_at",
                            "effect.bps",
                            "effect.amount_minor",
                            "budget_minor",
                            "time_zone",
                        ]
                        .into_iter()
                        .find(|f| *f == field)
                        .unwrap_or("name");
                        let field = if one.starts_with("rewards.") {
                            // The tier table's own checks name the reward rules' fields.
                            "tiers"
                        } else if field.starts_with("effect") {
                            "value"
                        } else {
                            field
                        };
                        Invalid::new(field, msg.to_string())
                    })
                    .collect(),
                other => vec![Invalid::new("name", other.to_string())],
            }),
        Err(errors) => Err(errors),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/campaigns?done=saved").into_response()),
        Err(errors) => {
            let mut p = campaigns_view(&state, &s, "").await?;
            p.form = f;
            p.errors = FormErrors(errors);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn cancel_campaign(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    campaigns::cancel_by(&state.store, s.workspace.id, &id, &s.actor).await?;
    Ok(Redirect::to("/admin/campaigns?done=saved").into_response())
}

// ---- an advocate's rewards and ledger ----

#[derive(Template)]
#[template(path = "advocate_ledger.html")]
pub struct LedgerPage {
    pub chrome: Chrome,
    pub advocate_id: String,
    pub who: String,
    pub rewards: Vec<RewardRow>,
    pub balances: Vec<(String, String)>,
    pub entries: Vec<(String, String, String, String)>,
}

pub async fn advocate_ledger(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let mut c = state.store.read().await?;
    let a = advocates::by_public_id(&mut c, s.workspace.id, &id)
        .await?
        .ok_or(AdminError::NotFound)?;
    let who = customers::by_id(&mut c, s.workspace.id, a.customer_id)
        .await?
        .map(|k| k.email.unwrap_or(k.name))
        .unwrap_or_default();
    let filter = Filter {
        customer_id: Some(a.customer_id),
        ..Default::default()
    };
    let mut rows = Vec::new();
    for r in rewards::list(&mut c, s.workspace.id, &filter, i64::MAX, 200).await? {
        rows.push(reward_row(&mut c, r).await?);
    }
    let balances = ledger::balances(&mut c, s.workspace.id, Some(a.customer_id))
        .await?
        .into_iter()
        .filter_map(|b| {
            let account = Account::parse(&b.account)?;
            Some((
                b.account.replace('_', " "),
                money(account.natural(b.balance_minor), &b.currency),
            ))
        })
        .collect();
    let entries = ledger::entries(&mut c, s.workspace.id, Some(a.customer_id), i64::MAX, 200)
        .await?
        .into_iter()
        .map(|(e, t)| {
            (
                when(e.posted_at),
                e.account.replace('_', " "),
                money(e.amount_minor, &e.currency),
                t.memo,
            )
        })
        .collect();
    Ok(page(LedgerPage {
        chrome: Chrome::new(&s, "Rewards and ledger", "advocates", ""),
        advocate_id: a.public_id,
        who,
        rewards: rows,
        balances,
        entries,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_as_typed() {
        assert_eq!(super::parse_amount("12.5", "EUR"), Some(1250));
        assert_eq!(super::parse_amount("12", "EUR"), Some(1200));
        assert_eq!(super::parse_amount("0.05", "EUR"), Some(5));
        assert_eq!(super::parse_amount("1.234", "EUR"), None);
        assert_eq!(super::parse_amount("500", "JPY"), Some(500));
        assert_eq!(super::parse_amount("-1", "EUR"), None);
        assert_eq!(super::parse_amount("abc", "EUR"), None);
    }
}
