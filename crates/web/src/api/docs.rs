//! The OpenAPI document, assembled from the annotated handlers and served at `/api/openapi.json`.

use super::{rewards, tracking, workspace};
use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every API error has this shape; `code` is stable, `message` is for people.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "error": { "code": "unauthorized", "message": "this API key is not valid or has been revoked", "details": null } }))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// One of: bad_request, invalid_json, invalid_body, unknown_field, invalid, invalid_query,
    /// unauthorized, api_key_in_query, insufficient_scope, not_found, method_not_allowed,
    /// conflict, refused, already_referred, not_eligible, vanity_impersonation,
    /// unsupported_media_type, internal.
    pub code: String,
    pub message: String,
    #[schema(value_type = Object, nullable)]
    pub details: serde_json::Value,
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A workspace API key (vk_…), created in the admin or with `vouch api-key create`."))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Vouch API", description = "Referral tracking, rewards and insights for your business. Every error is {\"error\": {\"code\", \"message\", \"details\"}}."),
    paths(workspace::get_workspace, workspace::patch_workspace, workspace::list_members, workspace::list_audit_log,
        tracking::create_program, tracking::list_programs, tracking::get_program, tracking::update_program,
        tracking::upsert_customer, tracking::list_customers, tracking::get_customer, tracking::import_customers,
        tracking::enrol, tracking::list_advocates, tracking::get_advocate, tracking::advocate_qr, tracking::list_clicks,
        tracking::record_conversion, tracking::list_conversions, tracking::get_conversion, tracking::conversion_attribution,
        tracking::list_referrals, tracking::get_referral, tracking::identify, tracking::review_queue, tracking::decide,
        tracking::reattribute,
        rewards::list_rewards, rewards::get_reward, rewards::decide_rewards, rewards::customer_entitlements, rewards::reward_preview,
        rewards::create_campaign, rewards::list_campaigns, rewards::get_campaign, rewards::cancel_campaign,
        rewards::create_pool, rewards::list_pools, rewards::import_codes, rewards::redeem_code,
        rewards::preview_payout, rewards::confirm_payout, rewards::list_payouts, rewards::get_payout, rewards::export_payout,
        rewards::mark_paid, rewards::cancel_payout, rewards::ledger_entries, rewards::ledger_balances, rewards::redeem_credit),
    components(schemas(ErrorBody, ErrorDetail, workspace::WorkspaceJson, workspace::WorkspacePatch,
        workspace::MemberJson, workspace::MemberList, workspace::AuditEntryJson, workspace::AuditPage)),
    modifiers(&Security),
    tags((name = "workspace", description = "The workspace of the API key used"),
        (name = "programs", description = "Referral programs and their versioned rules"),
        (name = "customers", description = "The people the business knows"),
        (name = "advocates", description = "Customers enrolled in a program, with their codes and links"),
        (name = "clicks", description = "Visits through referral links (read only)"),
        (name = "conversions", description = "Purchases, subscriptions and deals, with refunds; attributed with a trace"),
        (name = "referrals", description = "Advocate → friend, judged and explained"),
        (name = "rewards", description = "Rewards issued once per cause: state and reason, approval, entitlements; rules and tiers live in a program's rules.rewards"),
        (name = "campaigns", description = "Referral Sprints: windows in the workspace's time zone that change rewards"),
        (name = "code-pools", description = "Single-use discount codes, imported or generated"),
        (name = "payouts", description = "Batches of payable cash: preview, confirm, export, paid, cancel"),
        (name = "ledger", description = "The append-only double-entry ledger (read only)")),
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
