//! Referrals (advocate → friend): finding a friend's advocate from the signals seen, judging
//! the referral (fraud findings) and keeping the attribution trace beside it. Conversions,
//! identification before a purchase, and review build on this.

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
use vouch_core::id::time_ordered;
use vouch_core::program::{ConversionKind, ProgramRules};

/// What identifies a friend's advocate, strongest first.
mod conversions;
mod identify;
mod review;

pub use conversions::*;
pub use identify::*;
pub use review::*;

#[derive(Debug, Clone, Default)]
pub struct FriendSignals {
    /// Named outright: an advocate's own submission, or an admin.
    pub advocate_id: Option<i64>,
    pub code: Option<ReferralCode>,
    pub click_id: Option<String>,
    pub visitor_id: Option<String>,
    pub referred_by_name: Option<String>,
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

/// Which referrals a list shows; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct ReferralFilter {
    pub status: Option<String>,
    pub advocate_id: Option<i64>,
    pub program_id: Option<i64>,
    /// Created at or after this instant.
    pub from: Option<Millis>,
    /// Created before this instant.
    pub until: Option<Millis>,
}

/// Referrals of a workspace, newest first.
pub async fn list_referrals(
    c: &mut Conn,
    workspace_id: i64,
    f: &ReferralFilter,
    before: i64,
    limit: i64,
) -> Result<Vec<Referral>> {
    let q = rows::select::<Referral>(
        "WHERE workspace_id = $1 AND ($2 = '' OR status = $2) AND ($3 = 0 OR advocate_id = $3)
           AND ($4 = 0 OR program_id = $4) AND created_at >= $5 AND created_at < $6 AND id < $7
         ORDER BY id DESC LIMIT $8",
    )
    .bind(workspace_id)
    .bind(f.status.clone().unwrap_or_default())
    .bind(f.advocate_id.unwrap_or(0))
    .bind(f.program_id.unwrap_or(0))
    .bind(f.from.unwrap_or(i64::MIN))
    .bind(f.until.unwrap_or(i64::MAX))
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

/// The `n` of a `SELECT COUNT(*) AS n …` query.
async fn count(c: &mut Conn, q: rows::AnyQuery) -> Result<i64> {
    Ok(q.fetch_one(&mut *c).await?.try_get("n")?)
}

/// The advocates one attribution reads, each read once: the signals, the program's choice and
/// the winner often name the same advocate.
#[derive(Default)]
struct Advocates(std::collections::HashMap<i64, Option<crate::rows::Advocate>>);

impl Advocates {
    async fn get(
        &mut self,
        c: &mut Conn,
        workspace_id: i64,
        id: i64,
    ) -> Result<Option<crate::rows::Advocate>> {
        if let Some(known) = self.0.get(&id) {
            return Ok(known.clone());
        }
        let a = advocates::by_id(c, workspace_id, id).await?;
        self.0.insert(id, a.clone());
        Ok(a)
    }

    fn remember(&mut self, a: Option<crate::rows::Advocate>) -> Option<i64> {
        let id = a.as_ref().map(|a| a.id);
        if let Some(a) = a {
            self.0.insert(a.id, Some(a));
        }
        id
    }
}

/// The signals seen for a friend, and the advocate each points at.
async fn gather_signals(
    c: &mut Conn,
    workspace_id: i64,
    input: &FriendSignals,
    seen: &mut Advocates,
) -> Result<Signals> {
    let mut s = Signals::default();
    if let Some(id) = input.advocate_id {
        s.code = seen.get(c, workspace_id, id).await?.map(|a| a.id);
    } else if let Some(code) = &input.code {
        s.code = seen.remember(advocates::by_code(c, workspace_id, code).await?);
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
    seen: &mut Advocates,
) -> Result<Signals> {
    let mut allowed = std::collections::HashMap::new();
    let mut ids: Vec<i64> = s.visitor_clicks.iter().map(|t| t.advocate_id).collect();
    ids.extend(s.code);
    ids.extend(s.click.as_ref().map(|t| t.advocate_id));
    ids.extend(s.pending_referral.map(|(a, _)| a));
    ids.extend(s.typed_name);
    for id in ids {
        if let std::collections::hash_map::Entry::Vacant(e) = allowed.entry(id) {
            let p = seen.get(c, workspace_id, id).await?.map(|a| a.program_id);
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
    /// The browsers (visitor ids) the friend was seen with.
    visitors: &'a [String],
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
    // Has the friend referred this advocate before? Through the friend's referrals in this
    // workspace (an index search), not every referral there is.
    let loop_detected = count(
        c,
        sqlx::query(
            "SELECT COUNT(*) AS n FROM referrals r JOIN advocates a ON a.id = r.advocate_id
             WHERE r.workspace_id = $1 AND r.friend_customer_id = $2 AND a.customer_id = $3
               AND r.created_at <= $4",
        )
        .bind(workspace_id)
        .bind(adv_customer.id)
        .bind(friend.id)
        .bind(now),
    )
    .await?
        > 0;
    let advocate_today = count(
        c,
        sqlx::query(
            "SELECT COUNT(*) AS n FROM referrals WHERE advocate_id = $1 AND workspace_id = $2 AND created_at > $3",
        )
        .bind(advocate.id)
        .bind(workspace_id)
        .bind(now - 86_400_000),
    )
    .await?;
    let ip_hour = match click_ip {
        Some(ip) => {
            count(
                c,
                sqlx::query(
                    "SELECT COUNT(*) AS n FROM referrals r JOIN clicks k ON k.public_id = r.click_public_id
                     WHERE r.workspace_id = $1 AND k.ip_hash = $2 AND r.created_at > $3",
                )
                .bind(workspace_id)
                .bind(ip.to_string())
                .bind(now - 3_600_000),
            )
            .await?
        }
        None => 0,
    };
    let party =
        |cu: &crate::rows::Customer, visitor_ids: Vec<String>, ip_hashes: Vec<String>| Party {
            customer_id: cu.id,
            email_key: cu.email_key.clone(),
            external_id: cu.external_id.clone(),
            visitor_ids,
            ip_hashes,
        };
    let advocate_visitors = advocates::visitors_of(c, workspace_id, advocate.id).await?;
    // The addresses the advocate's browsers were seen from, against the friend's click.
    let advocate_ips = match click_ip {
        Some(_) => advocates::ips_of(c, workspace_id, advocate.id).await?,
        None => Vec::new(),
    };
    let facts = Facts {
        advocate: party(&adv_customer, advocate_visitors, advocate_ips),
        friend: party(
            friend,
            f.visitors.to_vec(),
            click_ip.map(str::to_string).into_iter().collect(),
        ),
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
    let q = rows::returning::<Referral>(
        c,
        "INSERT INTO referrals (workspace_id, public_id, program_id, program_version, advocate_id, friend_customer_id,
            status, rejection_reason, source, click_public_id, fraud_verdict, fraud_findings, trace, conversions,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $14)",
    )
    .bind(workspace_id)
    .bind(time_ordered::<8>("ref_", now))
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
    let r: Referral = rows::written_one(c, q, None)
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
    let q = rows::returning::<Referral>(
        c,
        "UPDATE referrals SET conversions = conversions + 1, status = $3,
            converted_at = COALESCE(converted_at, $4),
            qualified_at = CASE WHEN $3 = 'qualified' THEN COALESCE(qualified_at, $4) ELSE qualified_at END,
            updated_at = $4
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(r.workspace_id)
    .bind(r.id)
    .bind(status.to_string())
    .bind(now);
    let updated: Referral = rows::written_one(c, q, Some(r.id)).await?;
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
    let mut seen = Advocates::default();
    let signals = gather_signals(tx, workspace_id, input, &mut seen).await?;
    let program = match first_candidate(&signals) {
        Some(a) => match seen.get(tx, workspace_id, a).await? {
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
    let signals = within_program(tx, workspace_id, program.id, signals, &mut seen).await?;
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
    let advocate = seen
        .get(tx, workspace_id, advocate_id)
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
    let clicked = match &click {
        Some(id) => clicks::by_public_id(tx, workspace_id, id).await?,
        None => None,
    };
    // The friend's browsers: the one they said they have, and the one the winning click came from.
    let mut visitors: Vec<String> = input.visitor_id.iter().cloned().collect();
    visitors.extend(clicked.as_ref().map(|k| k.visitor_id.clone()));
    let f = Friend {
        click_ip: clicked.as_ref().map(|k| k.ip_hash.as_str()),
        visitors: &visitors,
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
