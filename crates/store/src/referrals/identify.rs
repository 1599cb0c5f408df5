//! Friends identified before any purchase: a sign-up or lead, an advocate's submission, an admin.

use super::*;

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
    let (customer, created) = customers::upsert(&mut tx, workspace_id, friend, now).await?;
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
        existing: !created && customer.created_from == "import",
        click_ip: None,
        visitors: &[],
    };
    let (referral, trace) =
        attribute_friend(&mut tx, workspace_id, &f, signals, how.source(), now).await?;
    if let Some(r) = &referral {
        crate::rewards::on_identified(&mut tx, store.backend(), r, now).await?;
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
