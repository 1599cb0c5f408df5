//! The referral side of the admin: programs (editor), advocates (list, enrolment, profile),
//! referrals (filters) and the review queue. Same rules as every admin page: CSRF on each POST,
//! viewers read only, every change through a store command so it is audited.

use super::session::Signed;
use super::views::{Chrome, FormErrors, notice};
use super::{AdminError, page};
use crate::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vouch_core::code::ReferralCode;
use vouch_core::program::{ConversionKind, Model, ProgramRules, ProgramStatus};
use vouch_core::{Email, Invalid};
use vouch_store::customers::CustomerInput;
use vouch_store::rows::{Advocate, Program, Referral};
use vouch_store::{advocates, clicks, customers, programs, referrals, tracking};

pub struct ProgramRow {
    pub public_id: String,
    /// The public join page, where customers enrol themselves.
    pub join_path: String,
    pub name: String,
    pub status: String,
    pub version: i64,
    pub destination: String,
}

fn program_row(p: &Program) -> ProgramRow {
    let rules = programs::rules_of(&p.rules).ok();
    ProgramRow {
        public_id: p.public_id.clone(),
        join_path: format!("/join/{}", p.public_id),
        name: p.name.clone(),
        status: p.status.clone(),
        version: p.version,
        destination: rules.map(|r| r.default_destination).unwrap_or_default(),
    }
}

/// The program editor's fields, as typed.
#[derive(Deserialize, Default, Clone)]
pub struct ProgramForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub destination: String,
    /// More landing pages links may go to, one a line (the API's `destinations`).
    #[serde(default)]
    pub other_destinations: String,
    #[serde(default)]
    pub window_days: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub conversion: String,
    #[serde(default)]
    pub min_amount_minor: String,
    #[serde(default)]
    pub friend_offer: String,
}

impl ProgramForm {
    fn from_program(p: &Program) -> Self {
        let r = programs::rules_of(&p.rules).unwrap_or_else(|_| ProgramRules::starter(""));
        Self {
            csrf: String::new(),
            name: p.name.clone(),
            status: p.status.clone(),
            destination: r.default_destination.clone(),
            other_destinations: r
                .destinations
                .iter()
                .filter(|d| **d != r.default_destination)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
            window_days: r.attribution_window_days.to_string(),
            model: if r.attribution_model == Model::FirstTouch {
                "first_touch"
            } else {
                "last_touch"
            }
            .into(),
            conversion: match r.conversion.kind {
                ConversionKind::FirstPurchase => "first_purchase",
                ConversionKind::EveryPurchase => "every_purchase",
                ConversionKind::SubscriptionStart => "subscription_start",
                ConversionKind::DealWon => "deal_won",
            }
            .into(),
            min_amount_minor: r.conversion.min_amount_minor.to_string(),
            friend_offer: r.friend_offer,
        }
    }

