//! Rewards in the store: decided by the core from the referral's rule version, issued once per
//! cause (workspace, source, rule, beneficiary), held, approved, fulfilled, and voided or
//! clawed back when the purchase behind them is refunded. Every step runs in the caller's
//! transaction with its ledger postings and outbox events, so it happens whole or not at all.

use crate::audit::{self, Actor};
use crate::jobs::{self, JobSpec, NewJob};
use crate::rows::{self, Advocate, Conversion, Referral, Reward, Workspace};
use crate::{
    Backend, Conn, Millis, Result, Store, StoreError, campaigns, customers, ledger, notices,
    outbox, pools, programs, workspaces,
};
use serde_json::json;
use sqlx::Row;
use vouch_core::campaign::{cap_period_start, period_start};
use vouch_core::id::time_ordered;
use vouch_core::ledger::{Account, accrue, claw_back, holding_account};
use vouch_core::reward::{
    Beneficiary, CapPeriod, Decision, Occasion, OccasionKind, Resolved, RewardRules, Scope,
    TierPeriod, decide,
};

/// The job that ends a reward's hold at its instant.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReleaseReward {
    pub workspace_id: i64,
    pub reward_id: i64,
}

impl JobSpec for ReleaseReward {
    const KIND: &'static str = "reward.release";
}

/// States in which a reward has not ended.
pub const OPEN: [&str; 3] = ["pending", "pending_stock", "approved"];

async fn rules_of(c: &mut Conn, program_id: i64, version: i64) -> Result<RewardRules> {
    let v = programs::version(c, program_id, version)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a program version is missing".into()))?;
    Ok(programs::rules_of(&v.rules)?.rewards)
}

async fn workspace(c: &mut Conn, id: i64) -> Result<Workspace> {
    workspaces::by_id(c, id)
        .await?
        .ok_or(StoreError::NotFound("workspace"))
}

/// Rewards for a conversion just counted on `referral` (whose status was `before`).
pub(crate) async fn on_counted(
    c: &mut Conn,
    backend: Backend,
    before: &str,
    referral: &Referral,
    conversion: &Conversion,
    now: Millis,
) -> Result<Vec<Reward>> {
    let was_qualified = matches!(before, "qualified" | "rewarded");
    let kind = match referral.status.as_str() {
        "qualified" | "rewarded" if was_qualified => OccasionKind::Conversion,
        "qualified" => OccasionKind::Qualified,
        // Converted but waiting for review: rewards come with the approval.
        _ => return Ok(Vec::new()),
    };
    issue_for(c, backend, referral, Some(conversion), kind, now).await
}

/// Rewards for a referral an admin just approved in review (it converted while flagged).
pub(crate) async fn on_reviewed(
    c: &mut Conn,
    backend: Backend,
    referral: &Referral,
    now: Millis,
) -> Result<Vec<Reward>> {
    if referral.fraud_verdict != "approved" {
        return Ok(Vec::new());
    }
    if referral.status == "qualified" {
        let q = rows::select::<Conversion>(
            "WHERE workspace_id = $1 AND referral_id = $2 AND status = 'attributed' ORDER BY id DESC LIMIT 1",
        )
        .bind(referral.workspace_id)
        .bind(referral.id);
        let last: Option<Conversion> = rows::fetch_optional(c, q).await?;
        if let Some(conv) = last {
            return issue_for(
                c,
                backend,
                referral,
                Some(&conv),
                OccasionKind::Qualified,
                now,
            )
            .await;
        }
    }
    on_identified(c, backend, referral, now).await
}

/// Rewards for a friend just identified (friend offers at sign-up).
pub(crate) async fn on_identified(
    c: &mut Conn,
    backend: Backend,
    referral: &Referral,
    now: Millis,
) -> Result<Vec<Reward>> {
    if referral.fraud_verdict != "approved" || referral.status == "rejected" {
        return Ok(Vec::new());
    }
    issue_for(c, backend, referral, None, OccasionKind::Signup, now).await
}

