//! Referrals (advocate → friend) and conversions: one transaction takes a conversion from
//! its external id to a judged referral, with the attribution trace and fraud findings kept
//! beside it. The same external id twice is one conversion; a refund reverses what it touched.

use crate::audit::{self, Actor};
use crate::customers::{self, CustomerInput};
use crate::rows::{self, Conversion, Referral, columns};
use crate::{
    Backend, Conn, Millis, Result, Store, StoreError, advocates, clicks, outbox, programs,
};
use serde_json::json;
use sqlx::Row;
use vouch_core::attribution::{self, Signals, Touch, Trace};
use vouch_core::code::ReferralCode;
use vouch_core::fraud::{self, Facts, Party, Verdict};
use vouch_core::program::{ConversionKind, ProgramRules};
use vouch_core::secret::random_hex;

/// What identifies a friend's advocate, strongest first.
#[derive(Debug, Clone, Default)]
pub struct FriendSignals {
    /// Named outright: an advocate's own submission, or an admin.
    pub advocate_id: Option<i64>,
    pub code: Option<ReferralCode>,
    pub click_id: Option<String>,
    pub visitor_id: Option<String>,
    pub referred_by_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ConversionInput {
    pub external_id: String,
    pub customer: CustomerInput,
    pub kind: ConversionKind,
    pub amount_minor: i64,
    pub currency: String,
    pub signals: FriendSignals,
    pub occurred_at: Millis,
}

/// What recording a conversion did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub conversion: Conversion,
    pub referral: Option<Referral>,
    /// The external id was seen before: nothing changed.
    pub duplicate: bool,
}

pub async fn conversion_by_external_id(
    c: &mut Conn,
    workspace_id: i64,
    external_id: &str,
) -> Result<Option<Conversion>> {
    let q = rows::select::<Conversion>("WHERE workspace_id = $1 AND external_id = $2")
        .bind(workspace_id)
        .bind(external_id.to_string());
    Ok(rows::fetch_optional(c, q).await?)
}

pub async fn conversion_by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<Conversion>> {
    Ok(rows::by_public_id(c, workspace_id, public_id).await?)
}

pub async fn referral_by_id(c: &mut Conn, workspace_id: i64, id: i64) -> Result<Option<Referral>> {
    Ok(rows::by_id(c, workspace_id, id).await?)
}

pub async fn referral_by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<Referral>> {
    Ok(rows::by_public_id(c, workspace_id, public_id).await?)
}

/// Referrals of a workspace, newest first, optionally of one status or one advocate.
pub async fn list_referrals(
    c: &mut Conn,
    workspace_id: i64,
    status: Option<&str>,
    advocate_id: Option<i64>,
    before: i64,
    limit: i64,
) -> Result<Vec<Referral>> {
    let q = rows::select::<Referral>(
        "WHERE workspace_id = $1 AND ($2 = '' OR status = $2) AND ($3 = 0 OR advocate_id = $3) AND id < $4
         ORDER BY id DESC LIMIT $5",
    )
    .bind(workspace_id)
    .bind(status.unwrap_or("").to_string())
    .bind(advocate_id.unwrap_or(0))
    .bind(before)
    .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}

