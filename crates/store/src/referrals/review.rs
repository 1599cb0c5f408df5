//! People deciding: the review queue of flagged referrals, and re-attribution by hand.

use super::*;
use crate::commands::{Change, record_change};

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
        crate::rewards::on_reviewed(&mut tx, store.backend(), &updated, now).await?;
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
    record_change(
        &mut tx,
        workspace_id,
        actor,
        Change {
            action: "referral.reattributed",
            target: format!("referral:{public_id}"),
            details: json!({ "from": from, "to": to.public_id, "reason": reason }),
            event: json!({ "referral": public_id, "advocate": to.public_id }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}
