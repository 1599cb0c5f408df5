//! Fraud checks: every referral gets `approved`, `flagged` or `blocked` with the signals
//! behind it. Nothing is silent: a blocked referral says why, a flagged one waits for review.

use crate::program::{Action, FraudPolicy};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Flagged,
    Blocked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Flagged => "flagged",
            Self::Blocked => "blocked",
        }
    }
}

/// One reason behind a verdict, with a stable code (also the rejection reason when it blocks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

/// One side of a referral, as fraud checks compare them.
#[derive(Debug, Clone, Default)]
pub struct Party {
    pub customer_id: i64,
    pub email_key: Option<String>,
    pub external_id: Option<String>,
    pub visitor_ids: Vec<String>,
    pub ip_hashes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub advocate: Party,
    pub friend: Party,
    /// The friend was a customer before this referral.
    pub friend_existing_customer: bool,
    pub friend_disposable_email: bool,
    /// The friend already has a referral in this program.
    pub duplicate_friend: bool,
    /// The friend referred this advocate (A→B→A).
    pub loop_detected: bool,
    pub advocate_referrals_today: i64,
    pub ip_referrals_last_hour: i64,
}

fn verdict_of(a: Action) -> Option<Verdict> {
    match a {
        Action::Allow => None,
        Action::Flag => Some(Verdict::Flagged),
        Action::Block => Some(Verdict::Blocked),
    }
}

fn shares(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| !x.is_empty() && b.contains(x))
}

pub fn assess(f: &Facts, policy: &FraudPolicy) -> (Verdict, Vec<Finding>) {
    let mut out = Vec::new();
    let mut add = |code: &'static str, verdict: Verdict, detail: String| {
        out.push(Finding {
            code,
            verdict,
            detail,
        })
    };
    let (a, b) = (&f.advocate, &f.friend);
    if a.customer_id == b.customer_id {
        add(
            "self_referral",
            Verdict::Blocked,
            "the friend is the advocate".into(),
        );
    } else if a.email_key.is_some() && a.email_key == b.email_key {
        add(
            "self_referral",
            Verdict::Blocked,
            "the friend's email is the advocate's".into(),
        );
    } else if a.external_id.is_some() && a.external_id == b.external_id {
        add(
            "self_referral",
            Verdict::Blocked,
            "the friend has the advocate's external id".into(),
        );
    } else if shares(&a.visitor_ids, &b.visitor_ids) {
        add(
            "self_referral",
            Verdict::Blocked,
            "the friend used the advocate's browser (same visitor id)".into(),
        );
    }
    if f.duplicate_friend {
        add(
            "already_referred",
            Verdict::Blocked,
            "this friend was already referred in this program".into(),
        );
    }
    if f.loop_detected {
        add(
            "referral_loop",
            Verdict::Blocked,
            "the friend referred this advocate (A→B→A)".into(),
        );
    }
    if f.friend_existing_customer
        && let Some(v) = verdict_of(policy.existing_customer)
    {
        add(
            "existing_customer",
            v,
            "the friend was already a customer".into(),
        );
    }
    if f.friend_disposable_email
        && let Some(v) = verdict_of(policy.disposable_email)
    {
        add(
            "disposable_email",
            v,
            "the friend's email is from a disposable provider".into(),
        );
    }
    if f.advocate_referrals_today >= policy.max_referrals_per_advocate_per_day {
        add(
            "limit_reached",
            Verdict::Flagged,
            format!(
                "the advocate already has {} referrals today (limit {})",
                f.advocate_referrals_today, policy.max_referrals_per_advocate_per_day
            ),
        );
    }
    if f.ip_referrals_last_hour >= policy.max_referrals_per_ip_per_hour {
        add(
            "ip_velocity",
            Verdict::Flagged,
            format!(
                "{} referrals came from this address in the last hour (limit {})",
                f.ip_referrals_last_hour, policy.max_referrals_per_ip_per_hour
            ),
        );
    }
    // A shared address alone is common (offices, households): it only flags.
    if shares(&a.ip_hashes, &b.ip_hashes) {
        add(
            "shared_ip",
            Verdict::Flagged,
            "the friend and the advocate share an IP address".into(),
        );
    }
    let verdict = out
        .iter()
        .map(|f| f.verdict)
        .max()
        .unwrap_or(Verdict::Approved);
    (verdict, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            advocate: Party {
                customer_id: 1,
                email_key: Some("anna@example.com".into()),
                external_id: Some("A".into()),
                visitor_ids: vec!["va".into()],
                ip_hashes: vec!["ia".into()],
            },
            friend: Party {
                customer_id: 2,
                email_key: Some("bob@example.com".into()),
                external_id: Some("B".into()),
                visitor_ids: vec!["vb".into()],
                ip_hashes: vec!["ib".into()],
            },
            ..Default::default()
        }
    }

    fn codes(f: &Facts) -> (Verdict, Vec<&'static str>) {
        let (v, found) = assess(f, &FraudPolicy::default());
        (v, found.iter().map(|x| x.code).collect())
    }

    #[test]
    fn a_clean_referral_is_approved() {
        assert_eq!(codes(&facts()), (Verdict::Approved, vec![]));
    }

    #[test]
    fn every_rule_says_why() {
        let mut same_email = facts();
        same_email.friend.email_key = same_email.advocate.email_key.clone();
        let mut same_customer = facts();
        same_customer.friend.customer_id = 1;
        let mut same_external = facts();
        same_external.friend.external_id = Some("A".into());
        let mut same_browser = facts();
        same_browser.friend.visitor_ids.push("va".into());
        for f in [same_email, same_customer, same_external, same_browser] {
            assert_eq!(codes(&f), (Verdict::Blocked, vec!["self_referral"]));
        }
        type Change = Box<dyn Fn(&mut Facts)>;
        let cases: Vec<(Change, Verdict, &str)> = vec![
            (
                Box::new(|f| f.duplicate_friend = true),
                Verdict::Blocked,
                "already_referred",
            ),
            (
                Box::new(|f| f.loop_detected = true),
                Verdict::Blocked,
                "referral_loop",
            ),
            (
                Box::new(|f| f.friend_existing_customer = true),
                Verdict::Flagged,
                "existing_customer",
            ),
            (
                Box::new(|f| f.friend_disposable_email = true),
                Verdict::Blocked,
                "disposable_email",
            ),
            (
                Box::new(|f| f.advocate_referrals_today = 20),
                Verdict::Flagged,
                "limit_reached",
            ),
            (
                Box::new(|f| f.ip_referrals_last_hour = 5),
                Verdict::Flagged,
                "ip_velocity",
            ),
            (
                Box::new(|f| f.friend.ip_hashes.push("ia".into())),
                Verdict::Flagged,
                "shared_ip",
            ),
        ];
        for (change, verdict, code) in cases {
            let mut f = facts();
            change(&mut f);
            assert_eq!(codes(&f), (verdict, vec![code]), "{code}");
        }
    }

    #[test]
    fn policy_decides_what_a_soft_signal_does() {
        let mut f = facts();
        f.friend_existing_customer = true;
        let allow = FraudPolicy {
            existing_customer: Action::Allow,
            ..Default::default()
        };
        assert_eq!(assess(&f, &allow).0, Verdict::Approved);
        let block = FraudPolicy {
            existing_customer: Action::Block,
            ..Default::default()
        };
        assert_eq!(assess(&f, &block).0, Verdict::Blocked);
    }
}
