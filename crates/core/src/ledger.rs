//! The ledger's rules: accounts, and the postings rewards and payouts make. Amounts are signed
//! minor units, debits positive and credits negative, so every transaction sums to zero. The
//! store appends postings and refuses to change them; corrections are new postings.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    /// What the program has cost the business (debit-normal).
    ProgramExpense,
    /// Credit an advocate or friend can spend with the business (credit-normal, per customer).
    CustomerCredit,
    /// Cash owed to an advocate (credit-normal, per customer).
    AdvocatePayable,
    /// Cash in a confirmed payout batch, not yet paid (credit-normal, per customer).
    PayoutPending,
    /// Cash that left the business (credit-normal).
    PaidOut,
    /// Value clawed back that the advocate's balance could not cover: nets against their next
    /// rewards (debit-normal, per customer).
    ClawbackReceivable,
    /// Credit the customer spent with the business (credit-normal).
    CreditRedeemed,
}

impl Account {
    pub const ALL: [Account; 7] = [
        Self::ProgramExpense,
        Self::CustomerCredit,
        Self::AdvocatePayable,
        Self::PayoutPending,
        Self::PaidOut,
        Self::ClawbackReceivable,
        Self::CreditRedeemed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProgramExpense => "program_expense",
            Self::CustomerCredit => "customer_credit",
            Self::AdvocatePayable => "advocate_payable",
            Self::PayoutPending => "payout_pending",
            Self::PaidOut => "paid_out",
            Self::ClawbackReceivable => "clawback_receivable",
            Self::CreditRedeemed => "credit_redeemed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Debit-normal accounts show their signed sum; credit-normal ones its negation, so a
    /// balance reads as "how much is in it".
    pub fn natural(self, signed: i64) -> i64 {
        match self {
            Self::ProgramExpense | Self::ClawbackReceivable => signed,
            _ => -signed,
        }
    }
}

/// One line of a posting: `customer_id` is 0 for the workspace's own accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub account: Account,
    pub customer_id: i64,
    pub amount_minor: i64,
}

/// A balanced set of legs, ready to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    legs: Vec<Leg>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a posting must balance: its legs sum to {0}")]
pub struct Unbalanced(pub i64);

impl Posting {
    /// Drops zero legs; refuses a posting whose legs do not sum to zero or that moves nothing.
    pub fn new(legs: Vec<Leg>) -> Result<Self, Unbalanced> {
        let legs: Vec<Leg> = legs.into_iter().filter(|l| l.amount_minor != 0).collect();
        let sum = legs
            .iter()
            .try_fold(0i64, |s, l| s.checked_add(l.amount_minor))
            .ok_or(Unbalanced(i64::MAX))?;
        if sum != 0 || legs.is_empty() {
            return Err(Unbalanced(sum));
        }
        Ok(Self { legs })
    }
    pub fn legs(&self) -> &[Leg] {
        &self.legs
    }
}

fn leg(account: Account, customer_id: i64, amount_minor: i64) -> Leg {
    Leg {
        account,
        customer_id,
        amount_minor,
    }
}

/// Where a monetary reward's value lands.
pub fn holding_account(kind: &str) -> Account {
    if kind == "cash" {
        Account::AdvocatePayable
    } else {
        Account::CustomerCredit
    }
}

/// Posting a reward of `amount` to `customer`: expense up, and the customer's balance up,
/// except for what first settles an open clawback receivable (`receivable`, natural).
pub fn accrue(
    kind: &str,
    customer: i64,
    amount: i64,
    receivable: i64,
) -> Result<Posting, Unbalanced> {
    let settle = receivable.clamp(0, amount);
    Posting::new(vec![
        leg(Account::ProgramExpense, 0, amount),
        leg(Account::ClawbackReceivable, customer, -settle),
        leg(holding_account(kind), customer, -(amount - settle)),
    ])
}

/// Clawing back `amount` of a posted reward: taken from the customer's balance (`balance`,
/// natural) as far as it goes, the rest owed as a receivable.
pub fn claw_back(
    kind: &str,
    customer: i64,
    amount: i64,
    balance: i64,
) -> Result<Posting, Unbalanced> {
    let from_balance = balance.clamp(0, amount);
    Posting::new(vec![
        leg(holding_account(kind), customer, from_balance),
        leg(Account::ClawbackReceivable, customer, amount - from_balance),
        leg(Account::ProgramExpense, 0, -amount),
    ])
}

/// A customer spending `amount` of their credit with the business.
pub fn redeem(customer: i64, amount: i64) -> Result<Posting, Unbalanced> {
    Posting::new(vec![
        leg(Account::CustomerCredit, customer, amount),
        leg(Account::CreditRedeemed, 0, -amount),
    ])
}

/// A payout batch moves each payee's amount from payable to pending…
pub fn payout_confirmed(items: &[(i64, i64)]) -> Result<Posting, Unbalanced> {
    Posting::new(
        items
            .iter()
            .flat_map(|&(c, a)| {
                [
                    leg(Account::AdvocatePayable, c, a),
                    leg(Account::PayoutPending, c, -a),
                ]
            })
            .collect(),
    )
}

/// …then out of the business when it is paid…
pub fn payout_paid(items: &[(i64, i64)]) -> Result<Posting, Unbalanced> {
    Posting::new(
        items
            .iter()
            .flat_map(|&(c, a)| {
                [
                    leg(Account::PayoutPending, c, a),
                    leg(Account::PaidOut, 0, -a),
                ]
            })
            .collect(),
    )
}

/// …or back to payable when it is cancelled.
pub fn payout_cancelled(items: &[(i64, i64)]) -> Result<Posting, Unbalanced> {
    Posting::new(
        items
            .iter()
            .flat_map(|&(c, a)| {
                [
                    leg(Account::PayoutPending, c, a),
                    leg(Account::AdvocatePayable, c, -a),
                ]
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(p: &Posting) -> i64 {
        p.legs().iter().map(|l| l.amount_minor).sum()
    }

    #[test]
    fn postings_balance_or_are_refused() {
        assert_eq!(
            Posting::new(vec![leg(Account::PaidOut, 0, 5)]),
            Err(Unbalanced(5))
        );
        assert_eq!(Posting::new(vec![]), Err(Unbalanced(0)));
        let p = accrue("cash", 7, 1000, 300).unwrap();
        assert_eq!(sum(&p), 0);
        assert_eq!(
            p.legs().len(),
            3,
            "300 settles the receivable, 700 is payable"
        );
        assert_eq!(p.legs()[2], leg(Account::AdvocatePayable, 7, -700));
        let p = claw_back("cash", 7, 1000, 400).unwrap();
        assert_eq!(sum(&p), 0);
        assert_eq!(p.legs()[1], leg(Account::ClawbackReceivable, 7, 600));
        assert_eq!(
            accrue("credit", 7, 10, 0).unwrap().legs()[1].account,
            Account::CustomerCredit
        );
    }

    #[test]
    fn natural_balances_read_positive() {
        let p = accrue("cash", 1, 500, 0).unwrap();
        let payable: i64 = p
            .legs()
            .iter()
            .filter(|l| l.account == Account::AdvocatePayable)
            .map(|l| l.amount_minor)
            .sum();
        assert_eq!(Account::AdvocatePayable.natural(payable), 500);
        assert_eq!(Account::parse("paid_out"), Some(Account::PaidOut));
    }
}
