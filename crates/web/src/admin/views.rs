//! Template structs: one per page, plus the chrome (layout data) every signed-in page shares.

use super::session::Signed;
use askama::Template;
use vouch_core::Invalid;
use vouch_store::accounts::MemberView;
use vouch_store::rows::{ApiKey, AuditEntry};

/// Layout data for signed-in pages.
pub struct Chrome {
    pub title: &'static str,
    pub nav: &'static str,
    pub email: String,
    pub role: &'static str,
    pub can_write: bool,
    pub is_owner: bool,
    pub workspace_name: String,
    pub csrf: String,
    pub others: Vec<(i64, String)>,
    pub notice: &'static str,
}

impl Chrome {
    pub fn new(s: &Signed, title: &'static str, nav: &'static str, notice: &'static str) -> Self {
        Self {
            title,
            nav,
            email: s.view.email.clone(),
            role: s.role().as_str(),
            can_write: s.role().can_write(),
            is_owner: s.role().can_manage_access(),
            workspace_name: s.workspace.name.clone(),
            csrf: s.csrf().to_string(),
            others: s
                .workspaces
                .iter()
                .filter(|(w, _)| w.id != s.workspace.id)
                .map(|(w, _)| (w.id, w.name.clone()))
                .collect(),
            notice,
        }
    }
}

/// Field errors of a submitted form, looked up by field name in templates.
#[derive(Default)]
pub struct FormErrors(pub Vec<Invalid>);

impl FormErrors {
    pub fn get(&self, field: &str) -> &str {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map_or("", |e| e.message.as_str())
    }
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

/// Fixed notices after a redirect (never text from the query string).
pub fn notice(code: Option<&str>) -> &'static str {
    match code {
        Some("saved") => "Saved.",
        Some("member-added") => "Member added.",
        Some("member-updated") => "Role changed.",
        Some("member-removed") => "Member removed.",
        Some("key-revoked") => "API key revoked. Requests with it are refused from now on.",
        Some("switched") => "Switched workspace.",
        Some("enrolled") => "Advocate enrolled.",
        Some("reviewed") => "Decisions saved.",
        Some("decided") => "Decisions saved.",
        Some("imported") => "Codes imported; rewards waiting for codes have them now.",
        Some("confirmed") => "Payout batch confirmed: download its CSV, pay it, then mark it paid.",
        _ => "",
    }
}

pub fn when(ms: i64) -> String {
    let s = vouch_core::clock::rfc3339(ms);
    s.get(..16).map(|d| d.replace('T', " ")).unwrap_or(s)
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub csrf: String,
    pub workspace_name: String,
    pub email: String,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub csrf: String,
    pub email: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub members: usize,
    pub active_keys: usize,
    pub jobs: Vec<(String, i64)>,
    pub recent: Vec<AuditRow>,
    /// What the admin must be told: a code pool running dry, a cap reached.
    pub notices: Vec<String>,
}

pub struct AuditRow {
    pub when: String,
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub target: String,
    pub details: String,
    pub ip: String,
}

impl From<AuditEntry> for AuditRow {
    fn from(e: AuditEntry) -> Self {
        Self {
            when: when(e.created_at),
            actor: e.actor_label,
            actor_kind: e.actor_kind,
            action: e.action,
            target: e.target,
            details: e.details,
            ip: e.ip,
        }
    }
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub chrome: Chrome,
    pub name: String,
    pub brand_color: String,
    pub logo_url: String,
    pub currency: String,
    pub time_zone: String,
    pub sender_name: String,
    pub sender_email: String,
    /// Every supported currency, with the current one marked.
    pub currencies: Vec<(&'static str, bool)>,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub entries: Vec<AuditRow>,
}

#[derive(Template)]
#[template(path = "members.html")]
pub struct MembersPage {
    pub chrome: Chrome,
    pub members: Vec<MemberView>,
    pub email: String,
    pub role: String,
    pub errors: FormErrors,
}

pub struct KeyRow {
    pub public_id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created_by: String,
    pub created: String,
    pub last_used: String,
    pub revoked: String,
}

impl From<ApiKey> for KeyRow {
    fn from(k: ApiKey) -> Self {
        Self {
            public_id: k.public_id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            created_by: k.created_by,
            created: when(k.created_at),
            last_used: k.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            revoked: k.revoked_at.map(when).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "api_keys.html")]
pub struct ApiKeysPage {
    pub chrome: Chrome,
    pub keys: Vec<KeyRow>,
    pub name: String,
    pub errors: FormErrors,
    /// The secret of a key just created: shown on this one response, never again.
    pub created_secret: String,
    pub created_name: String,
}

/// A form with repeated fields (ticked rows of a bulk decision), read from its raw body.
pub struct BulkForm(Vec<(String, String)>);

impl BulkForm {
    pub fn parse(body: &str) -> Self {
        Self(
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect(),
        )
    }
    /// The first value of `name`, or empty.
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}