pub async fn list_conversions(
    c: &mut Conn,
    workspace_id: i64,
    before: i64,
    limit: i64,
) -> Result<Vec<Conversion>> {
    let q =
        rows::select::<Conversion>("WHERE workspace_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
            .bind(workspace_id)
            .bind(before)
            .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}

async fn referral_of_friend(
    c: &mut Conn,
    workspace_id: i64,
    friend_customer_id: i64,
) -> Result<Option<Referral>> {
    let q = rows::select::<Referral>(
        "WHERE workspace_id = $1 AND friend_customer_id = $2 ORDER BY id LIMIT 1",
    )
    .bind(workspace_id)
    .bind(friend_customer_id);
    Ok(rows::fetch_optional(c, q).await?)
}

/// A pending referral whose friend's email reaches the same inbox as this friend's.
async fn pending_by_email(
    c: &mut Conn,
    workspace_id: i64,
    friend: &crate::rows::Customer,
) -> Result<Option<Referral>> {
    let Some(key) = friend.email_key.as_deref() else {
        return Ok(None);
    };
    for other in customers::by_email_key(c, workspace_id, key).await? {
        if other.id != friend.id
            && let Some(r) = referral_of_friend(c, workspace_id, other.id).await?
            && r.status == "pending"
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

async fn count(c: &mut Conn, sql: &'static str, a: i64, b: i64, t: Millis) -> Result<i64> {
    let r = sqlx::query(sql)
        .bind(a)
        .bind(b)
        .bind(t)
        .fetch_one(&mut *c)
        .await?;
    Ok(r.try_get("n")?)
}

/// The signals seen for a friend, and the advocate each points at.
async fn gather_signals(c: &mut Conn, workspace_id: i64, input: &FriendSignals) -> Result<Signals> {
    let mut s = Signals::default();
    if let Some(id) = input.advocate_id {
        s.code = advocates::by_id(c, workspace_id, id).await?.map(|a| a.id);
    } else if let Some(code) = &input.code {
        s.code = advocates::by_code(c, workspace_id, code)
            .await?
            .map(|a| a.id);
    }
    let touch = |k: crate::rows::Click| Touch {
        advocate_id: k.advocate_id,
        at: k.created_at,
        click_id: k.public_id,
        qualified: k.qualified == 1,
    };
    if let Some(id) = &input.click_id {
        s.click = clicks::by_public_id(c, workspace_id, id).await?.map(touch);
    }
    if let Some(v) = &input.visitor_id {
        s.visitor_clicks = clicks::by_visitor(c, workspace_id, v)
            .await?
            .into_iter()
            .map(touch)
            .collect();
    }
    if let Some(name) = input
        .referred_by_name
        .as_deref()
        .map(str::trim)
        .filter(|n| n.len() >= 3)
    {
        let rows = sqlx::query(
            "SELECT a.id AS id FROM advocates a JOIN customers cu ON cu.id = a.customer_id
             WHERE a.workspace_id = $1 AND lower(cu.name) = lower($2) LIMIT 2",
        )
        .bind(workspace_id)
        .bind(name.to_string())
        .fetch_all(&mut *c)
        .await?;
        // Only an unambiguous name counts.
        if rows.len() == 1 {
            s.typed_name = Some(rows[0].try_get("id")?);
        }
    }
    Ok(s)
}

/// The advocate a signal would credit first, to choose whose program judges the friend.
fn first_candidate(s: &Signals) -> Option<i64> {
    s.code
        .or(s
            .click
            .as_ref()
            .filter(|t| t.qualified)
            .map(|t| t.advocate_id))
        .or(s
            .visitor_clicks
            .iter()
            .filter(|t| t.qualified)
            .max_by_key(|t| t.at)
            .map(|t| t.advocate_id))
        .or(s.pending_referral.map(|(a, _)| a))
        .or(s.typed_name)
}

/// Keeps only the signals that point at advocates of `program_id`.
async fn within_program(
    c: &mut Conn,
    workspace_id: i64,
    program_id: i64,
    mut s: Signals,
) -> Result<Signals> {
    let mut allowed = std::collections::HashMap::new();
    let mut ids: Vec<i64> = s.visitor_clicks.iter().map(|t| t.advocate_id).collect();
    ids.extend(s.code);
    ids.extend(s.click.as_ref().map(|t| t.advocate_id));
    ids.extend(s.pending_referral.map(|(a, _)| a));
    ids.extend(s.typed_name);
    for id in ids {
        if let std::collections::hash_map::Entry::Vacant(e) = allowed.entry(id) {
            let p = advocates::by_id(c, workspace_id, id)
                .await?
                .map(|a| a.program_id);
            e.insert(p == Some(program_id));
        }
    }
    let ok = |a: &i64| allowed.get(a).copied().unwrap_or(false);
    s.code = s.code.filter(ok);
    s.click = s.click.filter(|t| ok(&t.advocate_id));
    s.visitor_clicks.retain(|t| ok(&t.advocate_id));
    s.pending_referral = s.pending_referral.filter(|(a, _)| ok(a));
    s.typed_name = s.typed_name.filter(ok);
    Ok(s)
}

struct Judged {
    verdict: Verdict,
    findings: Vec<fraud::Finding>,
}

/// What is known of the friend when a referral is judged.
#[derive(Clone, Copy)]
struct Friend<'a> {
    customer: &'a crate::rows::Customer,
    /// The business knew this person before the referral.
    existing: bool,
    /// The IP hash of the click that brought them, if a click did.
    click_ip: Option<&'a str>,
}

async fn judge(
    c: &mut Conn,
    workspace_id: i64,
    rules: &ProgramRules,
    advocate: &crate::rows::Advocate,
    f: &Friend<'_>,
    now: Millis,
) -> Result<Judged> {
    let (friend, friend_existing, click_ip) = (f.customer, f.existing, f.click_ip);
    let adv_customer = customers::by_id(c, workspace_id, advocate.customer_id)
        .await?
        .ok_or(StoreError::NotFound("customer"))?;
    let loop_detected = count(
        c,
        "SELECT COUNT(*) AS n FROM referrals r JOIN advocates a ON a.id = r.advocate_id
         WHERE a.customer_id = $1 AND r.friend_customer_id = $2 AND r.created_at <= $3",
        friend.id,
        adv_customer.id,
        now,
    )
    .await?
        > 0;
    let advocate_today = count(
        c,
        "SELECT COUNT(*) AS n FROM referrals WHERE advocate_id = $1 AND workspace_id = $2 AND created_at > $3",
        advocate.id,
        workspace_id,
        now - 86_400_000,
    )
    .await?;
    let ip_hour = match click_ip {
        Some(ip) => {
            let r = sqlx::query(
                "SELECT COUNT(*) AS n FROM referrals r JOIN clicks k ON k.public_id = r.click_public_id
                 WHERE r.workspace_id = $1 AND k.ip_hash = $2 AND r.created_at > $3",
            )
            .bind(workspace_id)
            .bind(ip.to_string())
            .bind(now - 3_600_000)
            .fetch_one(&mut *c)
            .await?;
            r.try_get::<i64, _>("n")?
        }
        None => 0,
    };
    let party = |cu: &crate::rows::Customer| Party {
        customer_id: cu.id,
        email_key: cu.email_key.clone(),
        external_id: cu.external_id.clone(),
        visitor_ids: Vec::new(),
        ip_hashes: Vec::new(),
    };
    let facts = Facts {
        advocate: party(&adv_customer),
        friend: party(friend),
        friend_existing_customer: friend_existing,
        friend_disposable_email: friend
            .email
            .as_deref()
            .and_then(|e| vouch_core::Email::parse(e).ok())
            .is_some_and(|e| vouch_core::customer::is_disposable(&e)),
        duplicate_friend: false,
        loop_detected,
        advocate_referrals_today: advocate_today,
        ip_referrals_last_hour: ip_hour,
    };
    let (verdict, findings) = fraud::assess(&facts, &rules.fraud);
    Ok(Judged { verdict, findings })
}

#[allow(clippy::too_many_arguments)]
async fn create_referral(
    c: &mut Conn,
    workspace_id: i64,
    program: &crate::rows::Program,
    advocate: &crate::rows::Advocate,
    friend_id: i64,
    source: &str,
    click_public_id: Option<String>,
    judged: &Judged,
    trace: &Trace,
    now: Millis,
) -> Result<Referral> {
    let (status, reason) = match judged.verdict {
        Verdict::Blocked => (
            "rejected",
            judged
                .findings
                .iter()
                .find(|f| f.verdict == Verdict::Blocked)
                .map(|f| f.code.to_string()),
        ),
        _ => ("pending", None),
    };
    let q = rows::dynamic(format!(
        "INSERT INTO referrals (workspace_id, public_id, program_id, program_version, advocate_id, friend_customer_id,
            status, rejection_reason, source, click_public_id, fraud_verdict, fraud_findings, trace, conversions,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $14) RETURNING {}",
        columns::<Referral>()
    ))
    .bind(workspace_id)
    .bind(format!("ref_{}", random_hex::<10>()))
    .bind(program.id)
    .bind(program.version)
    .bind(advocate.id)
    .bind(friend_id)
    .bind(status)
    .bind(reason)
    .bind(source.to_string())
    .bind(click_public_id)
    .bind(judged.verdict.as_str())
    .bind(serde_json::to_string(&judged.findings).expect("findings serialise"))
    .bind(serde_json::to_string(trace).expect("trace serialises"))
    .bind(now);
    let r: Referral = rows::fetch_one(c, q)
        .await
        .map_err(crate::conflict_as("a referral of this friend"))?;
    outbox::emit(c, workspace_id, if status == "rejected" { "referral.rejected" } else { "referral.created" },
        json!({ "referral": r.public_id, "advocate": advocate.public_id, "verdict": r.fraud_verdict, "reason": r.rejection_reason }), now).await?;
    Ok(r)
}

/// Counts a conversion on a referral: pending → converted, and qualified when approved.
async fn count_on(c: &mut Conn, r: &Referral, now: Millis) -> Result<Referral> {
    let status = match (r.status.as_str(), r.fraud_verdict.as_str()) {
        ("pending", "approved") | ("converted", "approved") => "qualified",
        ("pending", _) => "converted",
        (s, _) => s,
    };
    let q = rows::dynamic(format!(
        "UPDATE referrals SET conversions = conversions + 1, status = $3,
            converted_at = COALESCE(converted_at, $4),
            qualified_at = CASE WHEN $3 = 'qualified' THEN COALESCE(qualified_at, $4) ELSE qualified_at END,
            updated_at = $4
         WHERE workspace_id = $1 AND id = $2 RETURNING {}",
        columns::<Referral>()
    ))
    .bind(r.workspace_id)
    .bind(r.id)
    .bind(status.to_string())
    .bind(now);
    let updated: Referral = rows::fetch_one(c, q).await?;
    if updated.status != r.status {
        outbox::emit(
            c,
            r.workspace_id,
            &format!("referral.{}", updated.status),
            json!({ "referral": updated.public_id }),
            now,
        )
        .await?;
    }
    Ok(updated)
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(a), serde_json::Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// Attributes a friend who has no referral yet and, when an advocate wins, creates the judged
/// referral. `source` overrides how the friend was identified (a submission, an admin).
async fn attribute_friend(
    tx: &mut Conn,
    workspace_id: i64,
    friend: &Friend<'_>,
    input: &FriendSignals,
    source: Option<&str>,
    now: Millis,
) -> Result<(Option<Referral>, serde_json::Value)> {
    let mut trace_json = json!({});
    let signals = gather_signals(tx, workspace_id, input).await?;
    let program = match first_candidate(&signals) {
        Some(a) => match advocates::by_id(tx, workspace_id, a).await? {
            Some(adv) => programs::by_id(tx, workspace_id, adv.program_id).await?,
            None => None,
        },
        None => None,
    };
    let Some(program) = program else {
        let trace = attribution::attribute(
            &signals,
            vouch_core::program::Model::LastTouch,
            30 * 86_400_000,
            now,
            false,
        );
        trace_json["attribution"] = json!(trace);
        return Ok((None, trace_json));
    };
    let rules = programs::rules_of(&program.rules)?;
    let signals = within_program(tx, workspace_id, program.id, signals).await?;
    let trace = attribution::attribute(
        &signals,
        rules.attribution_model,
        rules.window_ms(),
        now,
        rules.credit_typed_names,
    );
    trace_json["attribution"] = json!(trace);
    if program.status != "active" {
        trace_json["explanation"] = json!(format!(
            "program {} is {}: no credit",
            program.public_id, program.status
        ));
        return Ok((None, trace_json));
    }
    let (Some(advocate_id), Some(winner)) = (trace.advocate_id, trace.winner) else {
        return Ok((None, trace_json));
    };
    let advocate = advocates::by_id(tx, workspace_id, advocate_id)
        .await?
        .ok_or(StoreError::NotFound("advocate"))?;
    let click = match winner {
        attribution::Signal::ClickId => input.click_id.clone(),
        attribution::Signal::Visitor => trace
            .seen
            .iter()
            .find(|s| s.status == attribution::Status::Used)
            .and_then(|s| s.click_id.clone()),
        _ => None,
    };
    let click_ip = match &click {
        Some(id) => clicks::by_public_id(tx, workspace_id, id)
            .await?
            .map(|k| k.ip_hash),
        None => None,
    };
    let f = Friend {
        click_ip: click_ip.as_deref(),
        ..*friend
    };
    let judged = judge(tx, workspace_id, &rules, &advocate, &f, now).await?;
    let source = source.unwrap_or(match winner {
        attribution::Signal::Code => "code",
        attribution::Signal::ClickId | attribution::Signal::Visitor => "link",
        attribution::Signal::EmailMatch => "email_match",
        attribution::Signal::TypedName => "typed_name",
    });
    let r = create_referral(
        tx,
        workspace_id,
        &program,
        &advocate,
        f.customer.id,
        source,
        click,
        &judged,
        &trace,
        now,
    )
    .await?;
    Ok((Some(r), trace_json))
}

/// Serialises conversions of one external id on PostgreSQL (SQLite writers are serial already),
/// so 50 simultaneous deliveries of one order make one conversion.
async fn lock_external_id(
    c: &mut Conn,
    backend: Backend,
    workspace_id: i64,
    external_id: &str,
) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, $2))) AS l")
            .bind(external_id.to_string())
            .bind(workspace_id)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

