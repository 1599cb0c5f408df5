//! Reward rules and their evaluation: what a qualified referral, a friend's conversion or
//! sign-up earns, for whom, by which tier, under which campaign. Everything here is a pure
//! function of the rule version, the qualifying history and the campaigns, so recomputing a
//! decision gives the same answer and a rule change applies forward only (a referral keeps the
//! program version it was judged under).

use crate::campaign::{self, Campaign};
use crate::{Invalid, Millis};
use serde::{Deserialize, Serialize};

/// Who a rule rewards. Rules for both sides make a program double-sided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Beneficiary {
    Advocate,
    Friend,
}

impl Beneficiary {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Advocate => "advocate",
            Self::Friend => "friend",
        }
    }
}

/// What makes a rule fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// Once per referral, when it becomes qualified (counted and approved).
    QualifiedReferral,
    /// Each counted conversion of a qualified referral: at most `max_count` of them, and only
    /// within `months` of the first.
    Conversion {
        #[serde(default)]
        max_count: Option<i64>,
        #[serde(default)]
        months: Option<i64>,
    },
    /// The friend's first counted conversion only.
    FirstPurchase,
    /// When the friend is identified (sign-up, submission) and the referral is approved.
    FriendSignup,
}

/// How much of something monetary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Amount {
    Fixed {
        minor: i64,
    },
    /// A share of the conversion's amount in basis points (1000 = 10%), optionally capped.
    Percent {
        bps: i64,
        #[serde(default)]
        cap_minor: Option<i64>,
    },
}

impl Amount {
    /// The amount in minor units for a conversion of `base` minor units. Rounds half up;
    /// never floats for money.
    pub fn resolve(self, base: i64) -> i64 {
        match self {
            Self::Fixed { minor } => minor,
            Self::Percent { bps, cap_minor } => {
                let v = (i128::from(base.max(0)) * i128::from(bps) + 5_000) / 10_000;
                let v = i64::try_from(v).unwrap_or(i64::MAX);
                cap_minor.map_or(v, |c| v.min(c))
            }
        }
    }
}

/// One thing a rule grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Grant {
    /// Account credit: a balance in the ledger the business's system spends.
    Credit { amount: Amount },
    /// Cash: a payable balance paid out in batches.
    Cash { amount: Amount },
    /// A discount code from a pool (imported or generated from its pattern). `value` is what
    /// the code is worth to the friend or advocate, for the record; percent codes carry bps.
    Discount {
        pool: String,
        #[serde(default)]
        value: Option<Amount>,
    },
    /// A named entitlement the business's system reads through the API.
    Feature {
        name: String,
        #[serde(default)]
        duration_days: Option<i64>,
    },
    /// Anything else, fulfilled by hand.
    Perk { text: String },
}

impl Grant {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Credit { .. } => "credit",
            Self::Cash { .. } => "cash",
            Self::Discount { .. } => "discount",
            Self::Feature { .. } => "feature",
            Self::Perk { .. } => "perk",
        }
    }
    /// Whether the grant moves money through the ledger.
    pub fn monetary(&self) -> bool {
        matches!(self, Self::Credit { .. } | Self::Cash { .. })
    }
}

/// A grant resolved for one occasion: amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    pub kind: String,
    /// Money moved by a credit or cash reward; the recorded value of a fixed discount.
    pub amount_minor: i64,
    /// A percent discount's rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_bps: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Resolved {
    pub fn monetary(&self) -> bool {
        matches!(self.kind.as_str(), "credit" | "cash")
    }
    fn of(g: &Grant, base: i64) -> Self {
        let mut r = Self {
            kind: g.kind().to_string(),
            amount_minor: 0,
            discount_bps: None,
            pool: None,
            feature: None,
            duration_days: None,
            text: None,
        };
        match g {
            Grant::Credit { amount } | Grant::Cash { amount } => {
                r.amount_minor = amount.resolve(base)
            }
            Grant::Discount { pool, value } => {
                r.pool = Some(pool.clone());
                match value {
                    Some(Amount::Percent { bps, .. }) => r.discount_bps = Some(*bps),
                    Some(a @ Amount::Fixed { .. }) => r.amount_minor = a.resolve(base),
                    None => {}
                }
            }
            Grant::Feature {
                name,
                duration_days,
            } => {
                r.feature = Some(name.clone());
                r.duration_days = *duration_days;
            }
            Grant::Perk { text } => r.text = Some(text.clone()),
        }
        r
    }
}