async fn advocate_of(c: &mut Conn, r: &Referral) -> Result<Advocate> {
    rows::by_id::<Advocate>(c, r.workspace_id, r.advocate_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a referral without its advocate".into()))
}

async fn issue_for(
    c: &mut Conn,
    backend: Backend,
    referral: &Referral,
    conversion: Option<&Conversion>,
    kind: OccasionKind,
    now: Millis,
) -> Result<Vec<Reward>> {
    let rules = rules_of(c, referral.program_id, referral.program_version).await?;
    if !rules.may_grant_on(kind) {
        return Ok(Vec::new());
    }
    let ws = workspace(c, referral.workspace_id).await?;
    let advocate = advocate_of(c, referral).await?;
    let at = conversion.map_or(referral.created_at, |k| k.occurred_at);
    let start = period_start(rules.tier_period, at, &ws.time_zone);
    let qualified: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM referrals WHERE workspace_id = $1 AND advocate_id = $2
           AND status IN ('qualified', 'rewarded') AND qualified_at >= $3",
    )
    .bind(ws.id)
    .bind(advocate.id)
    .bind(start)
    .fetch_one(&mut *c)
    .await?
    .try_get("n")?;
    let in_force = campaigns::in_force(c, ws.id, referral.program_id, at).await?;
    // The advocate's attributes matter only to a campaign aimed at a segment.
    let attributes: serde_json::Value = if in_force
        .iter()
        .any(|k| matches!(k.audience, vouch_core::campaign::Audience::Attribute { .. }))
    {
        customers::by_id(c, ws.id, advocate.customer_id)
            .await?
            .and_then(|k| serde_json::from_str(&k.attributes).ok())
            .unwrap_or(json!({}))
    } else {
        json!({})
    };
    let lookup = |key: &str| {
        attributes.get(key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let occasion = Occasion {
        kind,
        program_id: referral.program_id,
        at,
        amount_minor: conversion.map_or(0, |k| k.amount_minor),
        nth_conversion: referral.conversions,
        first_conversion_at: referral.converted_at,
        advocate_qualified: qualified,
        advocate_attribute: &lookup,
    };
    let decisions = decide(&rules, &occasion, &in_force);
    let period = match rules.tier_period {
        TierPeriod::Lifetime => "lifetime".to_string(),
        TierPeriod::Rolling12Months => "rolling".to_string(),
        TierPeriod::CalendarYear => start.to_string(),
    };
    let source = Source {
        ws: &ws,
        rules: &rules,
        referral,
        advocate: &advocate,
        conversion,
        at,
        period,
    };
    let mut issued = Vec::new();
    for d in decisions {
        if let Some(r) = issue_one(c, backend, &source, &d, now).await? {
            issued.push(r);
        }
    }
    Ok(issued)
}

struct Source<'a> {
    ws: &'a Workspace,
    rules: &'a RewardRules,
    referral: &'a Referral,
    advocate: &'a Advocate,
    conversion: Option<&'a Conversion>,
    at: Millis,
    period: String,
}

impl Source<'_> {
    fn cause(&self, d: &Decision, customer_id: i64) -> String {
        match d.scope {
            Scope::Referral => format!("referral:{}:{}:{customer_id}", self.referral.id, d.rule),
            Scope::Conversion => format!(
                "conversion:{}:{}:{customer_id}",
                self.conversion.map_or(0, |k| k.id),
                d.rule
            ),
            Scope::Advocate => format!("advocate:{}:{}:{}", self.advocate.id, d.rule, self.period),
        }
    }
}

/// What monetary rewards of a program (optionally one customer, from an instant) add up to,
/// leaving out those that ended without value.
async fn committed(
    c: &mut Conn,
    workspace_id: i64,
    program_id: i64,
    customer_id: Option<i64>,
    from: Millis,
) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS s FROM rewards
         WHERE workspace_id = $1 AND program_id = $2 AND ($3 < 0 OR (customer_id = $3 AND beneficiary = 'advocate'))
           AND kind IN ('credit', 'cash') AND status NOT IN ('voided', 'clawed_back', 'refused') AND occurred_at >= $4",
    )
    .bind(workspace_id)
    .bind(program_id)
    .bind(customer_id.unwrap_or(-1))
    .bind(from)
    .fetch_one(&mut *c)
    .await?
    .try_get("s")?)
}