fn kind_str(k: ConversionKind) -> &'static str {
    match k {
        ConversionKind::FirstPurchase => "first_purchase",
        ConversionKind::EveryPurchase => "purchase",
        ConversionKind::SubscriptionStart => "subscription_start",
        ConversionKind::DealWon => "deal_won",
    }
}

pub async fn record_conversion(
    store: &Store,
    workspace_id: i64,
    input: &ConversionInput,
    actor: &Actor,
) -> Result<Recorded> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    lock_external_id(&mut tx, store.backend(), workspace_id, &input.external_id).await?;
    if let Some(existing) =
        conversion_by_external_id(&mut tx, workspace_id, &input.external_id).await?
    {
        let referral = match existing.referral_id {
            Some(id) => referral_by_id(&mut tx, workspace_id, id).await?,
            None => None,
        };
        return Ok(Recorded {
            conversion: existing,
            referral,
            duplicate: true,
        });
    }
    let existed = customers::find(&mut tx, workspace_id, &input.customer)
        .await?
        .is_some();
    let (friend, _) = customers::upsert(&mut tx, workspace_id, &input.customer, now).await?;
    let earlier: i64 = sqlx::query("SELECT COUNT(*) AS n FROM conversions WHERE workspace_id = $1 AND customer_id = $2 AND status <> 'reversed'")
        .bind(workspace_id)
        .bind(friend.id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
    // A friend the business already knew (imported, or who bought before) is not new business.
    let friend_existing = existed && (earlier > 0 || friend.created_from == "import");

    let mut referral = referral_of_friend(&mut tx, workspace_id, friend.id).await?;
    let mut trace_json = json!({});
    if referral.is_none() {
        referral = pending_by_email(&mut tx, workspace_id, &friend).await?;
        if let Some(r) = &referral {
            trace_json["explanation"] = json!(format!(
                "the friend's email matches the friend of pending referral {} (same inbox: +tags and Gmail dots folded)",
                r.public_id
            ));
            trace_json["signal"] = json!("email_match");
        }
    } else if let Some(r) = &referral {
        trace_json["explanation"] = json!(format!(
            "the friend already has referral {} (status {})",
            r.public_id, r.status
        ));
    }
    let mut created = false;
    if referral.is_none() {
        let f = Friend {
            customer: &friend,
            existing: friend_existing,
            click_ip: None,
        };
        let (r, attribution) =
            attribute_friend(&mut tx, workspace_id, &f, &input.signals, None, now).await?;
        merge(&mut trace_json, attribution);
        created = r.is_some();
        referral = r;
    }

    // Does this conversion count under the referral's program rules?
    let mut status = "unattributed";
    if let Some(r) = referral.clone() {
        let rules = match programs::version(&mut tx, r.program_id, r.program_version).await? {
            Some(v) => programs::rules_of(&v.rules)?,
            None => {
                return Err(StoreError::Corrupt(
                    "referral without its program version".into(),
                ));
            }
        };
        let open = matches!(r.status.as_str(), "pending" | "converted" | "qualified");
        if open && rules.counts(input.kind, input.amount_minor, r.conversions) {
            referral = Some(count_on(&mut tx, &r, now).await?);
            status = "attributed";
            trace_json["counted"] = json!(true);
        } else {
            status = "not_counted";
            trace_json["counted"] = json!(false);
            trace_json["reason"] = json!(if open {
                "the program's conversion rule does not count this conversion (kind, minimum amount or count)".to_string()
            } else {
                format!(
                    "the referral is {}{}",
                    r.status,
                    r.rejection_reason
                        .as_deref()
                        .map(|x| format!(" ({x})"))
                        .unwrap_or_default()
                )
            });
        }
    }
    let q = rows::dynamic(format!(
        "INSERT INTO conversions (workspace_id, public_id, external_id, customer_id, kind, amount_minor, currency,
            referral_id, status, trace, occurred_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {}",
        columns::<Conversion>()
    ))
    .bind(workspace_id)
    .bind(format!("cnv_{}", random_hex::<10>()))
    .bind(input.external_id.clone())
    .bind(friend.id)
    .bind(kind_str(input.kind))
    .bind(input.amount_minor)
    .bind(input.currency.clone())
    .bind(referral.as_ref().map(|r| r.id))
    .bind(status)
    .bind(trace_json.to_string())
    .bind(input.occurred_at)
    .bind(now);
    let conversion: Conversion = rows::fetch_one(&mut tx, q).await?;
    audit::record(&mut tx, workspace_id, actor, "conversion.recorded", &format!("conversion:{}", conversion.public_id),
        json!({ "external_id": conversion.external_id, "status": conversion.status, "referral_created": created }), now).await?;
    outbox::emit(&mut tx, workspace_id, "conversion.recorded",
        json!({ "conversion": conversion.public_id, "external_id": conversion.external_id, "status": conversion.status,
                "referral": referral.as_ref().map(|r| r.public_id.clone()) }), now).await?;
    tx.commit().await?;
    Ok(Recorded {
        conversion,
        referral,
        duplicate: false,
    })
}