/// A rung of a tier table: applies from `min_referrals` qualified referrals up to the next
/// rung.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    pub min_referrals: i64,
    pub grants: Vec<Grant>,
}

/// The period an advocate's qualified referrals are counted in for tiers and milestones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TierPeriod {
    #[default]
    Lifetime,
    /// From 1 January in the workspace's time zone.
    CalendarYear,
    /// The 365 days before the qualifying instant.
    Rolling12Months,
}

/// A one-off bonus at the advocate's `at`-th qualified referral (in the tier period).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    pub at: i64,
    pub grant: Grant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardRule {
    /// Stable within the program: part of each reward's cause, so renaming it would allow a
    /// second reward for the same cause.
    pub key: String,
    pub beneficiary: Beneficiary,
    pub trigger: Trigger,
    /// What the rule grants when no tier table is given.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Grants by the advocate's qualified referrals, including this one.
    #[serde(default)]
    pub tiers: Vec<Tier>,
}

/// A cap on what one advocate earns (monetary value, minor units) per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    pub amount_minor: i64,
    pub period: CapPeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapPeriod {
    Month,
    Year,
    Lifetime,
}

/// The reward part of a program's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardRules {
    #[serde(default)]
    pub rules: Vec<RewardRule>,
    #[serde(default)]
    pub tier_period: TierPeriod,
    #[serde(default)]
    pub milestones: Vec<Milestone>,
    /// Days a reward waits before approval; at least the refund window.
    #[serde(default = "default_hold")]
    pub hold_days: i64,
    /// How long after a purchase the business accepts refunds.
    #[serde(default = "default_hold")]
    pub refund_window_days: i64,
    /// After the hold, approve without an admin…
    #[serde(default = "yes")]
    pub auto_approve: bool,
    /// …but only rewards worth less than this (monetary value); larger ones wait in the
    /// approval queue.
    #[serde(default)]
    pub auto_approve_under_minor: Option<i64>,
    #[serde(default)]
    pub advocate_cap: Option<Cap>,
    /// The most the program pays in rewards (monetary value, minor units), ever.
    #[serde(default)]
    pub budget_minor: Option<i64>,
}

fn default_hold() -> i64 {
    30
}
fn yes() -> bool {
    true
}

impl Default for RewardRules {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            tier_period: TierPeriod::Lifetime,
            milestones: Vec::new(),
            hold_days: 30,
            refund_window_days: 30,
            auto_approve: true,
            auto_approve_under_minor: None,
            advocate_cap: None,
            budget_minor: None,
        }
    }
}

fn check_amount(field: &'static str, a: &Amount, errors: &mut Vec<Invalid>) {
    match *a {
        Amount::Fixed { minor } if minor <= 0 => {
            errors.push(Invalid::new(field, "a fixed amount is more than 0"))
        }
        Amount::Percent { bps, .. } if !(1..=10_000).contains(&bps) => errors.push(Invalid::new(
            field,
            "a percentage is 1 to 10000 basis points (10000 = 100%)",
        )),
        Amount::Percent {
            cap_minor: Some(c), ..
        } if c <= 0 => errors.push(Invalid::new(field, "a cap is more than 0")),
        _ => {}
    }
}

