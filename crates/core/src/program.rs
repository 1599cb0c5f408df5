//! Program rules: where links go, how referrals are attributed and judged, what counts as a
//! conversion. Stored as a versioned JSON document; a referral remembers the version it was
//! judged under, so changing rules never rewrites the past.

use crate::{Invalid, visit};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgramStatus {
    Draft,
    Active,
    Paused,
    Archived,
}

impl ProgramStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Archived => "archived",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "draft" => Ok(Self::Draft),
            "active" => Ok(Self::Active),
            "paused" => Ok(Self::Paused),
            "archived" => Ok(Self::Archived),
            _ => Err(Invalid::new(
                "status",
                "choose draft, active, paused or archived",
            )),
        }
    }
    /// Only an active program credits referrals; the others still send visitors on.
    pub fn credits(self) -> bool {
        self == Self::Active
    }
}

/// Which click wins when one visitor clicked several advocates' links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    FirstTouch,
    LastTouch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionKind {
    FirstPurchase,
    EveryPurchase,
    SubscriptionStart,
    DealWon,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionRule {
    pub kind: ConversionKind,
    /// With `every_purchase`: at most this many conversions per referral.
    #[serde(default)]
    pub max_count: Option<i64>,
    /// Conversions below this amount (minor units) do not count.
    #[serde(default)]
    pub min_amount_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Eligibility {
    Anyone,
    Customers,
    Purchasers,
}

/// What a fraud signal does to a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Flag,
    Block,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FraudPolicy {
    pub max_referrals_per_advocate_per_day: i64,
    pub max_referrals_per_ip_per_hour: i64,
    pub existing_customer: Action,
    pub disposable_email: Action,
}

impl Default for FraudPolicy {
    fn default() -> Self {
        Self {
            max_referrals_per_advocate_per_day: 20,
            max_referrals_per_ip_per_hour: 5,
            existing_customer: Action::Flag,
            disposable_email: Action::Block,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramRules {
    /// Landing pages on the business's own sites; the only places a link ever goes.
    pub destinations: Vec<String>,
    pub default_destination: String,
    pub attribution_window_days: i64,
    pub attribution_model: Model,
    pub conversion: ConversionRule,
    pub eligibility: Eligibility,
    #[serde(default)]
    pub friend_offer: String,
    #[serde(default)]
    pub fraud: FraudPolicy,
    /// Opt-in: credit a friend who typed an advocate's name ("who referred you?").
    #[serde(default)]
    pub credit_typed_names: bool,
    /// What referrals earn; versioned with the rest, so changes apply forward only.
    #[serde(default)]
    pub rewards: crate::reward::RewardRules,
}

impl ProgramRules {
    /// A sensible start: 30-day last-touch window, first purchase, anyone may advocate.
    pub fn starter(destination: &str) -> Self {
        Self {
            destinations: vec![destination.to_string()],
            default_destination: destination.to_string(),
            attribution_window_days: 30,
            attribution_model: Model::LastTouch,
            conversion: ConversionRule {
                kind: ConversionKind::FirstPurchase,
                max_count: None,
                min_amount_minor: 0,
            },
            eligibility: Eligibility::Anyone,
            friend_offer: String::new(),
            fraud: FraudPolicy::default(),
            credit_typed_names: false,
            rewards: crate::reward::RewardRules::default(),
        }
    }

    /// Checks the rules and normalises destinations; every problem at once.
    pub fn checked(mut self) -> Result<Self, Vec<Invalid>> {
        let mut errors = Vec::new();
        if self.destinations.is_empty() {
            errors.push(Invalid::new(
                "destinations",
                "add at least one landing page",
            ));
        }
        let mut normalised = Vec::new();
        for d in &self.destinations {
            match visit::parse_destination(d) {
                Ok(u) => normalised.push(u.to_string()),
                Err(e) => errors.push(Invalid::new("destinations", format!("{d}: {}", e.message))),
            }
        }
        match visit::parse_destination(&self.default_destination) {
            Ok(u) if normalised.contains(&u.to_string()) => {
                self.default_destination = u.to_string()
            }
            Ok(_) => errors.push(Invalid::new(
                "default_destination",
                "choose one of the destinations",
            )),
            Err(e) => errors.push(Invalid::new("default_destination", e.message)),
        }
        self.destinations = normalised;
        if !(1..=365).contains(&self.attribution_window_days) {
            errors.push(Invalid::new("attribution_window_days", "use 1 to 365 days"));
        }
        if self.conversion.min_amount_minor < 0 {
            errors.push(Invalid::new("conversion.min_amount_minor", "use 0 or more"));
        }
        if self.conversion.max_count.is_some_and(|n| n < 1) {
            errors.push(Invalid::new(
                "conversion.max_count",
                "use 1 or more, or leave it out",
            ));
        }
        if self.fraud.max_referrals_per_advocate_per_day < 1
            || self.fraud.max_referrals_per_ip_per_hour < 1
        {
            errors.push(Invalid::new("fraud", "velocity limits are at least 1"));
        }
        if self.friend_offer.chars().count() > 500 {
            errors.push(Invalid::new("friend_offer", "use at most 500 characters"));
        }
        self.rewards.check(&mut errors);
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    pub fn window_ms(&self) -> i64 {
        self.attribution_window_days * 86_400_000
    }

    /// Whether a conversion of `kind` and `amount` counts, given how many already did.
    pub fn counts(&self, kind: ConversionKind, amount_minor: i64, already: i64) -> bool {
        if amount_minor < self.conversion.min_amount_minor {
            return false;
        }
        match self.conversion.kind {
            ConversionKind::FirstPurchase => kind == ConversionKind::FirstPurchase && already == 0,
            ConversionKind::EveryPurchase => {
                matches!(
                    kind,
                    ConversionKind::FirstPurchase | ConversionKind::EveryPurchase
                ) && self.conversion.max_count.is_none_or(|n| already < n)
            }
            other => kind == other && already == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_rules_are_valid_and_checked() {
        let r = ProgramRules::starter("https://shop.example.com")
            .checked()
            .unwrap();
        assert_eq!(r.default_destination, "https://shop.example.com/");
        let mut bad = ProgramRules::starter("https://shop.example.com/");
        bad.destinations.push("javascript:alert(1)".into());
        bad.default_destination = "https://elsewhere.example/".into();
        bad.attribution_window_days = 0;
        let fields: Vec<_> = bad.checked().unwrap_err().iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "destinations",
                "default_destination",
                "attribution_window_days"
            ]
        );
    }

    #[test]
    fn what_counts_as_a_conversion() {
        let mut r = ProgramRules::starter("https://s.example/");
        r.conversion.min_amount_minor = 1000;
        assert!(r.counts(ConversionKind::FirstPurchase, 1000, 0));
        assert!(
            !r.counts(ConversionKind::FirstPurchase, 999, 0),
            "below the minimum"
        );
        assert!(
            !r.counts(ConversionKind::FirstPurchase, 5000, 1),
            "only the first"
        );
        r.conversion = ConversionRule {
            kind: ConversionKind::EveryPurchase,
            max_count: Some(2),
            min_amount_minor: 0,
        };
        assert!(r.counts(ConversionKind::EveryPurchase, 1, 1));
        assert!(!r.counts(ConversionKind::EveryPurchase, 1, 2), "up to N");
        r.conversion.kind = ConversionKind::DealWon;
        assert!(!r.counts(ConversionKind::FirstPurchase, 1, 0));
        assert!(r.counts(ConversionKind::DealWon, 1, 0));
    }

    #[test]
    fn rules_refuse_unknown_fields() {
        let json = serde_json::json!({ "destinations": [], "default_destination": "", "attribution_window_days": 30,
            "attribution_model": "last_touch", "conversion": { "kind": "first_purchase" }, "eligibility": "anyone", "colour": "red" });
        assert!(serde_json::from_value::<ProgramRules>(json).is_err());
    }
}
