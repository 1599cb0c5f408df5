//! Conversions: one transaction from an external id to a judged, counted referral; the same
//! external id twice is one conversion, and a refund or cancellation reverses what it touched.

use super::*;
use crate::commands::{Change, record_change};
use crate::rewards;

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
    /// Rewards this call issued, voided or clawed back.
    pub rewards: Vec<crate::rows::Reward>,
}

/// What a refund or cancellation did.
#[derive(Debug, Clone)]
pub enum Reversal {
    Applied(Box<Recorded>),
    /// The conversion has not arrived yet: the reversal is kept and applied when it does, so
    /// the outcome does not depend on the order deliveries arrive in.
    Held,
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
            rewards: Vec::new(),
        });
    }
    let (friend, created) = customers::upsert(&mut tx, workspace_id, &input.customer, now).await?;
    // A friend the business already knew (imported, or who bought before) is not new business.
    let friend_existing = !created
        && (friend.created_from == "import"
            || count(
                &mut tx,
                sqlx::query(
                    "SELECT COUNT(*) AS n FROM conversions WHERE workspace_id = $1 AND customer_id = $2 AND status <> 'reversed'",
                )
                .bind(workspace_id)
                .bind(friend.id),
            )
            .await?
                > 0);

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
    let mut issued = Vec::new();
    if referral.is_none() {
        let f = Friend {
            customer: &friend,
            existing: friend_existing,
            click_ip: None,
            visitors: &[],
        };
        let (r, attribution) =
            attribute_friend(&mut tx, workspace_id, &f, &input.signals, None, now).await?;
        merge(&mut trace_json, attribution);
        created = r.is_some();
        if let Some(r) = &r {
            issued.extend(rewards::on_identified(&mut tx, store.backend(), r, now).await?);
        }
        referral = r;
    }

    // Does this conversion count under the referral's program rules?
    let mut status = "unattributed";
    let mut counted_from = None;
    if let Some(r) = referral.clone() {
        let rules = match programs::version(&mut tx, r.program_id, r.program_version).await? {
            Some(v) => programs::rules_of(&v.rules)?,
            None => {
                return Err(StoreError::Corrupt(
                    "referral without its program version".into(),
                ));
            }
        };
        let open = matches!(
            r.status.as_str(),
            "pending" | "converted" | "qualified" | "rewarded"
        );
        if open && rules.counts(input.kind, input.amount_minor, r.conversions) {
            counted_from = Some(r.status.clone());
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
    let q = rows::returning::<Conversion>(
        &tx,
        "INSERT INTO conversions (workspace_id, public_id, external_id, customer_id, kind, amount_minor, currency,
            referral_id, status, trace, occurred_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(workspace_id)
    .bind(time_ordered::<8>("cnv_", now))
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
    let conversion: Conversion = rows::written_one(&mut tx, q, None).await?;
    record_change(&mut tx, workspace_id, actor, Change {
        action: "conversion.recorded",
        target: format!("conversion:{}", conversion.public_id),
        details: json!({ "external_id": conversion.external_id, "status": conversion.status, "referral_created": created }),
        event: json!({ "conversion": conversion.public_id, "external_id": conversion.external_id, "status": conversion.status,
                "referral": referral.as_ref().map(|r| r.public_id.clone()) }),
    }, now).await?;
    if let (Some(before), Some(r)) = (&counted_from, &referral) {
        issued.extend(
            rewards::on_counted(&mut tx, store.backend(), before, r, &conversion, now).await?,
        );
    }
    let early = sqlx::query(
        "SELECT reversal_external_id FROM early_reversals WHERE workspace_id = $1 AND external_id = $2",
    )
    .bind(workspace_id)
    .bind(input.external_id.clone())
    .fetch_optional(&mut *tx)
    .await?;
    let recorded = match early {
        Some(row) => {
            let reversal: String = row.try_get("reversal_external_id")?;
            let mut r =
                reverse_in(&mut tx, store.backend(), conversion, &reversal, actor, now).await?;
            // Each reward once, in its final state.
            for undone in std::mem::take(&mut r.rewards) {
                match issued.iter_mut().find(|w| w.id == undone.id) {
                    Some(w) => *w = undone,
                    None => issued.push(undone),
                }
            }
            r.rewards = issued;
            r
        }
        None => Recorded {
            conversion,
            referral,
            duplicate: false,
            rewards: issued,
        },
    };
    tx.commit().await?;
    Ok(recorded)
}

/// Reverses a conversion (refund or cancellation): idempotent by the original external id.
/// A reversal of a conversion not seen yet is held and applied when the conversion arrives.
pub async fn reverse_conversion(
    store: &Store,
    workspace_id: i64,
    external_id: &str,
    reversal_external_id: &str,
    actor: &Actor,
) -> Result<Reversal> {
    let now = vouch_core::clock::now_ms();
    let mut tx = store.write().await?;
    lock_external_id(&mut tx, store.backend(), workspace_id, external_id).await?;
    let Some(conv) = conversion_by_external_id(&mut tx, workspace_id, external_id).await? else {
        sqlx::query(
            "INSERT INTO early_reversals (workspace_id, external_id, reversal_external_id, received_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, external_id) DO NOTHING",
        )
        .bind(workspace_id)
        .bind(external_id.to_string())
        .bind(reversal_external_id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Reversal::Held);
    };
    let r = reverse_in(
        &mut tx,
        store.backend(),
        conv,
        reversal_external_id,
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Reversal::Applied(Box::new(r)))
}

async fn reverse_in(
    tx: &mut Conn,
    backend: Backend,
    conv: Conversion,
    reversal_external_id: &str,
    actor: &Actor,
    now: Millis,
) -> Result<Recorded> {
    let workspace_id = conv.workspace_id;
    let external_id = conv.external_id.clone();
    let mut referral = match conv.referral_id {
        Some(id) => referral_by_id(tx, workspace_id, id).await?,
        None => None,
    };
    if conv.status == "reversed" {
        return Ok(Recorded {
            conversion: conv,
            referral,
            duplicate: true,
            rewards: Vec::new(),
        });
    }
    let q = rows::returning::<Conversion>(
        tx,
        "UPDATE conversions SET status = 'reversed', reversed_at = $3, reversal_external_id = $4
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(conv.id)
    .bind(now)
    .bind(reversal_external_id.to_string());
    let reversed: Conversion = rows::written_one(tx, q, Some(conv.id)).await?;
    if conv.status == "attributed"
        && let Some(r) = &referral
    {
        let left = (r.conversions - 1).max(0);
        let status =
            if left == 0 && matches!(r.status.as_str(), "converted" | "qualified" | "rewarded") {
                "reversed"
            } else {
                r.status.as_str()
            };
        let q = rows::returning::<Referral>(
            tx,
            "UPDATE referrals SET conversions = $3, status = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(workspace_id)
        .bind(r.id)
        .bind(left)
        .bind(status.to_string())
        .bind(now);
        let updated: Referral = rows::written_one(tx, q, Some(r.id)).await?;
        if updated.status == "reversed" && r.status != "reversed" {
            outbox::emit(
                tx,
                workspace_id,
                "referral.reversed",
                json!({ "referral": updated.public_id, "conversion": reversed.public_id }),
                now,
            )
            .await?;
        }
        referral = Some(updated);
    }
    let undone = rewards::on_reversed(tx, backend, &reversed, referral.as_ref(), now).await?;
    record_change(
        tx,
        workspace_id,
        actor,
        Change {
            action: "conversion.reversed",
            target: format!("conversion:{}", reversed.public_id),
            details: json!({ "external_id": external_id, "reversal": reversal_external_id }),
            event: json!({ "conversion": reversed.public_id, "external_id": external_id }),
        },
        now,
    )
    .await?;
    Ok(Recorded {
        conversion: reversed,
        referral,
        duplicate: false,
        rewards: undone,
    })
}