fn check_grant(g: &Grant, errors: &mut Vec<Invalid>) {
    match g {
        Grant::Credit { amount } | Grant::Cash { amount } => {
            check_amount("rewards.grants.amount", amount, errors)
        }
        Grant::Discount { pool, value } => {
            if pool.trim().is_empty() {
                errors.push(Invalid::new(
                    "rewards.grants.pool",
                    "name the code pool the discount codes come from",
                ));
            }
            if let Some(v) = value {
                check_amount("rewards.grants.value", v, errors);
            }
        }
        Grant::Feature {
            name,
            duration_days,
        } => {
            if name.trim().is_empty() || name.len() > 100 {
                errors.push(Invalid::new(
                    "rewards.grants.name",
                    "name the feature (1 to 100 characters)",
                ));
            }
            if duration_days.is_some_and(|d| d < 1) {
                errors.push(Invalid::new(
                    "rewards.grants.duration_days",
                    "use 1 or more days, or leave it out for no end",
                ));
            }
        }
        Grant::Perk { text } => {
            if text.trim().is_empty() || text.chars().count() > 500 {
                errors.push(Invalid::new(
                    "rewards.grants.text",
                    "describe the perk (1 to 500 characters)",
                ));
            }
        }
    }
}

/// Checks a tier table: rungs start at 1 and climb strictly.
pub fn check_tiers(tiers: &[Tier], errors: &mut Vec<Invalid>) {
    let mut last = 0;
    for t in tiers {
        if t.min_referrals <= last {
            errors.push(Invalid::new(
                "rewards.tiers",
                "tiers start at 1 referral or more and climb strictly (1, 3, 6, …)",
            ));
        }
        last = t.min_referrals;
        if t.grants.is_empty() {
            errors.push(Invalid::new(
                "rewards.tiers",
                format!("tier {} grants nothing", t.name),
            ));
        }
        for g in &t.grants {
            check_grant(g, errors);
        }
    }
}

impl RewardRules {
    pub fn check(&self, errors: &mut Vec<Invalid>) {
        let mut keys = std::collections::BTreeSet::new();
        for r in &self.rules {
            if r.key.trim().is_empty() || r.key.len() > 50 || !keys.insert(r.key.as_str()) {
                errors.push(Invalid::new(
                    "rewards.rules.key",
                    "give each rule a unique key of 1 to 50 characters",
                ));
            }
            if r.grants.is_empty() && r.tiers.is_empty() {
                errors.push(Invalid::new(
                    "rewards.rules",
                    format!("rule {} grants nothing: add grants or tiers", r.key),
                ));
            }
            if !r.tiers.is_empty() && r.beneficiary == Beneficiary::Friend {
                // Tiers count the advocate's successes; the friend has none.
                errors.push(Invalid::new(
                    "rewards.rules.tiers",
                    "tiers are for advocates; give the friend grants",
                ));
            }
            if let Trigger::Conversion { max_count, months } = &r.trigger
                && (max_count.is_some_and(|n| n < 1) || months.is_some_and(|m| m < 1))
            {
                errors.push(Invalid::new(
                    "rewards.rules.trigger",
                    "max_count and months are 1 or more",
                ));
            }
            for g in &r.grants {
                check_grant(g, errors);
            }
            check_tiers(&r.tiers, errors);
        }
        for m in &self.milestones {
            if m.at < 1 {
                errors.push(Invalid::new(
                    "rewards.milestones",
                    "a milestone is at 1 or more",
                ));
            }
            check_grant(&m.grant, errors);
        }
        if !(0..=365).contains(&self.hold_days) || !(0..=365).contains(&self.refund_window_days) {
            errors.push(Invalid::new("rewards.hold_days", "use 0 to 365 days"));
        } else if self.hold_days < self.refund_window_days {
            errors.push(Invalid::new(
                "rewards.hold_days",
                "hold rewards at least as long as the refund window, or a refund could come after the reward was given",
            ));
        }
        if self.auto_approve_under_minor.is_some_and(|a| a < 1)
            || self.budget_minor.is_some_and(|a| a < 1)
            || self.advocate_cap.is_some_and(|c| c.amount_minor < 1)
        {
            errors.push(Invalid::new(
                "rewards",
                "thresholds, caps and budgets are more than 0",
            ));
        }
    }

    pub fn hold_ms(&self) -> i64 {
        self.hold_days * 86_400_000
    }