/// The limit this reward would cross, in words, if any.
async fn limit_crossed(
    c: &mut Conn,
    s: &Source<'_>,
    d: &Decision,
    customer_id: i64,
) -> Result<Option<String>> {
    if !d.grant.monetary() {
        return Ok(None);
    }
    let amount = d.grant.amount_minor;
    if let (Some(cap), Beneficiary::Advocate) = (s.rules.advocate_cap, d.beneficiary) {
        let from = cap_period_start(cap.period, s.at, &s.ws.time_zone);
        let so_far = committed(c, s.ws.id, s.referral.program_id, Some(customer_id), from).await?;
        if so_far + amount > cap.amount_minor {
            let per = match cap.period {
                CapPeriod::Month => "this month",
                CapPeriod::Year => "this year",
                CapPeriod::Lifetime => "in all",
            };
            return Ok(Some(format!(
                "the advocate's cap of {} {per} is reached ({} earned so far)",
                cap.amount_minor, so_far
            )));
        }
    }
    if let Some(budget) = s.rules.budget_minor {
        let so_far = committed(c, s.ws.id, s.referral.program_id, None, i64::MIN).await?;
        if so_far + amount > budget {
            return Ok(Some(format!(
                "the program's budget of {budget} is reached ({so_far} committed)"
            )));
        }
    }
    Ok(None)
}

async fn issue_one(
    c: &mut Conn,
    backend: Backend,
    s: &Source<'_>,
    d: &Decision,
    now: Millis,
) -> Result<Option<Reward>> {
    let customer_id = match d.beneficiary {
        Beneficiary::Advocate => s.advocate.customer_id,
        Beneficiary::Friend => s.referral.friend_customer_id,
    };
    let cause = s.cause(d, customer_id);
    // A cause rewarded before is caught by the insert below (its unique key), not by a lookup.
    let refusal = limit_crossed(c, s, d, customer_id).await?;
    let currency = s
        .conversion
        .map_or(s.ws.currency.clone(), |k| k.currency.clone());
    let q = rows::returning::<Reward>(
        c,
        "INSERT INTO rewards (workspace_id, public_id, cause_key, program_id, program_version, referral_id, conversion_id,
            advocate_id, customer_id, beneficiary, rule_key, kind, amount_minor, currency, detail, tier, campaigns,
            campaign_extra_minor, status, reason, refusal, hold_until, posted, lost_value_minor, occurred_at,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
            0, 0, $23, $24, $24)
         ON CONFLICT (workspace_id, cause_key) DO NOTHING",
    )
    .bind(s.ws.id)
    .bind(time_ordered::<8>("rwd_", now))
    .bind(cause)
    .bind(s.referral.program_id)
    .bind(s.referral.program_version)
    .bind(s.referral.id)
    .bind(s.conversion.map(|k| k.id))
    .bind(s.advocate.id)
    .bind(customer_id)
    .bind(d.beneficiary.as_str())
    .bind(d.rule.clone())
    .bind(d.grant.kind.clone())
    .bind(d.grant.amount_minor)
    .bind(currency)
    .bind(serde_json::to_string(&d.grant).expect("grants serialise"))
    .bind(d.tier.clone())
    .bind(serde_json::to_string(&d.campaigns).expect("ids serialise"))
    .bind(d.campaign_extra_minor)
    .bind(if refusal.is_some() { "refused" } else { "pending" })
    .bind(refusal.clone().unwrap_or_else(|| d.explanation.clone()))
    .bind(refusal.as_ref().map(|_| "limit_reached"))
    .bind(s.at.saturating_add(s.rules.hold_ms()))
    .bind(s.at)
    .bind(now);
    let Some(reward) = rows::written::<Reward>(c, q, None).await? else {
        return Ok(None);
    };
    if let Some(why) = refusal {
        notices::raise(
            c,
            s.ws.id,
            "reward.limit_reached",
            &format!("program:{}", s.referral.program_id),
            &format!("A reward was refused: {why}."),
            now,
        )
        .await?;
        outbox::emit(
            c,
            s.ws.id,
            "reward.refused",
            json!({ "reward": reward.public_id, "reason": "limit_reached", "detail": why }),
            now,
        )
        .await?;
        return Ok(Some(reward));
    }
    for (campaign, extra) in &d.campaign_charges {
        campaigns::charge(c, s.ws.id, campaign, *extra, now).await?;
    }
    outbox::emit(c, s.ws.id, "reward.created", event(&reward), now).await?;
    if d.new_tier
        && let Some(tier) = &d.tier
    {
        outbox::emit(c, s.ws.id, "tier.reached", json!({ "advocate": s.advocate.public_id, "tier": tier, "program_id": s.referral.program_id }), now).await?;
    }
    if reward.hold_until <= now {
        return Ok(Some(release_in(c, backend, s.rules, reward, now).await?));
    }
    let job = NewJob::of(&ReleaseReward {
        workspace_id: s.ws.id,
        reward_id: reward.id,
    })
    .workspace(s.ws.id)
    .at(reward.hold_until)
    .dedupe(format!("reward:{}:release", reward.id));
    jobs::enqueue(c, &job, now).await?;
    Ok(Some(reward))
}