    /// The rules this form describes, on top of the program's other (API-only) settings.
    fn parse(
        &self,
        base: Option<ProgramRules>,
    ) -> Result<(String, ProgramStatus, ProgramRules), Vec<Invalid>> {
        let mut errors = Vec::new();
        let name = vouch_core::text::display_name("name", &self.name)
            .map_err(|e| errors.push(e))
            .ok();
        let status = ProgramStatus::parse(&self.status)
            .map_err(|e| errors.push(e))
            .ok();
        let window = self
            .window_days
            .trim()
            .parse::<i64>()
            .map_err(|_| errors.push(Invalid::new("window_days", "use a number of days")))
            .ok();
        let min = self
            .min_amount_minor
            .trim()
            .parse::<i64>()
            .map_err(|_| {
                errors.push(Invalid::new(
                    "min_amount_minor",
                    "use a whole number of cents",
                ))
            })
            .ok();
        let kind = match self.conversion.as_str() {
            "first_purchase" => Some(ConversionKind::FirstPurchase),
            "every_purchase" => Some(ConversionKind::EveryPurchase),
            "subscription_start" => Some(ConversionKind::SubscriptionStart),
            "deal_won" => Some(ConversionKind::DealWon),
            _ => {
                errors.push(Invalid::new(
                    "conversion",
                    "choose what counts as a conversion",
                ));
                None
            }
        };
        let mut rules = base.unwrap_or_else(|| ProgramRules::starter(self.destination.trim()));
        let dest = self.destination.trim().to_string();
        let others: Vec<String> = self
            .other_destinations
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && *l != dest)
            .collect();
        rules.destinations = vec![dest.clone()];
        for o in &others {
            if !rules.destinations.contains(o) {
                rules.destinations.push(o.clone());
            }
        }
        rules.default_destination = dest;
        rules.attribution_window_days = window.unwrap_or(0);
        rules.attribution_model = if self.model == "first_touch" {
            Model::FirstTouch
        } else {
            Model::LastTouch
        };
        if let Some(k) = kind {
            rules.conversion.kind = k;
        }
        rules.conversion.min_amount_minor = min.unwrap_or(0);
        rules.friend_offer = self.friend_offer.trim().to_string();
        let rules = match rules.checked() {
            Ok(r) => Some(r),
            Err(e) => {
                // The editor shows one destination field: report destination problems there.
                errors.extend(e.into_iter().map(|i| match i.field {
                    // A problem with one of the other pages names it; shown under that field.
                    "destinations" if others.iter().any(|o| i.message.starts_with(o.as_str())) => {
                        Invalid::new("other_destinations", i.message)
                    }
                    "destinations" | "default_destination" => {
                        Invalid::new("destination", i.message)
                    }
                    "attribution_window_days" => Invalid::new("window_days", i.message),
                    _ => i,
                }));
                None
            }
        };
        match (name, status, rules, errors.is_empty()) {
            (Some(n), Some(s), Some(r), true) => Ok((n, s, r)),
            _ => Err(errors),
        }
    }
}

#[derive(Template)]
#[template(path = "programs.html")]
pub struct ProgramsPage {
    pub chrome: Chrome,
    pub programs: Vec<ProgramRow>,
    pub form: ProgramForm,
    pub errors: FormErrors,
    pub editing: String,
}