    /// Whether a reward of this value may be approved without an admin once its hold is over.
    pub fn auto_approves(&self, value_minor: i64) -> bool {
        self.auto_approve
            && self
                .auto_approve_under_minor
                .is_none_or(|t| value_minor < t)
    }
}

/// Which kind of event is being rewarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OccasionKind {
    /// The referral just became qualified by its `nth` counted conversion.
    Qualified,
    /// A counted conversion of an already qualified referral.
    Conversion,
    /// The friend was identified and the referral approved, before any purchase.
    Signup,
}

/// The facts a decision depends on; the store gathers them inside the transaction.
#[derive(Clone)]
pub struct Occasion<'a> {
    pub kind: OccasionKind,
    pub program_id: i64,
    /// The instant of the cause (the conversion's or the identification's): campaign windows
    /// are judged on it, not on when the event happened to arrive.
    pub at: Millis,
    /// The conversion's amount (0 for a sign-up).
    pub amount_minor: i64,
    /// Counted conversions on the referral, this one included (0 for a sign-up).
    pub nth_conversion: i64,
    /// The referral's first counted conversion.
    pub first_conversion_at: Option<Millis>,
    /// The advocate's qualified referrals in the tier period, this one included.
    pub advocate_qualified: i64,
    /// Looks up the advocate's customer attributes, for campaign segments.
    pub advocate_attribute: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// What a reward's cause is keyed on, so that each cause pays once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Once per referral (qualified referral, friend sign-up).
    Referral,
    /// Once per conversion.
    Conversion,
    /// Once per advocate and tier period (milestones).
    Advocate,
}

/// One reward to issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub scope: Scope,
    /// This reward moves the advocate into a higher tier than their previous referral had.
    #[serde(default)]
    pub new_tier: bool,
    /// Part of the cause key: the rule's key, `milestone:N`, with a grant index when a rule
    /// grants several things.
    pub rule: String,
    pub beneficiary: Beneficiary,
    pub grant: Resolved,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Campaigns that changed this reward, by public id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<String>,
    /// What the campaigns added on top of the base amount (charged to their budgets).
    #[serde(default)]
    pub campaign_extra_minor: i64,
    /// Each campaign's part of that extra, by public id: what its budget is charged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaign_charges: Vec<(String, i64)>,
    /// Why, in words, for the advocate and the admin.
    pub explanation: String,
}

fn fires(trigger: &Trigger, o: &Occasion) -> bool {
    match (trigger, o.kind) {
        (Trigger::QualifiedReferral, OccasionKind::Qualified) => true,
        (Trigger::FirstPurchase, OccasionKind::Qualified | OccasionKind::Conversion) => {
            o.nth_conversion == 1
        }
        (
            Trigger::Conversion { max_count, months },
            OccasionKind::Qualified | OccasionKind::Conversion,
        ) => {
            let within_count = max_count.is_none_or(|n| o.nth_conversion <= n);
            let within_months = match (months, o.first_conversion_at) {
                (Some(m), Some(first)) => o.at < first + m * 30 * 86_400_000,
                _ => true,
            };
            within_count && within_months
        }
        (Trigger::FriendSignup, OccasionKind::Signup) => true,
        _ => false,
    }
}

impl RewardRules {
    /// Whether any rule or milestone could grant something on an occasion of this kind: lets
    /// the store skip gathering facts for occasions these rules ignore.
    pub fn may_grant_on(&self, kind: OccasionKind) -> bool {
        let triggered = self.rules.iter().any(|r| match (&r.trigger, kind) {
            (Trigger::FriendSignup, k) => k == OccasionKind::Signup,
            (Trigger::QualifiedReferral, k) => k == OccasionKind::Qualified,
            (_, k) => k != OccasionKind::Signup,
        });
        triggered || (kind == OccasionKind::Qualified && !self.milestones.is_empty())
    }
}

/// The rung of `tiers` for `count` qualified referrals.
pub fn tier_for(tiers: &[Tier], count: i64) -> Option<&Tier> {
    tiers.iter().rev().find(|t| count >= t.min_referrals)
}