fn event(r: &Reward) -> serde_json::Value {
    json!({ "reward": r.public_id, "kind": r.kind, "amount_minor": r.amount_minor, "currency": r.currency,
        "status": r.status, "beneficiary": r.beneficiary, "rule": r.rule_key })
}

async fn set_state(
    c: &mut Conn,
    r: &Reward,
    status: &str,
    reason: &str,
    extra: &str,
    now: Millis,
) -> Result<Reward> {
    let q = rows::returning::<Reward>(
        c,
        &format!(
            "UPDATE rewards SET status = $3, reason = $4, updated_at = $5{extra} WHERE workspace_id = $1 AND id = $2"
        ),
    )
    .bind(r.workspace_id)
    .bind(r.id)
    .bind(status.to_string())
    .bind(reason.to_string())
    .bind(now);
    Ok(rows::written_one(c, q, Some(r.id)).await?)
}

/// Ends the hold of a pending reward whose time has come: approved at once when the rules
/// allow, otherwise it waits in the approval queue.
async fn release_in(
    c: &mut Conn,
    backend: Backend,
    rules: &RewardRules,
    r: Reward,
    now: Millis,
) -> Result<Reward> {
    if r.status != "pending" || now < r.hold_until {
        return Ok(r);
    }
    if rules.auto_approves(r.amount_minor) {
        return approve_in(c, backend, r, "approved automatically after the hold", now).await;
    }
    Ok(r)
}

async fn approve_in(
    c: &mut Conn,
    backend: Backend,
    r: Reward,
    reason: &str,
    now: Millis,
) -> Result<Reward> {
    let approved = set_state(c, &r, "approved", reason, ", approved_at = $5", now).await?;
    outbox::emit(c, r.workspace_id, "reward.approved", event(&approved), now).await?;
    fulfil_in(c, backend, approved, now).await
}

fn grant_of(r: &Reward) -> Result<Resolved> {
    serde_json::from_str(&r.detail)
        .map_err(|e| StoreError::Corrupt(format!("reward {}: {e}", r.public_id)))
}

