//! Campaigns (the "Referral Sprint"): windows between two instants that change rewards, and
//! the workspace-time-zone arithmetic they and the tier periods need.
//!
//! How overlapping campaigns combine (also in the user guide):
//! 1. A campaign that replaces the tier table chooses the grants; when several do, the one
//!    that started last wins (ties: the lower public id).
//! 2. Of the multiplier and bonus campaigns that are not stackable, the one giving the highest
//!    amount wins (ties: the earlier start, then the lower public id); the others do not apply.
//! 3. Stackable campaigns then apply on top, in order of start.
//!
//! A window is `[starts_at, ends_at)`: the first millisecond counts, the end does not.

use crate::reward::{Beneficiary, Decision, Occasion, Tier, TierPeriod};
use crate::{Invalid, Millis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Effect {
    /// Multiplies monetary rewards: 20000 basis points = ×2.
    Multiplier { bps: i64 },
    /// Adds an amount to the first monetary reward of each rule.
    Bonus { amount_minor: i64 },
    /// Replaces the advocate tier table while the campaign runs.
    Tiers { tiers: Vec<Tier> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Audience {
    #[default]
    All,
    /// Advocates with at least this many qualified referrals (the VIP end of the tier table).
    MinReferrals { n: i64 },
    /// Advocates whose customer attribute `key` equals `value`.
    Attribute { key: String, value: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sides {
    #[default]
    Advocate,
    Friend,
    Both,
}

impl Sides {
    fn includes(self, b: Beneficiary) -> bool {
        matches!(
            (self, b),
            (Self::Both, _)
                | (Self::Advocate, Beneficiary::Advocate)
                | (Self::Friend, Beneficiary::Friend)
        )
    }
}

/// A campaign as the evaluation sees it (the store filters out those whose budget is spent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub public_id: String,
    pub program_ids: Vec<i64>,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub effect: Effect,
    pub stackable: bool,
    pub sides: Sides,
    pub audience: Audience,
}

impl Campaign {
    pub fn running_at(&self, at: Millis) -> bool {
        self.starts_at <= at && at < self.ends_at
    }

    pub fn applies(&self, program_id: i64, at: Millis, o: &Occasion) -> bool {
        self.program_ids.contains(&program_id)
            && self.running_at(at)
            && match &self.audience {
                Audience::All => true,
                Audience::MinReferrals { n } => o.advocate_qualified >= *n,
                Audience::Attribute { key, value } => {
                    (o.advocate_attribute)(key).as_deref() == Some(value.as_str())
                }
            }
    }

    fn value(&self, amount: i64, first_grant: bool) -> Option<i64> {
        match self.effect {
            Effect::Multiplier { bps } => Some(
                i64::try_from((i128::from(amount) * i128::from(bps) + 5_000) / 10_000)
                    .unwrap_or(i64::MAX),
            ),
            Effect::Bonus { amount_minor } if first_grant => {
                Some(amount.saturating_add(amount_minor))
            }
            _ => None,
        }
    }
}

/// Checks what an admin typed for a campaign; every problem at once.
pub fn check(
    starts_at: Millis,
    ends_at: Millis,
    effect: &Effect,
    budget_minor: Option<i64>,
) -> Vec<Invalid> {
    let mut errors = Vec::new();
    if ends_at <= starts_at {
        errors.push(Invalid::new("ends_at", "end the campaign after it starts"));
    }
    match effect {
        Effect::Multiplier { bps } if !(10_001..=100_000).contains(bps) => {
            errors.push(Invalid::new(
                "effect.bps",
                "a multiplier is more than ×1 and at most ×10 (10001 to 100000 basis points)",
            ))
        }
        Effect::Bonus { amount_minor } if *amount_minor < 1 => errors.push(Invalid::new(
            "effect.amount_minor",
            "a bonus is more than 0",
        )),
        Effect::Tiers { tiers } => crate::reward::check_tiers(tiers, &mut errors),
        _ => {}
    }
    if budget_minor.is_some_and(|b| b < 1) {
        errors.push(Invalid::new("budget_minor", "a budget is more than 0"));
    }
    errors
}

/// The campaign tier table in force for `side`, if any (rule 1).
pub fn tier_override<'a>(
    active: &[&'a Campaign],
    side: Beneficiary,
) -> Option<(&'a Campaign, &'a [Tier])> {
    active
        .iter()
        .filter(|c| c.sides.includes(side))
        .filter_map(|c| match &c.effect {
            Effect::Tiers { tiers } => Some((*c, tiers.as_slice())),
            _ => None,
        })
        .max_by(|(a, _), (b, _)| {
            a.starts_at
                .cmp(&b.starts_at)
                .then_with(|| b.public_id.cmp(&a.public_id))
        })
}

/// Applies the multiplier and bonus campaigns to a monetary decision (rules 2 and 3).
pub fn apply(active: &[&Campaign], d: &mut Decision, first_grant: bool) {
    if !d.grant.monetary() {
        return;
    }
    let base = d.grant.amount_minor;
    let mut ordered: Vec<&&Campaign> = active
        .iter()
        .filter(|c| c.sides.includes(d.beneficiary))
        .collect();
    ordered.sort_by(|a, b| {
        a.starts_at
            .cmp(&b.starts_at)
            .then_with(|| a.public_id.cmp(&b.public_id))
    });
    let mut amount = base;
    let mut best: Option<(&Campaign, i64)> = None;
    for c in ordered.iter().filter(|c| !c.stackable) {
        if let Some(v) = c.value(base, first_grant)
            && best.is_none_or(|(_, b)| v > b)
        {
            best = Some((c, v));
        }
    }
    // Each campaign is charged what it added: the winner on the base, each stackable one on
    // the amount before it.
    let mut add = |c: &Campaign, v: i64, amount: &mut i64| {
        d.campaigns.push(c.public_id.clone());
        if v > *amount {
            d.campaign_charges.push((c.public_id.clone(), v - *amount));
        }
        *amount = v;
    };
    if let Some((c, v)) = best {
        add(c, v, &mut amount);
    }
    for c in ordered.iter().filter(|c| c.stackable) {
        if let Some(v) = c.value(amount, first_grant) {
            add(c, v, &mut amount);
        }
    }
    d.campaign_extra_minor = amount - base;
    d.grant.amount_minor = amount;
}

/// Whether `tz` names a time zone Vouch knows.
pub fn known_zone(tz: &str) -> bool {
    zone(tz).is_ok()
}

fn zone(tz: &str) -> Result<jiff::tz::TimeZone, Invalid> {
    jiff::tz::TimeZone::get(tz).map_err(|_| {
        Invalid::new(
            "time_zone",
            format!("{tz} is not a time zone (use e.g. Europe/Paris)"),
        )
    })
}

/// An instant from what an admin typed: RFC 3339 with an offset, or a wall-clock time
/// (`2026-12-04T18:00`) in the workspace's zone. A wall-clock time that a DST change skips
/// means the same instant as one hour later's offset would give ("compatible": 02:30 on a
/// spring-forward night is 03:30); one that happens twice means the first.
pub fn instant_in(field: &'static str, text: &str, tz: &str) -> Result<Millis, Invalid> {
    let text = text.trim();
    if let Some(ms) = crate::clock::parse_rfc3339(text) {
        return Ok(ms);
    }
    let dt: jiff::civil::DateTime = text.parse().map_err(|_| {
        Invalid::new(
            field,
            "use a date and time like 2026-12-04T18:00 (the workspace's time zone) or 2026-12-04T17:00:00Z",
        )
    })?;
    let ts = zone(tz)?
        .to_ambiguous_timestamp(dt)
        .compatible()
        .map_err(|e| Invalid::new(field, e.to_string()))?;
    Ok(ts.as_millisecond())
}

/// An instant as a person in `tz` reads it: "Friday 04 December 18:00".
pub fn local_text(ms: Millis, tz: &str) -> String {
    let Ok(z) = zone(tz) else {
        return crate::clock::rfc3339(ms);
    };
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(z)
                .strftime("%A %d %B %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The start of the tier period holding `at`: 1 January 00:00 in the workspace's zone, 365
/// days before, or the beginning of time.
pub fn period_start(period: TierPeriod, at: Millis, tz: &str) -> Millis {
    match period {
        TierPeriod::Lifetime => i64::MIN,
        TierPeriod::Rolling12Months => at - 365 * 86_400_000,
        TierPeriod::CalendarYear => year_start(at, tz),
    }
}

fn year_start(at: Millis, tz: &str) -> Millis {
    let z = zone(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(at)
        .ok()
        .and_then(|t| {
            let d = t.to_zoned_datetime(z.clone()).date();
            jiff::civil::date(d.year(), 1, 1)
                .to_zoned_datetime(z)
                .ok()
                .map(|s| s.timestamp().as_millisecond())
        })
        .unwrap_or(i64::MIN)
}

/// The start of the month or year holding `at` in the zone (for caps).
pub fn month_start(at: Millis, tz: &str) -> Millis {
    let z = zone(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(at)
        .ok()
        .and_then(|t| {
            let d = t.to_zoned_datetime(z.clone()).date();
            jiff::civil::date(d.year(), d.month(), 1)
                .to_zoned_datetime(z)
                .ok()
                .map(|s| s.timestamp().as_millisecond())
        })
        .unwrap_or(i64::MIN)
}

pub fn cap_period_start(period: crate::reward::CapPeriod, at: Millis, tz: &str) -> Millis {
    match period {
        crate::reward::CapPeriod::Month => month_start(at, tz),
        crate::reward::CapPeriod::Year => year_start(at, tz),
        crate::reward::CapPeriod::Lifetime => i64::MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::{OccasionKind, RewardRules, decide};

    fn none(_: &str) -> Option<String> {
        None
    }

    fn rules() -> RewardRules {
        serde_json::from_value(serde_json::json!({ "rules": [
            { "key": "adv", "beneficiary": "advocate", "trigger": { "on": "qualified_referral" },
              "grants": [{ "type": "cash", "amount": { "type": "fixed", "minor": 1000 } }] },
            { "key": "fr", "beneficiary": "friend", "trigger": { "on": "qualified_referral" },
              "grants": [{ "type": "credit", "amount": { "type": "fixed", "minor": 500 } }] } ] }))
        .unwrap()
    }

    fn sprint(id: &str, starts: Millis, ends: Millis, effect: Effect, stackable: bool) -> Campaign {
        Campaign {
            public_id: id.into(),
            program_ids: vec![1],
            starts_at: starts,
            ends_at: ends,
            effect,
            stackable,
            sides: Sides::Advocate,
            audience: Audience::All,
        }
    }

    /// An advocate's first qualified referral at `at`.
    fn qualified_at(at: Millis) -> Occasion<'static> {
        Occasion {
            kind: OccasionKind::Qualified,
            program_id: 1,
            at,
            amount_minor: 0,
            nth_conversion: 1,
            first_conversion_at: Some(at),
            advocate_qualified: 1,
            advocate_attribute: &none,
        }
    }

    fn cash_at(at: Millis, campaigns: &[Campaign]) -> (i64, Vec<String>) {
        let d = decide(&rules(), &qualified_at(at), campaigns);
        assert_eq!(d[1].grant.amount_minor, 500, "the friend side is untouched");
        (d[0].grant.amount_minor, d[0].campaigns.clone())
    }

    #[test]
    fn a_sprint_doubles_inside_its_window_only() {
        let c = [sprint(
            "cmp_x2",
            1000,
            2000,
            Effect::Multiplier { bps: 20_000 },
            false,
        )];
        assert_eq!(cash_at(999, &c).0, 1000, "a millisecond before");
        assert_eq!(
            cash_at(1000, &c),
            (2000, vec!["cmp_x2".into()]),
            "the first millisecond"
        );
        assert_eq!(cash_at(1999, &c).0, 2000, "the last millisecond");
        assert_eq!(cash_at(2000, &c).0, 1000, "the end is outside");
    }

    #[test]
    fn overlapping_campaigns_highest_wins_unless_stackable() {
        let x2 = sprint("cmp_a", 0, 10, Effect::Multiplier { bps: 20_000 }, false);
        let bonus = sprint("cmp_b", 0, 10, Effect::Bonus { amount_minor: 1500 }, false);
        assert_eq!(
            cash_at(5, &[x2.clone(), bonus.clone()]),
            (2500, vec!["cmp_b".into()])
        );
        let stack = sprint("cmp_c", 1, 10, Effect::Bonus { amount_minor: 100 }, true);
        assert_eq!(
            cash_at(5, &[x2.clone(), stack]),
            (2100, vec!["cmp_a".into(), "cmp_c".into()]),
            "×2 then +1.00 on top"
        );
        let mut elsewhere = x2;
        elsewhere.program_ids = vec![2];
        assert_eq!(
            cash_at(5, &[elsewhere]).0,
            1000,
            "another program's campaign"
        );
    }

    #[test]
    fn each_campaign_is_charged_what_it_added() {
        let x2 = sprint("cmp_a", 0, 10, Effect::Multiplier { bps: 20_000 }, false);
        let stack = sprint("cmp_c", 1, 10, Effect::Bonus { amount_minor: 100 }, true);
        let d = &decide(&rules(), &qualified_at(5), &[x2, stack])[0];
        assert_eq!(d.campaign_extra_minor, 1100);
        assert_eq!(
            d.campaign_charges,
            [("cmp_a".to_string(), 1000), ("cmp_c".to_string(), 100)],
            "×2 added 10.00 to its budget, the stacked bonus 1.00 to its own"
        );
    }

    #[test]
    fn wall_clock_times_in_the_zone_across_dst() {
        let tz = "Europe/Paris";
        // Winter: UTC+1.
        assert_eq!(
            instant_in("starts_at", "2026-12-04T18:00", tz).unwrap(),
            crate::clock::parse_rfc3339("2026-12-04T17:00:00Z").unwrap()
        );
        // 02:30 on 29 March 2026 does not exist in Paris: it is read as 03:30 CEST = 01:30Z.
        assert_eq!(
            instant_in("starts_at", "2026-03-29T02:30", tz).unwrap(),
            crate::clock::parse_rfc3339("2026-03-29T01:30:00Z").unwrap()
        );
        // 02:30 on 25 October 2026 happens twice: the first (CEST, UTC+2) is meant.
        assert_eq!(
            instant_in("starts_at", "2026-10-25T02:30", tz).unwrap(),
            crate::clock::parse_rfc3339("2026-10-25T00:30:00Z").unwrap()
        );
        assert!(instant_in("starts_at", "Friday", tz).is_err());
        assert_eq!(
            instant_in("x", "2026-01-01T00:00", "Mars/Olympus")
                .unwrap_err()
                .field,
            "time_zone"
        );
        assert_eq!(
            local_text(
                crate::clock::parse_rfc3339("2026-12-04T17:00:00Z").unwrap(),
                tz
            ),
            "Friday 04 December 18:00"
        );
    }

    #[test]
    fn calendar_year_starts_at_local_midnight() {
        let at = crate::clock::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        assert_eq!(
            period_start(TierPeriod::CalendarYear, at, "Europe/Paris"),
            crate::clock::parse_rfc3339("2025-12-31T23:00:00Z").unwrap()
        );
        assert_eq!(
            month_start(at, "America/New_York"),
            crate::clock::parse_rfc3339("2026-05-01T04:00:00Z").unwrap()
        );
    }
}