/// Everything `rules` grant for `occasion`, with the campaigns in force applied. Pure: the
/// same inputs always give the same decisions, in the same order.
pub fn decide(rules: &RewardRules, occasion: &Occasion, campaigns: &[Campaign]) -> Vec<Decision> {
    let active: Vec<&Campaign> = campaigns
        .iter()
        .filter(|c| c.applies(occasion.program_id, occasion.at, occasion))
        .collect();
    let mut out = Vec::new();
    for rule in &rules.rules {
        if !fires(&rule.trigger, occasion) {
            continue;
        }
        let override_tiers = campaign::tier_override(&active, rule.beneficiary);
        let tiers = override_tiers.map_or(rule.tiers.as_slice(), |(_, t)| t);
        let (grants, tier) = if tiers.is_empty() {
            (rule.grants.as_slice(), None)
        } else {
            match tier_for(tiers, occasion.advocate_qualified) {
                Some(t) => (t.grants.as_slice(), Some(t.name.clone())),
                None => continue,
            }
        };
        for (i, g) in grants.iter().enumerate() {
            let base = Resolved::of(g, occasion.amount_minor);
            let rule_key = if grants.len() == 1 {
                rule.key.clone()
            } else {
                format!("{}#{i}", rule.key)
            };
            let mut explanation = match &tier {
                Some(t) => format!(
                    "rule {} (tier {t}, {} qualified referrals)",
                    rule.key, occasion.advocate_qualified
                ),
                None => format!("rule {}", rule.key),
            };
            let scope = match rule.trigger {
                Trigger::QualifiedReferral | Trigger::FriendSignup => Scope::Referral,
                Trigger::Conversion { .. } | Trigger::FirstPurchase => Scope::Conversion,
            };
            // One announcement per tier reached, however many things the tier grants.
            let new_tier = i == 0
                && tier.is_some()
                && tier_for(tiers, occasion.advocate_qualified - 1).map(|t| &t.name)
                    != tier.as_ref();
            let mut d = Decision {
                scope,
                new_tier,
                rule: rule_key,
                beneficiary: rule.beneficiary,
                grant: base,
                tier: tier.clone(),
                campaigns: override_tiers
                    .map(|(c, _)| vec![c.public_id.clone()])
                    .unwrap_or_default(),
                campaign_extra_minor: 0,
                campaign_charges: Vec::new(),
                explanation: String::new(),
            };
            campaign::apply(&active, &mut d, i == 0);
            if !d.campaigns.is_empty() {
                explanation.push_str(&format!(" with campaign {}", d.campaigns.join(", ")));
            }
            d.explanation = explanation;
            out.push(d);
        }
    }
    if occasion.kind == OccasionKind::Qualified {
        for m in &rules.milestones {
            if occasion.advocate_qualified == m.at {
                let mut d = Decision {
                    scope: Scope::Advocate,
                    new_tier: false,
                    rule: format!("milestone:{}", m.at),
                    beneficiary: Beneficiary::Advocate,
                    grant: Resolved::of(&m.grant, occasion.amount_minor),
                    tier: None,
                    campaigns: Vec::new(),
                    campaign_extra_minor: 0,
                    campaign_charges: Vec::new(),
                    explanation: String::new(),
                };
                campaign::apply(&active, &mut d, true);
                d.explanation = format!("milestone: the advocate's referral number {}", m.at);
                out.push(d);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_attr(_: &str) -> Option<String> {
        None
    }

    pub(crate) fn occasion(
        kind: OccasionKind,
        nth: i64,
        count: i64,
        amount: i64,
    ) -> Occasion<'static> {
        Occasion {
            kind,
            program_id: 1,
            at: 1_000_000,
            amount_minor: amount,
            nth_conversion: nth,
            first_conversion_at: Some(1_000_000),
            advocate_qualified: count,
            advocate_attribute: &no_attr,
        }
    }

    fn tiered() -> RewardRules {
        serde_json::from_value(serde_json::json!({
            "rules": [
                { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "qualified_referral" },
                  "tiers": [
                    { "name": "Starter", "min_referrals": 1, "grants": [{ "type": "discount", "pool": "thanks", "value": { "type": "percent", "bps": 1000 } }] },
                    { "name": "Regular", "min_referrals": 3, "grants": [{ "type": "credit", "amount": { "type": "fixed", "minor": 5000 } }] },
                    { "name": "Champion", "min_referrals": 6, "grants": [
                        { "type": "cash", "amount": { "type": "fixed", "minor": 10000 } },
                        { "type": "feature", "name": "premium", "duration_days": 365 } ] }
                  ] },
                { "key": "friend", "beneficiary": "friend", "trigger": { "on": "first_purchase" },
                  "grants": [{ "type": "credit", "amount": { "type": "percent", "bps": 1500, "cap_minor": 2000 } }] }
            ],
            "milestones": [{ "at": 5, "grant": { "type": "cash", "amount": { "type": "fixed", "minor": 2500 } } }]
        }))
        .unwrap()
    }

    #[test]
    fn tiers_choose_grants_by_the_advocates_count() {
        let r = tiered();
        let mut errors = Vec::new();
        r.check(&mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let kinds = |count| -> Vec<(String, String, i64)> {
            decide(
                &r,
                &occasion(OccasionKind::Qualified, 1, count, 10_000),
                &[],
            )
            .into_iter()
            .map(|d| (d.rule, d.grant.kind, d.grant.amount_minor))
            .collect()
        };
        assert_eq!(kinds(1)[0].1, "discount");
        assert_eq!(kinds(2)[0].1, "discount");
        assert_eq!(kinds(3)[0], ("advocate".into(), "credit".into(), 5000));
        assert_eq!(
            kinds(5),
            [
                ("advocate".into(), "credit".into(), 5000),
                ("friend".into(), "credit".into(), 1500),
                ("milestone:5".into(), "cash".into(), 2500)
            ],
            "the friend's 15% of 100.00 and the milestone bonus at the 5th"
        );
        let six = kinds(6);
        assert_eq!(six[0], ("advocate#0".into(), "cash".into(), 10000));
        assert_eq!(six[1].1, "feature");
    }

    #[test]
    fn percent_rounds_half_up_and_caps() {
        assert_eq!(
            Amount::Percent {
                bps: 1500,
                cap_minor: None
            }
            .resolve(333),
            50
        );
        assert_eq!(
            Amount::Percent {
                bps: 1500,
                cap_minor: Some(2000)
            }
            .resolve(1_000_000),
            2000
        );
        assert_eq!(
            Amount::Percent {
                bps: 10_000,
                cap_minor: None
            }
            .resolve(i64::MAX),
            i64::MAX
        );
    }

    #[test]
    fn conversion_trigger_respects_count_and_months() {
        let r: RewardRules = serde_json::from_value(serde_json::json!({ "rules": [
            { "key": "each", "beneficiary": "advocate", "trigger": { "on": "conversion", "max_count": 3, "months": 2 },
              "grants": [{ "type": "cash", "amount": { "type": "fixed", "minor": 100 } }] } ] }))
        .unwrap();
        let mut o = occasion(OccasionKind::Conversion, 3, 1, 0);
        assert_eq!(decide(&r, &o, &[]).len(), 1);
        o.nth_conversion = 4;
        assert!(decide(&r, &o, &[]).is_empty(), "past max_count");
        o.nth_conversion = 2;
        o.at = 1_000_000 + 60 * 86_400_000;
        assert!(decide(&r, &o, &[]).is_empty(), "past two months");
        assert!(
            decide(&r, &occasion(OccasionKind::Signup, 0, 0, 0), &[]).is_empty(),
            "a sign-up is not a conversion"
        );
    }

    #[test]
    fn rules_are_checked() {
        let mut r = tiered();
        r.hold_days = 7;
        r.rules[0].tiers[1].min_referrals = 1;
        r.rules[1].key = "advocate".into();
        let mut errors = Vec::new();
        r.check(&mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert!(fields.contains(&"rewards.hold_days"), "{fields:?}");
        assert!(fields.contains(&"rewards.tiers"));
        assert!(fields.contains(&"rewards.rules.key"));
    }
}