/// Delivers an approved reward as far as Vouch can: credit posted, cash made payable (paid by
/// a payout), a code given, a feature unlocked. A perk waits for an admin's tick.
async fn fulfil_in(c: &mut Conn, backend: Backend, r: Reward, now: Millis) -> Result<Reward> {
    let grant = grant_of(&r)?;
    let done = match r.kind.as_str() {
        "credit" | "cash" => {
            let receivable = ledger::balance(
                c,
                backend,
                r.workspace_id,
                Account::ClawbackReceivable,
                r.customer_id,
                &r.currency,
            )
            .await?;
            if r.amount_minor > 0 {
                let posting = accrue(&r.kind, r.customer_id, r.amount_minor, receivable)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let cause = ledger::Cause {
                    key: format!("reward:{}:accrue", r.id),
                    kind: "reward",
                    currency: &r.currency,
                    reward_id: Some(r.id),
                    payout_id: None,
                    memo: format!("{} reward {}", r.kind, r.public_id),
                };
                ledger::post(c, r.workspace_id, &cause, &posting, now).await?;
            }
            let status = if r.kind == "credit" {
                "fulfilled"
            } else {
                "approved"
            };
            let why = if r.kind == "credit" {
                "credit posted to the customer's balance"
            } else {
                "payable: paid with the next payout"
            };
            let extra = if status == "fulfilled" {
                ", posted = 1, fulfilled_at = $5"
            } else {
                ", posted = 1"
            };
            set_state(c, &r, status, why, extra, now).await?
        }
        "discount" => {
            let key = grant.pool.clone().unwrap_or_default();
            let pool = pools::by_key(c, r.workspace_id, &key).await?;
            let code = match &pool {
                Some(p) => pools::take(c, backend, p, r.id, now).await?,
                None => None,
            };
            match (code, pool) {
                (Some(code), _) => {
                    let q = rows::returning::<Reward>(
                        c,
                        "UPDATE rewards SET status = 'fulfilled', code = $3, reason = 'discount code delivered', fulfilled_at = $4, updated_at = $4
                         WHERE workspace_id = $1 AND id = $2",
                    )
                    .bind(r.workspace_id)
                    .bind(r.id)
                    .bind(code)
                    .bind(now);
                    rows::written_one(c, q, Some(r.id)).await?
                }
                (None, Some(p)) => {
                    pools::low_stock(c, &p, 0, now).await?;
                    let waiting = set_state(
                        c,
                        &r,
                        "pending_stock",
                        &format!("waiting for codes in pool {}", p.key),
                        "",
                        now,
                    )
                    .await?;
                    outbox::emit(
                        c,
                        r.workspace_id,
                        "reward.pending_stock",
                        event(&waiting),
                        now,
                    )
                    .await?;
                    return Ok(waiting);
                }
                (None, None) => {
                    notices::raise(c, r.workspace_id, "code_pool.missing", &key, &format!("Discount rewards name the code pool {key}, which does not exist: create it and they will be delivered."), now).await?;
                    return set_state(
                        c,
                        &r,
                        "pending_stock",
                        &format!("the code pool {key} does not exist yet"),
                        "",
                        now,
                    )
                    .await;
                }
            }
        }
        "feature" => {
            let feature = grant.feature.clone().unwrap_or_default();
            let ends = grant.duration_days.map(|d| now + d * 86_400_000);
            sqlx::query(
                "INSERT INTO entitlements (workspace_id, public_id, customer_id, feature, reward_id, starts_at, ends_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $6)",
            )
            .bind(r.workspace_id)
            .bind(time_ordered::<8>("ent_", now))
            .bind(r.customer_id)
            .bind(feature.clone())
            .bind(r.id)
            .bind(now)
            .bind(ends)
            .execute(&mut *c)
            .await?;
            let customer = customers::by_id(c, r.workspace_id, r.customer_id).await?;
            outbox::emit(c, r.workspace_id, "entitlement.granted", json!({ "customer": customer.map(|k| k.public_id), "feature": feature, "ends_at": ends, "reward": r.public_id }), now).await?;
            set_state(
                c,
                &r,
                "fulfilled",
                "feature unlocked",
                ", fulfilled_at = $5",
                now,
            )
            .await?
        }
        _ => return Ok(r),
    };
    if done.status == "fulfilled" {
        fulfilled(c, &done, now).await?;
    }
    Ok(done)
}

/// Announces a fulfilled reward; an advocate's reward marks its referral `rewarded`.
pub(crate) async fn fulfilled(c: &mut Conn, r: &Reward, now: Millis) -> Result<()> {
    outbox::emit(c, r.workspace_id, "reward.fulfilled", event(r), now).await?;
    if r.beneficiary == "advocate"
        && let Some(referral_id) = r.referral_id
    {
        let changed = sqlx::query(
            "UPDATE referrals SET status = 'rewarded', updated_at = $3 WHERE workspace_id = $1 AND id = $2 AND status = 'qualified'",
        )
        .bind(r.workspace_id)
        .bind(referral_id)
        .bind(now)
        .execute(&mut *c)
        .await?;
        if changed.rows_affected() == 1
            && let Some(referral) = rows::by_id::<Referral>(c, r.workspace_id, referral_id).await?
        {
            outbox::emit(
                c,
                r.workspace_id,
                "referral.rewarded",
                json!({ "referral": referral.public_id, "reward": r.public_id }),
                now,
            )
            .await?;
        }
    }
    Ok(())
}