/// Reverses a conversion (refund or cancellation): idempotent by the original external id.
pub async fn reverse_conversion(
    store: &Store,
    workspace_id: i64,
    external_id: &str,
    reversal_external_id: &str,
    actor: &Actor,
) -> Result<Recorded> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    lock_external_id(&mut tx, store.backend(), workspace_id, external_id).await?;
    let conv = conversion_by_external_id(&mut tx, workspace_id, external_id)
        .await?
        .ok_or(StoreError::NotFound("conversion"))?;
    let mut referral = match conv.referral_id {
        Some(id) => referral_by_id(&mut tx, workspace_id, id).await?,
        None => None,
    };
    if conv.status == "reversed" {
        return Ok(Recorded {
            conversion: conv,
            referral,
            duplicate: true,
        });
    }
    let q = rows::dynamic(format!(
        "UPDATE conversions SET status = 'reversed', reversed_at = $3, reversal_external_id = $4
         WHERE workspace_id = $1 AND id = $2 RETURNING {}",
        columns::<Conversion>()
    ))
    .bind(workspace_id)
    .bind(conv.id)
    .bind(now)
    .bind(reversal_external_id.to_string());
    let reversed: Conversion = rows::fetch_one(&mut tx, q).await?;
    if conv.status == "attributed"
        && let Some(r) = &referral
    {
        let left = (r.conversions - 1).max(0);
        let status = if left == 0 && matches!(r.status.as_str(), "converted" | "qualified") {
            "reversed"
        } else {
            r.status.as_str()
        };
        let q = rows::dynamic(format!(
            "UPDATE referrals SET conversions = $3, status = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2 RETURNING {}",
            columns::<Referral>()
        ))
        .bind(workspace_id)
        .bind(r.id)
        .bind(left)
        .bind(status.to_string())
        .bind(now);
        let updated: Referral = rows::fetch_one(&mut tx, q).await?;
        if updated.status == "reversed" && r.status != "reversed" {
            outbox::emit(
                &mut tx,
                workspace_id,
                "referral.reversed",
                json!({ "referral": updated.public_id, "conversion": reversed.public_id }),
                now,
            )
            .await?;
        }
        referral = Some(updated);
    }
    audit::record(
        &mut tx,
        workspace_id,
        actor,
        "conversion.reversed",
        &format!("conversion:{}", reversed.public_id),
        json!({ "external_id": external_id, "reversal": reversal_external_id }),
        now,
    )
    .await?;
    outbox::emit(
        &mut tx,
        workspace_id,
        "conversion.reversed",
        json!({ "conversion": reversed.public_id, "external_id": external_id }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Recorded {
        conversion: reversed,
        referral,
        duplicate: false,
    })
}