async fn programs_view(
    state: &AppState,
    s: &Signed,
    notice: &'static str,
) -> Result<ProgramsPage, AdminError> {
    let mut c = state.store.read().await?;
    let list = programs::list(&mut c, s.workspace.id, 0, 200).await?;
    Ok(ProgramsPage {
        chrome: Chrome::new(s, "Programs", "programs", notice),
        programs: list.iter().map(program_row).collect(),
        form: ProgramForm {
            status: "active".into(),
            window_days: "30".into(),
            model: "last_touch".into(),
            conversion: "first_purchase".into(),
            min_amount_minor: "0".into(),
            ..Default::default()
        },
        errors: FormErrors::default(),
        editing: String::new(),
    })
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

pub async fn programs_page(
    State(state): State<AppState>,
    s: Signed,
    Query(d): Query<Done>,
) -> Result<Response, AdminError> {
    let notice = notice(d.done.as_deref());
    Ok(page(programs_view(&state, &s, notice).await?))
}

pub async fn create_program(
    State(state): State<AppState>,
    s: Signed,
    Form(f): Form<ProgramForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    match f.parse(None) {
        Ok((name, status, rules)) => {
            tracking::create_program(
                &state.store,
                s.workspace.id,
                &name,
                status,
                &rules,
                &s.actor,
            )
            .await?;
            Ok(Redirect::to("/admin/programs?done=saved").into_response())
        }
        Err(errors) => {
            let mut p = programs_view(&state, &s, "").await?;
            p.form = f;
            p.errors = FormErrors(errors);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
        }
    }
}

async fn load_program(state: &AppState, s: &Signed, id: &str) -> Result<Program, AdminError> {
    let mut c = state.store.read().await?;
    programs::by_public_id(&mut c, s.workspace.id, id)
        .await?
        .ok_or(AdminError::NotFound)
}

pub async fn edit_program(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let program = load_program(&state, &s, &id).await?;
    let mut p = programs_view(&state, &s, "").await?;
    p.form = ProgramForm::from_program(&program);
    p.editing = program.public_id;
    Ok(page(p))
}

pub async fn update_program(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<ProgramForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let program = load_program(&state, &s, &id).await?;
    match f.parse(programs::rules_of(&program.rules).ok()) {
        Ok((name, status, rules)) => {
            let p = tracking::update_program(
                &state.store,
                s.workspace.id,
                &id,
                &name,
                status,
                &rules,
                &s.actor,
            )
            .await?;
            state.codes.forget_program(p.id);
            Ok(Redirect::to("/admin/programs?done=saved").into_response())
        }
        Err(errors) => {
            let mut p = programs_view(&state, &s, "").await?;
            p.form = f;
            p.errors = FormErrors(errors);
            p.editing = id;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
        }
    }
}

// ---- advocates ----

pub struct AdvocateRow {
    pub public_id: String,
    pub email: String,
    pub name: String,
    pub code: String,
    pub link: String,
    pub program: String,
}

async fn advocate_row(
    state: &AppState,
    c: &mut vouch_store::Conn,
    a: &Advocate,
) -> Result<AdvocateRow, AdminError> {
    let cu = customers::by_id(c, a.workspace_id, a.customer_id).await?;
    let p = programs::by_id(c, a.workspace_id, a.program_id).await?;
    let shown = a.vanity_code.clone().unwrap_or_else(|| a.code.clone());
    Ok(AdvocateRow {
        public_id: a.public_id.clone(),
        email: cu
            .as_ref()
            .and_then(|c| c.email.clone())
            .unwrap_or_default(),
        name: cu.map(|c| c.name).unwrap_or_default(),
        link: format!(
            "{}/r/{shown}",
            state.config.base_url.as_str().trim_end_matches('/')
        ),
        code: shown,
        program: p.map(|p| p.name).unwrap_or_default(),
    })
}

#[derive(Template)]
#[template(path = "advocates.html")]
pub struct AdvocatesPage {
    pub chrome: Chrome,
    pub advocates: Vec<AdvocateRow>,
    pub programs: Vec<ProgramRow>,
    pub email: String,
    pub name: String,
    pub vanity: String,
    pub errors: FormErrors,
}

async fn advocates_view(
    state: &AppState,
    s: &Signed,
    notice: &'static str,
) -> Result<AdvocatesPage, AdminError> {
    let mut c = state.store.read().await?;
    let list = advocates::list(&mut c, s.workspace.id, None, 0, 500).await?;
    let mut rows = Vec::new();
    for a in &list {
        rows.push(advocate_row(state, &mut c, a).await?);
    }
    let progs = programs::list(&mut c, s.workspace.id, 0, 200).await?;
    Ok(AdvocatesPage {
        chrome: Chrome::new(s, "Advocates", "advocates", notice),
        advocates: rows,
        programs: progs.iter().map(program_row).collect(),
        email: String::new(),
        name: String::new(),
        vanity: String::new(),
        errors: FormErrors::default(),
    })
}

pub async fn advocates_page(
    State(state): State<AppState>,
    s: Signed,
    Query(d): Query<Done>,
) -> Result<Response, AdminError> {
    let notice = notice(d.done.as_deref());
    Ok(page(advocates_view(&state, &s, notice).await?))
}

#[derive(Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    program: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    vanity: String,
}