/// Undoes a reward whose cause was refunded or cancelled: voided while nothing was given,
/// clawed back (a reversing posting, the code's value recorded as lost, the feature revoked)
/// after.
async fn undo_in(
    c: &mut Conn,
    backend: Backend,
    r: Reward,
    why: &str,
    now: Millis,
) -> Result<Reward> {
    let given = r.posted == 1 || r.status == "fulfilled";
    if !OPEN.contains(&r.status.as_str()) && r.status != "fulfilled" {
        return Ok(r);
    }
    if !given {
        let voided = set_state(c, &r, "voided", why, ", ended_at = $5", now).await?;
        outbox::emit(c, r.workspace_id, "reward.voided", event(&voided), now).await?;
        return Ok(voided);
    }
    let mut lost = 0;
    match r.kind.as_str() {
        "credit" | "cash" if r.posted == 1 && r.amount_minor > 0 => {
            let account = holding_account(&r.kind);
            let balance = ledger::balance(
                c,
                backend,
                r.workspace_id,
                account,
                r.customer_id,
                &r.currency,
            )
            .await?;
            let posting = claw_back(&r.kind, r.customer_id, r.amount_minor, balance)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let cause = ledger::Cause {
                key: format!("reward:{}:clawback", r.id),
                kind: "clawback",
                currency: &r.currency,
                reward_id: Some(r.id),
                payout_id: None,
                memo: format!("clawback of {} reward {}: {why}", r.kind, r.public_id),
            };
            ledger::post(c, r.workspace_id, &cause, &posting, now).await?;
        }
        "discount" if pools::redeemed(c, r.id).await? => lost = r.amount_minor,
        "feature" => {
            sqlx::query("UPDATE entitlements SET revoked_at = $3 WHERE workspace_id = $1 AND reward_id = $2 AND revoked_at IS NULL")
                .bind(r.workspace_id)
                .bind(r.id)
                .bind(now)
                .execute(&mut *c)
                .await?;
            outbox::emit(
                c,
                r.workspace_id,
                "entitlement.revoked",
                json!({ "reward": r.public_id }),
                now,
            )
            .await?;
        }
        _ => {}
    }
    let q = rows::returning::<Reward>(
        c,
        "UPDATE rewards SET status = 'clawed_back', reason = $3, lost_value_minor = $4, ended_at = $5, updated_at = $5
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(r.workspace_id)
    .bind(r.id)
    .bind(why.to_string())
    .bind(lost)
    .bind(now);
    let clawed: Reward = rows::written_one(c, q, Some(r.id)).await?;
    outbox::emit(
        c,
        r.workspace_id,
        "reward.clawed_back",
        json!({ "reward": clawed.public_id, "kind": clawed.kind,
        "amount_minor": clawed.amount_minor, "lost_value_minor": lost, "reason": why }),
        now,
    )
    .await?;
    Ok(clawed)
}

/// Undoes what a reversed conversion (and, when it was reversed too, its referral) earned.
pub(crate) async fn on_reversed(
    c: &mut Conn,
    backend: Backend,
    conversion: &Conversion,
    referral: Option<&Referral>,
    now: Millis,
) -> Result<Vec<Reward>> {
    let referral_id = referral
        .filter(|r| r.status == "reversed")
        .map_or(-1, |r| r.id);
    let q = rows::select::<Reward>(
        "WHERE workspace_id = $1 AND (conversion_id = $2 OR referral_id = $3) ORDER BY id",
    )
    .bind(conversion.workspace_id)
    .bind(conversion.id)
    .bind(referral_id);
    let list: Vec<Reward> = rows::fetch_all(c, q).await?;
    let why = format!(
        "conversion {} was refunded or cancelled",
        conversion.external_id
    );
    let mut out = Vec::new();
    for r in list {
        out.push(undo_in(c, backend, r, &why, now).await?);
    }
    Ok(out)
}

pub async fn by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<Reward>> {
    Ok(rows::by_public_id(c, workspace_id, public_id).await?)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<String>,
    pub customer_id: Option<i64>,
    pub program_id: Option<i64>,
    /// Only pending rewards whose hold is over (the approval queue).
    pub awaiting_approval_at: Option<Millis>,
}

/// Rewards of a workspace, newest first.
pub async fn list(
    c: &mut Conn,
    workspace_id: i64,
    f: &Filter,
    before: i64,
    limit: i64,
) -> Result<Vec<Reward>> {
    let q = rows::select::<Reward>(
        "WHERE workspace_id = $1 AND ($2 = '' OR status = $2) AND ($3 = 0 OR customer_id = $3)
           AND ($4 = 0 OR program_id = $4) AND ($5 = 0 OR (status = 'pending' AND hold_until <= $5))
           AND id < $6 ORDER BY id DESC LIMIT $7",
    )
    .bind(workspace_id)
    .bind(f.status.clone().unwrap_or_default())
    .bind(f.customer_id.unwrap_or(0))
    .bind(f.program_id.unwrap_or(0))
    .bind(f.awaiting_approval_at.unwrap_or(0))
    .bind(before)
    .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}

/// What an admin decides about rewards in the approval queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Void,
    /// A perk handed over (the admin's tick).
    Fulfil,
}

