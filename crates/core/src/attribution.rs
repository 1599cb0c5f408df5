//! Attribution: which advocate, if any, gets the credit for a friend, and why. Signals in
//! order of strength: an explicit code, a click id, the visitor's cookie, the friend's email
//! matching a pending referral, and (opt-in) a name the friend typed. The program's model
//! (first or last touch) picks among one visitor's clicks. Every decision comes with a trace.

use crate::Millis;
use crate::program::Model;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Code,
    ClickId,
    Visitor,
    EmailMatch,
    TypedName,
}

/// One click that may carry credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    pub advocate_id: i64,
    pub at: Millis,
    pub click_id: String,
    pub qualified: bool,
}

/// What was seen for one friend.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    pub code: Option<i64>,
    pub click: Option<Touch>,
    pub visitor_clicks: Vec<Touch>,
    /// An advocate's pending referral of this friend's email: (advocate, created at).
    pub pending_referral: Option<(i64, Millis)>,
    pub typed_name: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Used,
    Outranked,
    OutsideWindow,
    Unqualified,
    NotChosenByModel,
    NotEnabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub signal: Signal,
    pub advocate_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub click_id: Option<String>,
    pub status: Status,
}

/// The explanation stored with every referral and every unattributed conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    pub model: Model,
    pub window_days: i64,
    pub seen: Vec<Seen>,
    pub winner: Option<Signal>,
    pub advocate_id: Option<i64>,
    pub explanation: String,
}

pub fn attribute(
    s: &Signals,
    model: Model,
    window_ms: Millis,
    now: Millis,
    typed_names: bool,
) -> Trace {
    let mut seen = Vec::new();
    let within = |at: Millis| now - at <= window_ms && at <= now + 60_000;
    let mut candidates: Vec<(Signal, i64)> = Vec::new();

    if let Some(a) = s.code {
        seen.push(Seen {
            signal: Signal::Code,
            advocate_id: a,
            at: None,
            click_id: None,
            status: Status::Used,
        });
        candidates.push((Signal::Code, a));
    }
    if let Some(t) = &s.click {
        let status = touch_status(t, within(t.at));
        if status == Status::Used {
            candidates.push((Signal::ClickId, t.advocate_id));
        }
        seen.push(seen_touch(Signal::ClickId, t, status));
    }
    // The model picks one of the visitor's usable clicks; the others are kept in the trace.
    let usable: Vec<&Touch> = s
        .visitor_clicks
        .iter()
        .filter(|t| t.qualified && within(t.at))
        .collect();
    let chosen = match model {
        Model::FirstTouch => usable.iter().min_by_key(|t| (t.at, t.click_id.clone())),
        Model::LastTouch => usable.iter().max_by_key(|t| (t.at, t.click_id.clone())),
    }
    .map(|t| t.click_id.clone());
    for t in &s.visitor_clicks {
        let status = match touch_status(t, within(t.at)) {
            Status::Used if Some(&t.click_id) != chosen.as_ref() => Status::NotChosenByModel,
            other => other,
        };
        if status == Status::Used {
            candidates.push((Signal::Visitor, t.advocate_id));
        }
        seen.push(seen_touch(Signal::Visitor, t, status));
    }
    if let Some((a, at)) = s.pending_referral {
        let status = if within(at) {
            Status::Used
        } else {
            Status::OutsideWindow
        };
        if status == Status::Used {
            candidates.push((Signal::EmailMatch, a));
        }
        seen.push(Seen {
            signal: Signal::EmailMatch,
            advocate_id: a,
            at: Some(at),
            click_id: None,
            status,
        });
    }
    if let Some(a) = s.typed_name {
        let status = if typed_names {
            Status::Used
        } else {
            Status::NotEnabled
        };
        if typed_names {
            candidates.push((Signal::TypedName, a));
        }
        seen.push(Seen {
            signal: Signal::TypedName,
            advocate_id: a,
            at: None,
            click_id: None,
            status,
        });
    }

    // Candidates were pushed strongest first; the first wins and outranks the rest.
    let winner = candidates.first().copied();
    if let Some((w, _)) = winner {
        let mut first = true;
        for e in seen.iter_mut().filter(|e| e.status == Status::Used) {
            if e.signal == w && first {
                first = false;
            } else {
                e.status = Status::Outranked;
            }
        }
    }
    let explanation = match winner {
        Some((sig, a)) => format!("credited to advocate {a} by {}", describe(sig, model)),
        None if seen.is_empty() => "no referral signal was seen: not attributed".into(),
        None => "signals were seen but none could give credit (outside the window, unqualified or not enabled): not attributed".into(),
    };
    Trace {
        model,
        window_days: window_ms / 86_400_000,
        seen,
        winner: winner.map(|(s, _)| s),
        advocate_id: winner.map(|(_, a)| a),
        explanation,
    }
}

fn touch_status(t: &Touch, within: bool) -> Status {
    if !t.qualified {
        Status::Unqualified
    } else if !within {
        Status::OutsideWindow
    } else {
        Status::Used
    }
}

fn seen_touch(signal: Signal, t: &Touch, status: Status) -> Seen {
    Seen {
        signal,
        advocate_id: t.advocate_id,
        at: Some(t.at),
        click_id: Some(t.click_id.clone()),
        status,
    }
}

