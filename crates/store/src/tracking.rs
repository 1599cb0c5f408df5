//! Tracking commands: programs, customers and enrolment, each one transaction with its audit
//! entry and outbox events (like `commands`, for the referral side of Vouch).

use crate::audit::Actor;
use crate::commands::{Change, record_change};
use crate::customers::{self, CustomerInput};
use crate::rows::{Advocate, Customer, Program};
use crate::{Result, Store, StoreError, advocates, programs};
use serde_json::json;
use vouch_core::clock::now_ms;
use vouch_core::code::ReferralCode;
use vouch_core::program::{ProgramRules, ProgramStatus};

pub async fn create_program(
    store: &Store,
    workspace_id: i64,
    name: &str,
    status: ProgramStatus,
    rules: &ProgramRules,
    actor: &Actor,
) -> Result<Program> {
    let now = now_ms();
    let mut tx = store.write().await?;
    let p = programs::create(&mut tx, workspace_id, name, status, rules, now).await?;
    record_change(
        &mut tx,
        workspace_id,
        actor,
        Change {
            action: "program.created",
            target: format!("program:{}", p.public_id),
            details: json!({ "name": p.name, "status": p.status }),
            event: json!({ "program": p.public_id }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(p)
}

pub async fn update_program(
    store: &Store,
    workspace_id: i64,
    public_id: &str,
    name: &str,
    status: ProgramStatus,
    rules: &ProgramRules,
    actor: &Actor,
) -> Result<Program> {
    let now = now_ms();
    let mut tx = store.write().await?;
    let before = programs::by_public_id(&mut tx, workspace_id, public_id)
        .await?
        .ok_or(StoreError::NotFound("program"))?;
    let p = programs::update(&mut tx, &before, name, status, rules, now).await?;
    record_change(&mut tx, workspace_id, actor, Change {
        action: "program.updated",
        target: format!("program:{}", p.public_id),
        details: json!({ "name": p.name, "status": p.status, "version": p.version, "rules_changed": p.version != before.version }),
        event: json!({ "program": p.public_id, "version": p.version }),
    }, now).await?;
    tx.commit().await?;
    Ok(p)
}

pub async fn upsert_customer(
    store: &Store,
    workspace_id: i64,
    input: &CustomerInput,
    actor: &Actor,
) -> Result<(Customer, bool)> {
    let now = now_ms();
    let mut tx = store.write().await?;
    let (c, created) = customers::upsert(&mut tx, workspace_id, input, now).await?;
    if created {
        record_change(
            &mut tx,
            workspace_id,
            actor,
            Change {
                action: "customer.created",
                target: format!("customer:{}", c.public_id),
                details: json!({}),
                event: json!({ "customer": c.public_id }),
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok((c, created))
}

/// Enrols a customer (found or created from `input`) as an advocate of a program.
pub async fn enroll(
    store: &Store,
    workspace_id: i64,
    program: &Program,
    input: &CustomerInput,
    vanity: Option<&ReferralCode>,
    actor: &Actor,
) -> Result<(Advocate, Customer, bool)> {
    let now = now_ms();
    let mut tx = store.write().await?;
    let known = customers::find(&mut tx, workspace_id, input).await?;
    let already = match &known {
        Some(c) => advocates::of_customer(&mut tx, workspace_id, program.id, c.id).await?,
        None => None,
    };
    if already.is_none() {
        check_eligibility(&mut tx, workspace_id, program, known.as_ref()).await?;
    }
    let (customer, _) = customers::upsert(&mut tx, workspace_id, input, now).await?;
    if let (Some(v), None) = (vanity, &already) {
        check_vanity(&mut tx, workspace_id, v, customer.id).await?;
    }
    let (a, created) =
        advocates::enroll(&mut tx, workspace_id, program.id, customer.id, vanity, now).await?;
    if created {
        record_change(&mut tx, workspace_id, actor, Change {
            action: "advocate.enrolled",
            target: format!("advocate:{}", a.public_id),
            details: json!({ "program": program.public_id, "code": a.code, "vanity_code": a.vanity_code }),
            event: json!({ "advocate": a.public_id, "program": program.public_id, "customer": customer.public_id, "code": a.code }),
        }, now).await?;
    }
    tx.commit().await?;
    Ok((a, customer, created))
}

/// Who may become an advocate: anyone, known customers only, or customers who bought.
async fn check_eligibility(
    c: &mut crate::Conn,
    workspace_id: i64,
    program: &Program,
    known: Option<&Customer>,
) -> Result<()> {
    use vouch_core::program::Eligibility;
    let rules = programs::rules_of(&program.rules)?;
    let refuse = |why: &str| Err(StoreError::Rejected("not_eligible", why.to_string()));
    match (rules.eligibility, known) {
        (Eligibility::Anyone, _) => Ok(()),
        (_, None) => refuse("this program enrols existing customers only; add the customer first"),
        (Eligibility::Customers, Some(_)) => Ok(()),
        (Eligibility::Purchasers, Some(cu)) => {
            use sqlx::Row;
            let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM conversions WHERE workspace_id = $1 AND customer_id = $2 AND status <> 'reversed'")
                .bind(workspace_id)
                .bind(cu.id)
                .fetch_one(&mut *c)
                .await?
                .try_get("n")?;
            if n > 0 {
                Ok(())
            } else {
                refuse("this program enrols customers with at least one purchase")
            }
        }
    }
}

/// A vanity code may not wear another advocate's name (`CARL10` is Carl's to take).
async fn check_vanity(
    c: &mut crate::Conn,
    workspace_id: i64,
    code: &ReferralCode,
    customer_id: i64,
) -> Result<()> {
    use sqlx::Row;
    vouch_core::code::decent(code)
        .map_err(|e| StoreError::Rejected("vanity_inappropriate", e.message))?;
    let letters: String = code
        .as_str()
        .chars()
        .take_while(|ch| ch.is_ascii_alphabetic())
        .collect();
    if letters.len() < 3 {
        return Ok(());
    }
    let rows = sqlx::query(
        "SELECT cu.id AS id, cu.name AS name FROM advocates a JOIN customers cu ON cu.id = a.customer_id
         WHERE a.workspace_id = $1 AND cu.id <> $2",
    )
    .bind(workspace_id)
    .bind(customer_id)
    .fetch_all(&mut *c)
    .await?;
    for r in rows {
        let name: String = r.try_get("name")?;
        let first: String = name
            .split_whitespace()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|ch| ch.is_alphabetic())
            .collect::<String>()
            .to_uppercase();
        if first.len() >= 3 && first == letters {
            return Err(StoreError::Rejected(
                "vanity_impersonation",
                format!(
                    "{} looks like another advocate's name; choose a code with your own name",
                    code.as_str()
                ),
            ));
        }
    }
    Ok(())
}