/// Decides rewards in bulk, all or nothing: any reward not in the right state refuses the lot
/// with its reason.
pub async fn decide_rewards(
    store: &Store,
    workspace_id: i64,
    public_ids: &[String],
    verdict: Verdict,
    reason: &str,
    actor: &Actor,
) -> Result<Vec<Reward>> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    let mut done = Vec::new();
    for id in public_ids {
        let r = by_public_id(&mut tx, workspace_id, id)
            .await?
            .ok_or(StoreError::NotFound("reward"))?;
        let why = if reason.trim().is_empty() {
            match verdict {
                Verdict::Approve => "approved by an admin",
                Verdict::Void => "voided by an admin",
                Verdict::Fulfil => "handed over by an admin",
            }
        } else {
            reason.trim()
        };
        let updated = match verdict {
            Verdict::Approve => {
                if r.status != "pending" {
                    return Err(StoreError::Rejected(
                        "not_pending",
                        format!("reward {id} is {}, not waiting for approval", r.status),
                    ));
                }
                if now < r.hold_until {
                    return Err(StoreError::Rejected(
                        "on_hold",
                        format!(
                            "reward {id} is on hold until {} (the refund window): approve it after that",
                            vouch_core::clock::rfc3339(r.hold_until)
                        ),
                    ));
                }
                approve_in(&mut tx, store.backend(), r, why, now).await?
            }
            Verdict::Void => {
                if !matches!(r.status.as_str(), "pending" | "pending_stock") {
                    return Err(StoreError::Rejected(
                        "not_pending",
                        format!(
                            "reward {id} is {}: only a reward not yet given can be voided",
                            r.status
                        ),
                    ));
                }
                undo_in(&mut tx, store.backend(), r, why, now).await?
            }
            Verdict::Fulfil => {
                if r.kind != "perk" || r.status != "approved" {
                    return Err(StoreError::Rejected(
                        "not_a_perk",
                        format!(
                            "reward {id} is a {} that is {}: only approved perks are ticked off by hand",
                            r.kind, r.status
                        ),
                    ));
                }
                let f =
                    set_state(&mut tx, &r, "fulfilled", why, ", fulfilled_at = $5", now).await?;
                fulfilled(&mut tx, &f, now).await?;
                f
            }
        };
        audit::record(
            &mut tx,
            workspace_id,
            actor,
            &format!(
                "reward.{}",
                match verdict {
                    Verdict::Approve => "approved",
                    Verdict::Void => "voided",
                    Verdict::Fulfil => "fulfilled",
                }
            ),
            &format!("reward:{id}"),
            json!({ "reason": why }),
            now,
        )
        .await?;
        done.push(updated);
    }
    tx.commit().await?;
    Ok(done)
}

/// Ends the hold of one reward (the `reward.release` job).
pub async fn release(
    store: &Store,
    workspace_id: i64,
    reward_id: i64,
    now: Millis,
) -> Result<Option<Reward>> {
    let mut tx = store.write().await?;
    let Some(r) = rows::by_id::<Reward>(&mut tx, workspace_id, reward_id).await? else {
        return Ok(None);
    };
    let rules = rules_of(&mut tx, r.program_id, r.program_version).await?;
    let r = release_in(&mut tx, store.backend(), &rules, r, now).await?;
    tx.commit().await?;
    Ok(Some(r))
}