/// How a friend became known without a purchase yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identified {
    /// A sign-up or lead from the business's site, carrying a click id, cookie or code.
    Signup,
    /// The advocate's own "refer a friend" form, with the friend's consent.
    Submission,
    /// An admin, by hand.
    Admin,
}

impl Identified {
    fn source(self) -> Option<&'static str> {
        match self {
            Identified::Signup => None,
            Identified::Submission => Some("submission"),
            Identified::Admin => Some("admin"),
        }
    }
}

/// Identifies a friend before any conversion: creates the pending (judged) referral when an
/// advocate is credited. A friend already referred in the program is `already_referred`.
/// Returns the referral, the trace, and whether this call created the referral.
pub async fn identify_friend(
    store: &Store,
    workspace_id: i64,
    friend: &CustomerInput,
    signals: &FriendSignals,
    how: Identified,
    actor: &Actor,
) -> Result<(Option<Referral>, serde_json::Value, bool)> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    let existed = customers::find(&mut tx, workspace_id, friend)
        .await?
        .is_some();
    let (customer, _) = customers::upsert(&mut tx, workspace_id, friend, now).await?;
    if let Some(r) = referral_of_friend(&mut tx, workspace_id, customer.id).await? {
        let same = signals.advocate_id == Some(r.advocate_id);
        if same {
            return Ok((
                Some(r),
                json!({ "explanation": "this friend was already referred by this advocate" }),
                false,
            ));
        }
        return Err(StoreError::Rejected(
            "already_referred",
            format!(
                "this friend was already referred (referral {}); the first referral keeps the credit",
                r.public_id
            ),
        ));
    }
    let f = Friend {
        customer: &customer,
        existing: existed && customer.created_from == "import",
        click_ip: None,
    };
    let (referral, trace) =
        attribute_friend(&mut tx, workspace_id, &f, signals, how.source(), now).await?;
    if let Some(r) = &referral {
        audit::record(
            &mut tx,
            workspace_id,
            actor,
            "referral.identified",
            &format!("referral:{}", r.public_id),
            json!({ "how": r.source, "status": r.status, "verdict": r.fraud_verdict }),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    let created = referral.is_some();
    Ok((referral, trace, created))
}

/// A reviewer's decision on flagged referrals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// Flagged referrals waiting for a person, oldest first.
pub async fn review_queue(
    c: &mut Conn,
    workspace_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<Referral>> {
    let q = rows::select::<Referral>(
        "WHERE workspace_id = $1 AND fraud_verdict = 'flagged' AND status IN ('pending', 'converted') AND id > $2
         ORDER BY id LIMIT $3",
    )
    .bind(workspace_id)
    .bind(after)
    .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}

/// Decides flagged referrals in bulk, all or nothing: approved ones qualify if they converted,
/// rejected ones keep the reviewer's reason. Any id that is not waiting for review refuses the lot.
pub async fn review(
    store: &Store,
    workspace_id: i64,
    public_ids: &[String],
    decision: Decision,
    reason: &str,
    actor: &Actor,
) -> Result<Vec<Referral>> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    let mut done = Vec::new();
    for id in public_ids {
        let r = referral_by_public_id(&mut tx, workspace_id, id)
            .await?
            .ok_or(StoreError::NotFound("referral"))?;
        if r.fraud_verdict != "flagged" || !matches!(r.status.as_str(), "pending" | "converted") {
            return Err(StoreError::Refused(format!(
                "referral {id} is not waiting for review (it is {} and {})",
                r.status, r.fraud_verdict
            )));
        }
        let mut findings: serde_json::Value =
            serde_json::from_str(&r.fraud_findings).unwrap_or(json!([]));
        if let Some(list) = findings.as_array_mut() {
            list.push(json!({ "code": "manual_review", "verdict": if decision == Decision::Approve { "approved" } else { "blocked" }, "detail": reason }));
        }
        let (verdict, status, rejection) = match decision {
            Decision::Approve => (
                "approved",
                if r.status == "converted" {
                    "qualified"
                } else {
                    "pending"
                },
                None,
            ),
            Decision::Reject => ("blocked", "rejected", Some("manual_review")),
        };
        let q = rows::dynamic(format!(
            "UPDATE referrals SET fraud_verdict = $3, status = $4, rejection_reason = $5, fraud_findings = $6,
                qualified_at = CASE WHEN $4 = 'qualified' THEN $7 ELSE qualified_at END, updated_at = $7
             WHERE workspace_id = $1 AND id = $2 RETURNING {}",
            columns::<Referral>()
        ))
        .bind(workspace_id)
        .bind(r.id)
        .bind(verdict)
        .bind(status)
        .bind(rejection)
        .bind(findings.to_string())
        .bind(now);
        let updated: Referral = rows::fetch_one(&mut tx, q).await?;
        audit::record(
            &mut tx,
            workspace_id,
            actor,
            "referral.reviewed",
            &format!("referral:{id}"),
            json!({ "decision": verdict, "reason": reason }),
            now,
        )
        .await?;
        outbox::emit(
            &mut tx,
            workspace_id,
            &format!("referral.{}", updated.status),
            json!({ "referral": updated.public_id, "review": verdict }),
            now,
        )
        .await?;
        done.push(updated);
    }
    tx.commit().await?;
    Ok(done)
}

/// Gives a referral to another advocate of the same program, by hand, with a reason.
pub async fn reattribute(
    store: &Store,
    workspace_id: i64,
    public_id: &str,
    advocate_public_id: &str,
    reason: &str,
    actor: &Actor,
) -> Result<Referral> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    let r = referral_by_public_id(&mut tx, workspace_id, public_id)
        .await?
        .ok_or(StoreError::NotFound("referral"))?;
    let to = advocates::by_public_id(&mut tx, workspace_id, advocate_public_id)
        .await?
        .ok_or(StoreError::NotFound("advocate"))?;
    if to.program_id != r.program_id {
        return Err(StoreError::Refused(
            "the advocate belongs to another program".into(),
        ));
    }
    let from = advocates::by_id(&mut tx, workspace_id, r.advocate_id)
        .await?
        .map(|a| a.public_id)
        .unwrap_or_default();
    let mut trace: serde_json::Value = serde_json::from_str(&r.trace).unwrap_or(json!({}));
    trace["manual"] =
        json!({ "from": from, "to": to.public_id, "reason": reason, "at": now, "by": actor.label });
    let q = rows::dynamic(format!(
        "UPDATE referrals SET advocate_id = $3, source = 'admin', trace = $4, updated_at = $5
         WHERE workspace_id = $1 AND id = $2 RETURNING {}",
        columns::<Referral>()
    ))
    .bind(workspace_id)
    .bind(r.id)
    .bind(to.id)
    .bind(trace.to_string())
    .bind(now);
    let updated: Referral = rows::fetch_one(&mut tx, q).await?;
    audit::record(
        &mut tx,
        workspace_id,
        actor,
        "referral.reattributed",
        &format!("referral:{public_id}"),
        json!({ "from": from, "to": to.public_id, "reason": reason }),
        now,
    )
    .await?;
    outbox::emit(
        &mut tx,
        workspace_id,
        "referral.reattributed",
        json!({ "referral": public_id, "advocate": to.public_id }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}
