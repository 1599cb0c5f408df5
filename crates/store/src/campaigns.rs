//! Campaigns in the store: scheduled ahead, announced at their edges by jobs the worker runs
//! at the instants themselves (`campaign.started`, `campaign.ended`), and handed to the reward
//! evaluation as the core's `Campaign` while their window and budget last.

use crate::jobs::{self, JobSpec, NewJob};
use crate::rows::{self, CampaignRow, columns};
use crate::{Conn, Millis, Result, Store, StoreError, outbox, programs};
use serde_json::json;
use vouch_core::campaign::{self, Audience, Campaign, Effect, Sides};
use vouch_core::id::time_ordered;

#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub name: String,
    /// What advocates read, e.g. "Double rewards"; the deadline is added to it.
    pub headline: String,
    pub program_public_ids: Vec<String>,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub time_zone: String,
    pub effect: Effect,
    pub stackable: bool,
    pub sides: Sides,
    pub audience: Audience,
    pub budget_minor: Option<i64>,
}

/// The job that announces a campaign's start or end at that instant.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CampaignEdge {
    pub workspace_id: i64,
    pub campaign_id: i64,
    /// `started` or `ended`.
    pub edge: String,
    pub at: Millis,
}

impl JobSpec for CampaignEdge {
    const KIND: &'static str = "campaign.edge";
}