fn describe(s: Signal, model: Model) -> &'static str {
    match (s, model) {
        (Signal::Code, _) => "the referral code the friend used",
        (Signal::ClickId, _) => "the click id the friend arrived with",
        (Signal::Visitor, Model::FirstTouch) => {
            "the friend's first click within the window (first touch)"
        }
        (Signal::Visitor, Model::LastTouch) => {
            "the friend's last click within the window (last touch)"
        }
        (Signal::EmailMatch, _) => "the friend's email matching the advocate's pending referral",
        (Signal::TypedName, _) => "the advocate's name the friend typed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;

    fn touch(a: i64, at: i64, id: &str) -> Touch {
        Touch {
            advocate_id: a,
            at,
            click_id: id.into(),
            qualified: true,
        }
    }

    #[test]
    fn each_signal_can_win_alone() {
        let now = 100 * DAY;
        let cases = [
            (
                Signals {
                    code: Some(1),
                    ..Default::default()
                },
                Signal::Code,
            ),
            (
                Signals {
                    click: Some(touch(2, now - DAY, "c")),
                    ..Default::default()
                },
                Signal::ClickId,
            ),
            (
                Signals {
                    visitor_clicks: vec![touch(3, now - DAY, "v")],
                    ..Default::default()
                },
                Signal::Visitor,
            ),
            (
                Signals {
                    pending_referral: Some((4, now - DAY)),
                    ..Default::default()
                },
                Signal::EmailMatch,
            ),
        ];
        for (s, expected) in cases {
            let t = attribute(&s, Model::LastTouch, 30 * DAY, now, false);
            assert_eq!(t.winner, Some(expected), "{t:?}");
        }
        let typed = Signals {
            typed_name: Some(5),
            ..Default::default()
        };
        assert_eq!(
            attribute(&typed, Model::LastTouch, 30 * DAY, now, false).winner,
            None,
            "opt-in only"
        );
        assert_eq!(
            attribute(&typed, Model::LastTouch, 30 * DAY, now, true).advocate_id,
            Some(5)
        );
    }

    #[test]
    fn stronger_signals_outrank_weaker_ones() {
        let now = 100 * DAY;
        let s = Signals {
            code: Some(1),
            click: Some(touch(2, now - DAY, "c")),
            visitor_clicks: vec![touch(3, now - DAY, "v")],
            pending_referral: Some((4, now - DAY)),
            typed_name: None,
        };
        let t = attribute(&s, Model::LastTouch, 30 * DAY, now, false);
        assert_eq!((t.winner, t.advocate_id), (Some(Signal::Code), Some(1)));
        assert_eq!(
            t.seen
                .iter()
                .filter(|e| e.status == Status::Outranked)
                .count(),
            3
        );
        assert!(t.explanation.contains("referral code"));
    }

    #[test]
    fn the_model_picks_among_one_visitors_clicks() {
        let now = 100 * DAY;
        let s = Signals {
            visitor_clicks: vec![
                touch(7, now - 5 * DAY, "early"),
                touch(8, now - DAY, "late"),
            ],
            ..Default::default()
        };
        assert_eq!(
            attribute(&s, Model::FirstTouch, 30 * DAY, now, false).advocate_id,
            Some(7)
        );
        let last = attribute(&s, Model::LastTouch, 30 * DAY, now, false);
        assert_eq!(last.advocate_id, Some(8));
        assert!(last.seen.iter().any(
            |e| e.click_id.as_deref() == Some("early") && e.status == Status::NotChosenByModel
        ));
    }

    #[test]
    fn the_window_expires_and_bots_never_credit() {
        let now = 100 * DAY;
        let old = Signals {
            click: Some(touch(2, now - 31 * DAY, "c")),
            ..Default::default()
        };
        let t = attribute(&old, Model::LastTouch, 30 * DAY, now, false);
        assert_eq!((t.winner, t.seen[0].status), (None, Status::OutsideWindow));
        let edge = Signals {
            click: Some(touch(2, now - 30 * DAY, "c")),
            ..Default::default()
        };
        assert_eq!(
            attribute(&edge, Model::LastTouch, 30 * DAY, now, false).advocate_id,
            Some(2),
            "the last millisecond counts"
        );
        let bot = Signals {
            click: Some(Touch {
                qualified: false,
                ..touch(2, now, "b")
            }),
            ..Default::default()
        };
        let t = attribute(&bot, Model::LastTouch, 30 * DAY, now, false);
        assert_eq!((t.winner, t.seen[0].status), (None, Status::Unqualified));
        assert!(t.explanation.contains("none could give credit"));
    }

    proptest! {
        #[test]
        fn credit_goes_to_a_seen_usable_signal_or_nobody(
            code in proptest::option::of(1i64..5),
            clicks in proptest::collection::vec((1i64..5, 0i64..60, any::<bool>()), 0..6),
            first in any::<bool>(),
        ) {
            let now = 60 * DAY;
            let visitor_clicks: Vec<Touch> = clicks.iter().enumerate()
                .map(|(i, (a, d, q))| Touch { advocate_id: *a, at: now - d * DAY, click_id: format!("c{i}"), qualified: *q })
                .collect();
            let s = Signals { code, visitor_clicks, ..Default::default() };
            let model = if first { Model::FirstTouch } else { Model::LastTouch };
            let t = attribute(&s, model, 30 * DAY, now, false);
            prop_assert_eq!(t.seen.iter().filter(|e| e.status == Status::Used).count(), usize::from(t.winner.is_some()));
            if let Some(a) = t.advocate_id {
                prop_assert!(t.seen.iter().any(|e| e.advocate_id == a && e.status == Status::Used));
            }
            prop_assert_eq!(t.winner.is_some(), code.is_some() || s.visitor_clicks.iter().any(|c| c.qualified && now - c.at <= 30 * DAY));
        }
    }
}