pub async fn enrol(
    State(state): State<AppState>,
    s: Signed,
    Form(f): Form<EnrolForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let mut errors = Vec::new();
    let email = Email::parse(&f.email).map_err(|e| errors.push(e)).ok();
    let vanity = if f.vanity.trim().is_empty() {
        None
    } else {
        ReferralCode::parse(&f.vanity)
            .map_err(|e| errors.push(Invalid::new("vanity", e.message)))
            .ok()
    };
    let program = load_program(&state, &s, &f.program)
        .await
        .map_err(|_| errors.push(Invalid::new("program", "choose a program")))
        .ok();
    if let (Some(email), Some(program), true) = (email, program, errors.is_empty()) {
        let input = CustomerInput {
            email: Some(email),
            name: Some(f.name.trim().to_string()).filter(|n| !n.is_empty()),
            created_from: "admin",
            ..Default::default()
        };
        match tracking::enroll(
            &state.store,
            s.workspace.id,
            &program,
            &input,
            vanity.as_ref(),
            &s.actor,
        )
        .await
        {
            Ok(_) => return Ok(Redirect::to("/admin/advocates?done=enrolled").into_response()),
            Err(vouch_store::StoreError::Conflict(_)) => {
                errors.push(Invalid::new("vanity", "this code is taken; choose another"))
            }
            Err(vouch_store::StoreError::Rejected("vanity_impersonation", why)) => {
                errors.push(Invalid::new("vanity", why))
            }
            Err(vouch_store::StoreError::Rejected("not_eligible", why)) => {
                errors.push(Invalid::new("email", why))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut p = advocates_view(&state, &s, "").await?;
    p.email = f.email;
    p.name = f.name;
    p.vanity = f.vanity;
    p.errors = FormErrors(errors);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
}

pub struct ReferralRow {
    pub public_id: String,
    pub friend: String,
    pub status: String,
    pub reason: String,
    pub source: String,
    pub verdict: String,
    pub findings: String,
    pub explanation: String,
    pub created: String,
}

async fn referral_row(c: &mut vouch_store::Conn, r: &Referral) -> Result<ReferralRow, AdminError> {
    let friend = customers::by_id(c, r.workspace_id, r.friend_customer_id).await?;
    let trace: serde_json::Value = serde_json::from_str(&r.trace).unwrap_or_default();
    let findings: serde_json::Value = serde_json::from_str(&r.fraud_findings).unwrap_or_default();
    let findings = findings
        .as_array()
        .map(|l| {
            l.iter()
                .map(|f| {
                    format!(
                        "{}: {}",
                        f["code"].as_str().unwrap_or(""),
                        f["detail"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    Ok(ReferralRow {
        public_id: r.public_id.clone(),
        friend: friend
            .and_then(|f| f.email.or(f.external_id))
            .unwrap_or_default(),
        status: r.status.clone(),
        reason: r.rejection_reason.clone().unwrap_or_default(),
        source: r.source.clone(),
        verdict: r.fraud_verdict.clone(),
        findings,
        explanation: trace["explanation"].as_str().unwrap_or("").to_string(),
        created: super::views::when(r.created_at),
    })
}

#[derive(Template)]
#[template(path = "advocate.html")]
pub struct AdvocateProfile {
    pub chrome: Chrome,
    pub advocate: AdvocateRow,
    /// Other advocates of the same program, to give a referral to by hand: (id, label).
    pub others: Vec<(String, String)>,
    pub days: Vec<(String, i64, i64)>,
    pub referrals: Vec<ReferralRow>,
}

pub async fn advocate_profile(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let mut c = state.store.read().await?;
    let a = advocates::by_public_id(&mut c, s.workspace.id, &id)
        .await?
        .ok_or(AdminError::NotFound)?;
    let row = advocate_row(&state, &mut c, &a).await?;
    let days = clicks::rollups(&mut c, s.workspace.id, a.id)
        .await?
        .into_iter()
        .map(|d| {
            (
                super::views::when(d.day * 86_400_000)[..10].to_string(),
                d.clicks,
                d.qualified_clicks,
            )
        })
        .collect();
    let mut refs = Vec::new();
    for r in referrals::list_referrals(
        &mut c,
        s.workspace.id,
        &referrals::ReferralFilter {
            advocate_id: Some(a.id),
            ..Default::default()
        },
        i64::MAX,
        200,
    )
    .await?
    {
        refs.push(referral_row(&mut c, &r).await?);
    }
    let mut others = Vec::new();
    for o in advocates::list(&mut c, s.workspace.id, Some(a.program_id), 0, 500).await? {
        if o.id != a.id {
            let r = advocate_row(&state, &mut c, &o).await?;
            others.push((o.public_id, format!("{} ({})", r.email, r.code)));
        }
    }
    Ok(page(AdvocateProfile {
        chrome: Chrome::new(&s, "Advocate", "advocates", ""),
        advocate: row,
        others,
        days,
        referrals: refs,
    }))
}

// ---- referrals and the review queue ----

#[derive(Template)]
#[template(path = "referrals.html")]
pub struct ReferralsPage {
    pub chrome: Chrome,
    pub referrals: Vec<ReferralRow>,
    pub review: bool,
    pub statuses: Vec<(&'static str, bool)>,
    /// (id, name, selected)
    pub programs: Vec<(String, String, bool)>,
    pub advocates: Vec<(String, String, bool)>,
    pub from: String,
    pub until: String,
    pub filter_error: String,
}

#[derive(Deserialize, Default)]
pub struct Filter {
    status: Option<String>,
    program: Option<String>,
    advocate: Option<String>,
    /// A day (YYYY-MM-DD, UTC), inclusive.
    from: Option<String>,
    /// A day (YYYY-MM-DD, UTC), inclusive.
    until: Option<String>,
    done: Option<String>,
}

const STATUSES: [&str; 7] = [
    "pending",
    "converted",
    "qualified",
    "rewarded",
    "rejected",
    "reversed",
    "",
];

/// The first instant of a UTC day typed as `YYYY-MM-DD`.
fn day_start(text: &str) -> Option<i64> {
    vouch_core::clock::parse_rfc3339(&format!("{}T00:00:00Z", text.trim()))
}

pub async fn referrals_page(
    State(state): State<AppState>,
    s: Signed,
    Query(f): Query<Filter>,
) -> Result<Response, AdminError> {
    let status = f.status.clone().unwrap_or_default();
    let status = if STATUSES.contains(&status.as_str()) {
        status
    } else {
        String::new()
    };
    let mut c = state.store.read().await?;
    let all_programs = programs::list(&mut c, s.workspace.id, 0, 200).await?;
    let all_advocates = advocates::list(&mut c, s.workspace.id, None, 0, 500).await?;
    let program = f
        .program
        .as_deref()
        .and_then(|p| all_programs.iter().find(|x| x.public_id == p));
    let advocate = f
        .advocate
        .as_deref()
        .and_then(|a| all_advocates.iter().find(|x| x.public_id == a));
    let from_text = f.from.clone().unwrap_or_default();
    let until_text = f.until.clone().unwrap_or_default();
    let mut filter_error = String::new();
    let mut bound = |text: &str, next_day: bool| {
        if text.trim().is_empty() {
            return None;
        }
        match day_start(text) {
            Some(t) => Some(if next_day { t + 86_400_000 } else { t }),
            None => {
                filter_error = format!("{text} is not a day: use the form 2026-12-04");
                None
            }
        }
    };
    let filter = referrals::ReferralFilter {
        status: Some(status.clone()).filter(|s| !s.is_empty()),
        advocate_id: advocate.map(|a| a.id),
        program_id: program.map(|p| p.id),
        from: bound(&from_text, false),
        until: bound(&until_text, true),
    };
    let mut rows = Vec::new();
    for r in referrals::list_referrals(&mut c, s.workspace.id, &filter, i64::MAX, 200).await? {
        rows.push(referral_row(&mut c, &r).await?);
    }
    let mut advocate_choices = Vec::new();
    for a in &all_advocates {
        let row = advocate_row(&state, &mut c, a).await?;
        advocate_choices.push((
            a.public_id.clone(),
            format!("{} ({})", row.email, row.code),
            Some(a.id) == filter.advocate_id,
        ));
    }
    Ok(page(ReferralsPage {
        chrome: Chrome::new(&s, "Referrals", "referrals", ""),
        referrals: rows,
        statuses: STATUSES[..6].iter().map(|x| (*x, *x == status)).collect(),
        review: false,
        programs: all_programs
            .iter()
            .map(|p| {
                (
                    p.public_id.clone(),
                    p.name.clone(),
                    Some(p.id) == filter.program_id,
                )
            })
            .collect(),
        advocates: advocate_choices,
        from: from_text,
        until: until_text,
        filter_error,
    }))
}

pub async fn review_page(
    State(state): State<AppState>,
    s: Signed,
    Query(f): Query<Filter>,
) -> Result<Response, AdminError> {
    let mut c = state.store.read().await?;
    let mut rows = Vec::new();
    for r in referrals::review_queue(&mut c, s.workspace.id, 0, 500).await? {
        rows.push(referral_row(&mut c, &r).await?);
    }
    let notice = notice(f.done.as_deref());
    Ok(page(ReferralsPage {
        chrome: Chrome::new(&s, "Review queue", "review", notice),
        referrals: rows,
        review: true,
        statuses: Vec::new(),
        programs: Vec::new(),
        advocates: Vec::new(),
        from: String::new(),
        until: String::new(),
        filter_error: String::new(),
    }))
}

/// The review form: checked referral ids arrive as repeated `referral` fields.
pub async fn decide(
    State(state): State<AppState>,
    s: Signed,
    body: String,
) -> Result<Response, AdminError> {
    let form = super::views::BulkForm::parse(&body);
    let get = |k: &str| form.get(k);
    s.check_csrf(&get("csrf"))?;
    s.require_write()?;
    let ids = form.all("referral");
    let decision = match get("decision").as_str() {
        "approve" => referrals::Decision::Approve,
        "reject" => referrals::Decision::Reject,
        _ => return Err(AdminError::BadRequest("choose approve or reject".into())),
    };
    let reason = get("reason");
    if ids.is_empty() || reason.trim().is_empty() {
        return Err(AdminError::BadRequest(
            "tick at least one referral and give a reason".into(),
        ));
    }
    referrals::review(
        &state.store,
        s.workspace.id,
        &ids,
        decision,
        reason.trim(),
        &s.actor,
    )
    .await?;
    Ok(Redirect::to("/admin/review?done=reviewed").into_response())
}

#[derive(Deserialize, Default)]
pub struct QrFormat {
    format: Option<String>,
}

/// The advocate's link as a QR code: SVG, or PNG with `?format=png`.
pub fn qr_response(link: &str, format: Option<&str>) -> Response {
    use axum::http::header;
    match format.unwrap_or("svg") {
        "png" => match crate::qr::png(link, 8) {
            Some(png) => (
                [
                    (header::CONTENT_TYPE, "image/png"),
                    (header::CACHE_CONTROL, "private, max-age=3600"),
                ],
                png,
            )
                .into_response(),
            None => StatusCode::UNPROCESSABLE_ENTITY.into_response(),
        },
        _ => match crate::qr::svg(link) {
            Some(svg) => (
                [
                    (header::CONTENT_TYPE, "image/svg+xml"),
                    (header::CACHE_CONTROL, "private, max-age=3600"),
                ],
                svg,
            )
                .into_response(),
            None => StatusCode::UNPROCESSABLE_ENTITY.into_response(),
        },
    }
}

pub async fn advocate_qr(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Query(q): Query<QrFormat>,
) -> Result<Response, AdminError> {
    let mut c = state.store.read().await?;
    let a = advocates::by_public_id(&mut c, s.workspace.id, &id)
        .await?
        .ok_or(AdminError::NotFound)?;
    let row = advocate_row(&state, &mut c, &a).await?;
    Ok(qr_response(&row.link, q.format.as_deref()))
}

#[derive(Deserialize)]
pub struct ReattributeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    advocate: String,
    #[serde(default)]
    reason: String,
}

/// Gives a referral to another advocate, by hand, with a reason (audited).
pub async fn reattribute(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<ReattributeForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    if f.reason.trim().is_empty() {
        return Err(AdminError::BadRequest(
            "say why the referral changes hands; it goes in the audit log".into(),
        ));
    }
    let r = referrals::reattribute(
        &state.store,
        s.workspace.id,
        &id,
        &f.advocate,
        f.reason.trim(),
        &s.actor,
    )
    .await?;
    // On to the advocate who now holds the referral; the store just proved that id exists here.
    let mut c = state.store.read().await?;
    let back = match advocates::by_id(&mut c, s.workspace.id, r.advocate_id).await? {
        Some(a) => format!("/admin/advocates/{}", a.public_id),
        None => "/admin/referrals".to_string(),
    };
    Ok(Redirect::to(&back).into_response())
}
