//! Tracking commands: programs, customers and enrolment, each one transaction with its audit
//! entry and outbox events (like `commands`, for the referral side of Vouch).

use crate::audit::{self, Actor};
use crate::customers::{self, CustomerInput};
use crate::rows::{Advocate, Customer, Program};
use crate::{Result, Store, StoreError, advocates, outbox, programs};
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
    audit::record(
        &mut tx,
        workspace_id,
        actor,
        "program.created",
        &format!("program:{}", p.public_id),
        json!({ "name": p.name, "status": p.status }),
        now,
    )
    .await?;
    outbox::emit(
        &mut tx,
        workspace_id,
        "program.created",
        json!({ "program": p.public_id }),
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
    audit::record(&mut tx, workspace_id, actor, "program.updated", &format!("program:{}", p.public_id),
        json!({ "name": p.name, "status": p.status, "version": p.version, "rules_changed": p.version != before.version }), now).await?;
    outbox::emit(
        &mut tx,
        workspace_id,
        "program.updated",
        json!({ "program": p.public_id, "version": p.version }),
        now,
    )
    .await?;
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
        audit::record(
            &mut tx,
            workspace_id,
            actor,
            "customer.created",
            &format!("customer:{}", c.public_id),
            json!({}),
            now,
        )
        .await?;
        outbox::emit(
            &mut tx,
            workspace_id,
            "customer.created",
            json!({ "customer": c.public_id }),
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
    let (customer, _) = customers::upsert(&mut tx, workspace_id, input, now).await?;
    let (a, created) =
        advocates::enroll(&mut tx, workspace_id, program.id, customer.id, vanity, now).await?;
    if created {
        audit::record(
            &mut tx,
            workspace_id,
            actor,
            "advocate.enrolled",
            &format!("advocate:{}", a.public_id),
            json!({ "program": program.public_id, "code": a.code, "vanity_code": a.vanity_code }),
            now,
        )
        .await?;
        outbox::emit(&mut tx, workspace_id, "advocate.enrolled",
            json!({ "advocate": a.public_id, "program": program.public_id, "customer": customer.public_id, "code": a.code }), now).await?;
    }
    tx.commit().await?;
    Ok((a, customer, created))
}