/// Ends every hold that is over in a workspace (what the jobs do one by one; also a sweep
/// for rewards whose job was lost to a restore).
pub async fn release_due(store: &Store, workspace_id: i64, now: Millis) -> Result<usize> {
    let ids: Vec<i64> = {
        let mut c = store.read().await?;
        sqlx::query("SELECT id FROM rewards WHERE workspace_id = $1 AND status = 'pending' AND hold_until <= $2 ORDER BY id")
            .bind(workspace_id)
            .bind(now)
            .fetch_all(&mut c)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<sqlx::Result<_>>()?
    };
    let mut n = 0;
    for id in ids {
        if let Some(r) = release(store, workspace_id, id, now).await?
            && r.status != "pending"
        {
            n += 1;
        }
    }
    Ok(n)
}

/// Delivers rewards waiting for codes of `pool_key`, oldest first, while codes last.
pub(crate) async fn restock(
    c: &mut Conn,
    backend: Backend,
    workspace_id: i64,
    pool_key: &str,
    now: Millis,
) -> Result<usize> {
    let q =
        rows::select::<Reward>("WHERE workspace_id = $1 AND status = 'pending_stock' ORDER BY id")
            .bind(workspace_id);
    let waiting: Vec<Reward> = rows::fetch_all(c, q).await?;
    let mut delivered = 0;
    for r in waiting {
        if grant_of(&r)?.pool.as_deref() != Some(pool_key) {
            continue;
        }
        let after = fulfil_in(c, backend, r, now).await?;
        if after.status != "fulfilled" {
            break;
        }
        delivered += 1;
    }
    Ok(delivered)
}

/// Imports codes into a pool and delivers the rewards that were waiting for them.
pub async fn import_codes(
    store: &Store,
    workspace_id: i64,
    pool_public_id: &str,
    codes: &[String],
    actor: &Actor,
) -> Result<(i64, usize)> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    let pool = pools::by_public_id(&mut tx, workspace_id, pool_public_id)
        .await?
        .ok_or(StoreError::NotFound("code pool"))?;
    let added = pools::add_codes(&mut tx, &pool, codes, now).await?;
    let delivered = restock(&mut tx, store.backend(), workspace_id, &pool.key, now).await?;
    audit::record(
        &mut tx,
        workspace_id,
        actor,
        "code_pool.imported",
        &format!("code_pool:{}", pool.public_id),
        json!({ "added": added, "delivered": delivered }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((added, delivered))
}

/// Creates a code pool and delivers rewards that named it before it existed.
pub async fn create_pool(
    store: &Store,
    workspace_id: i64,
    p: &pools::NewPool<'_>,
    actor: &Actor,
) -> Result<crate::rows::CodePool> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    let pool = pools::create(&mut tx, workspace_id, p, now).await?;
    restock(&mut tx, store.backend(), workspace_id, &pool.key, now).await?;
    audit::record(
        &mut tx,
        workspace_id,
        actor,
        "code_pool.created",
        &format!("code_pool:{}", pool.public_id),
        json!({ "key": pool.key }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(pool)
}

/// Features a customer holds now.
pub async fn entitlements(
    c: &mut Conn,
    workspace_id: i64,
    customer_id: i64,
    now: Millis,
) -> Result<Vec<crate::rows::Entitlement>> {
    let q = rows::select::<crate::rows::Entitlement>(
        "WHERE workspace_id = $1 AND customer_id = $2 AND revoked_at IS NULL AND (ends_at IS NULL OR ends_at > $3) ORDER BY id",
    )
    .bind(workspace_id)
    .bind(customer_id)
    .bind(now);
    Ok(rows::fetch_all(c, q).await?)
}

/// What a program's current rules grant an advocate at their `count`-th qualified referral at
/// `at` (campaigns in force then included), for a purchase of `amount_minor`. Changes nothing.
pub async fn preview(
    c: &mut Conn,
    workspace_id: i64,
    program: &crate::rows::Program,
    count: i64,
    at: Millis,
    amount_minor: i64,
) -> Result<Vec<Decision>> {
    let rules = programs::rules_of(&program.rules)?.rewards;
    let in_force = campaigns::in_force(c, workspace_id, program.id, at).await?;
    let none = |_: &str| -> Option<String> { None };
    let occasion = Occasion {
        kind: OccasionKind::Qualified,
        program_id: program.id,
        at,
        amount_minor,
        nth_conversion: 1,
        first_conversion_at: Some(at),
        advocate_qualified: count,
        advocate_attribute: &none,
    };
    Ok(decide(&rules, &occasion, &in_force))
}