fn invalid(errors: Vec<vouch_core::Invalid>) -> StoreError {
    StoreError::Rejected(
        "invalid",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

async fn schedule_edges(c: &mut Conn, row: &CampaignRow, now: Millis) -> Result<()> {
    for (edge, at) in [("started", row.starts_at), ("ended", row.ends_at)] {
        let job = NewJob::of(&CampaignEdge {
            workspace_id: row.workspace_id,
            campaign_id: row.id,
            edge: edge.into(),
            at,
        })
        .workspace(row.workspace_id)
        .at(at)
        .dedupe(format!("campaign:{}:{edge}:{at}", row.id));
        jobs::enqueue(c, &job, now).await?;
    }
    Ok(())
}

pub async fn create(
    c: &mut Conn,
    workspace_id: i64,
    n: &NewCampaign,
    now: Millis,
) -> Result<CampaignRow> {
    let mut errors = campaign::check(n.starts_at, n.ends_at, &n.effect, n.budget_minor);
    if n.name.trim().is_empty() || n.name.len() > 100 {
        errors.push(vouch_core::Invalid::new("name", "use 1 to 100 characters"));
    }
    if n.headline.chars().count() > 140 {
        errors.push(vouch_core::Invalid::new(
            "headline",
            "use at most 140 characters",
        ));
    }
    if n.program_public_ids.is_empty() {
        errors.push(vouch_core::Invalid::new(
            "programs",
            "choose at least one program",
        ));
    }
    let mut ids = Vec::new();
    for p in &n.program_public_ids {
        match programs::by_public_id(c, workspace_id, p).await? {
            Some(program) => ids.push(program.id),
            None => errors.push(vouch_core::Invalid::new(
                "programs",
                format!("{p} is not a program of this workspace"),
            )),
        }
    }
    if !campaign::known_zone(&n.time_zone) {
        errors.push(vouch_core::Invalid::new(
            "time_zone",
            "use a time zone name such as Europe/Paris",
        ));
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let q = rows::dynamic(format!(
        "INSERT INTO campaigns (workspace_id, public_id, name, headline, program_ids, starts_at, ends_at, time_zone,
            effect, stackable, sides, audience, budget_minor, spent_minor, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $14) RETURNING {}",
        columns::<CampaignRow>()
    ))
    .bind(workspace_id)
    .bind(time_ordered::<8>("cmp_", now))
    .bind(n.name.trim().to_string())
    .bind(n.headline.trim().to_string())
    .bind(serde_json::to_string(&ids).expect("ids serialise"))
    .bind(n.starts_at)
    .bind(n.ends_at)
    .bind(n.time_zone.clone())
    .bind(serde_json::to_string(&n.effect).expect("effect serialises"))
    .bind(i64::from(n.stackable))
    .bind(serde_json::to_value(n.sides).expect("sides serialise").as_str().unwrap_or("advocate").to_string())
    .bind(serde_json::to_string(&n.audience).expect("audience serialises"))
    .bind(n.budget_minor)
    .bind(now);
    let row: CampaignRow = rows::fetch_one(c, q).await?;
    schedule_edges(c, &row, now).await?;
    outbox::emit(
        c,
        workspace_id,
        "campaign.scheduled",
        json!({ "campaign": row.public_id, "starts_at": row.starts_at, "ends_at": row.ends_at }),
        now,
    )
    .await?;
    Ok(row)
}

/// Schedules a campaign as a command: the row, its edge jobs, its audit entry, one transaction.
pub async fn schedule(
    store: &Store,
    workspace_id: i64,
    n: &NewCampaign,
    actor: &crate::audit::Actor,
) -> Result<CampaignRow> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    let row = create(&mut tx, workspace_id, n, now).await?;
    crate::audit::record(
        &mut tx,
        workspace_id,
        actor,
        "campaign.created",
        &format!("campaign:{}", row.public_id),
        json!({ "name": row.name }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Cancels a campaign as a command, with its audit entry.
pub async fn cancel_by(
    store: &Store,
    workspace_id: i64,
    public_id: &str,
    actor: &crate::audit::Actor,
) -> Result<CampaignRow> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    let row = cancel(&mut tx, workspace_id, public_id, now).await?;
    crate::audit::record(
        &mut tx,
        workspace_id,
        actor,
        "campaign.cancelled",
        &format!("campaign:{public_id}"),
        json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Cancels a campaign: it stops applying at once (rewards already issued keep it).
pub async fn cancel(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
    now: Millis,
) -> Result<CampaignRow> {
    let row = by_public_id(c, workspace_id, public_id)
        .await?
        .ok_or(StoreError::NotFound("campaign"))?;
    if row.cancelled_at.is_some() || row.ends_at <= now {
        return Err(StoreError::Rejected(
            "campaign_over",
            "this campaign has already ended".into(),
        ));
    }
    let q = rows::dynamic(format!(
        "UPDATE campaigns SET cancelled_at = $3, updated_at = $3 WHERE workspace_id = $1 AND id = $2 RETURNING {}",
        columns::<CampaignRow>()
    ))
    .bind(workspace_id)
    .bind(row.id)
    .bind(now);
    let updated: CampaignRow = rows::fetch_one(c, q).await?;
    if row.starts_at <= now {
        outbox::emit(
            c,
            workspace_id,
            "campaign.ended",
            json!({ "campaign": row.public_id, "cancelled": true }),
            now,
        )
        .await?;
    }
    Ok(updated)
}

pub async fn by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<CampaignRow>> {
    Ok(rows::by_public_id(c, workspace_id, public_id).await?)
}

/// Campaigns of a workspace by start, those still to come or running first when `upcoming`.
pub async fn list(
    c: &mut Conn,
    workspace_id: i64,
    before: i64,
    limit: i64,
) -> Result<Vec<CampaignRow>> {
    let q = rows::select::<CampaignRow>(
        "WHERE workspace_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(workspace_id)
    .bind(before)
    .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}

/// Where a campaign stands at `now`: `scheduled`, `running`, `ended` or `cancelled`.
pub fn status(row: &CampaignRow, now: Millis) -> &'static str {
    if row.cancelled_at.is_some() {
        "cancelled"
    } else if now < row.starts_at {
        "scheduled"
    } else if now < row.ends_at {
        "running"
    } else {
        "ended"
    }
}

pub fn program_ids(row: &CampaignRow) -> Vec<i64> {
    serde_json::from_str(&row.program_ids).unwrap_or_default()
}

pub fn to_core(row: &CampaignRow) -> Result<Campaign> {
    let corrupt =
        |e: serde_json::Error| StoreError::Corrupt(format!("campaign {}: {e}", row.public_id));
    Ok(Campaign {
        public_id: row.public_id.clone(),
        program_ids: program_ids(row),
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        effect: serde_json::from_str(&row.effect).map_err(corrupt)?,
        stackable: row.stackable == 1,
        sides: serde_json::from_value(json!(row.sides)).map_err(corrupt)?,
        audience: serde_json::from_str(&row.audience).map_err(corrupt)?,
    })
}

/// The campaigns that may apply to `program_id` at `at`: in their window, not cancelled, with
/// budget left.
pub async fn in_force(
    c: &mut Conn,
    workspace_id: i64,
    program_id: i64,
    at: Millis,
) -> Result<Vec<Campaign>> {
    let q = rows::select::<CampaignRow>(
        "WHERE workspace_id = $1 AND starts_at <= $2 AND ends_at > $2 AND cancelled_at IS NULL
           AND (budget_minor IS NULL OR spent_minor < budget_minor) ORDER BY starts_at, id",
    )
    .bind(workspace_id)
    .bind(at);
    let rows: Vec<CampaignRow> = rows::fetch_all(c, q).await?;
    rows.iter()
        .filter(|r| program_ids(r).contains(&program_id))
        .map(to_core)
        .collect()
}

/// Charges what a campaign added to a reward against its budget (a campaign stops applying
/// once spent; the reward that crosses the line is paid in full).
pub async fn charge(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
    extra: i64,
    now: Millis,
) -> Result<()> {
    sqlx::query("UPDATE campaigns SET spent_minor = spent_minor + $3, updated_at = $4 WHERE workspace_id = $1 AND public_id = $2")
        .bind(workspace_id)
        .bind(public_id.to_string())
        .bind(extra)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// What advocates read: "Double rewards until Friday 04 December 18:00".
pub fn headline(row: &CampaignRow) -> String {
    let what = if row.headline.is_empty() {
        match serde_json::from_str::<Effect>(&row.effect) {
            Ok(Effect::Multiplier { bps: 20_000 }) => "Double rewards".to_string(),
            Ok(Effect::Multiplier { bps }) => {
                format!("×{}.{:02} rewards", bps / 10_000, bps % 10_000 / 100)
            }
            Ok(Effect::Bonus { .. }) => "Bonus rewards".to_string(),
            _ => "Better rewards".to_string(),
        }
    } else {
        row.headline.clone()
    };
    format!(
        "{what} until {}",
        campaign::local_text(row.ends_at, &row.time_zone)
    )
}

/// Runs a campaign edge job: announces the start or the end, unless the campaign was cancelled
/// or moved since the job was scheduled.
pub async fn run_edge(store: &Store, job: &CampaignEdge) -> Result<()> {
    let mut tx = store.write().await?;
    let Some(row) = rows::by_id::<CampaignRow>(&mut tx, job.workspace_id, job.campaign_id).await?
    else {
        return Ok(());
    };
    let current = match job.edge.as_str() {
        "started" => row.starts_at,
        _ => row.ends_at,
    };
    if row.cancelled_at.is_some() || current != job.at {
        return Ok(());
    }
    let now = vouch_core::clock::now_ms();
    outbox::emit(
        &mut tx,
        job.workspace_id,
        &format!("campaign.{}", job.edge),
        json!({ "campaign": row.public_id, "name": row.name, "headline": headline(&row), "at": job.at }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
