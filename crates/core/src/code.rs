//! Referral codes: short, unambiguous, case-insensitive, unique across the whole server
//! (a link names no workspace, so `/r/{code}` must always find exactly one advocate).

use crate::Invalid;

/// Letters and digits a person cannot misread: no 0/O, no 1/I/L.
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const GENERATED_LEN: usize = 8;

/// A referral code in its canonical (upper-case) form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReferralCode(String);

impl ReferralCode {
    /// A fresh random code from the CSPRNG (31^8 ≈ 8.5 × 10^11 codes).
    pub fn generate() -> Self {
        let bytes = crate::secret::random_bytes::<32>();
        // Rejection sampling keeps every letter equally likely.
        let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
        let mut code = String::with_capacity(GENERATED_LEN);
        let mut extra = bytes.iter();
        while code.len() < GENERATED_LEN {
            let b = match extra.next() {
                Some(b) => *b,
                None => return Self::generate(),
            };
            if b < limit {
                code.push(ALPHABET[(b as usize) % ALPHABET.len()] as char);
            }
        }
        Self(code)
    }

    /// A code as typed or found in a URL: trimmed, case-insensitive, 3–32 of `A-Z 0-9 -`.
    /// Vanity codes may use any letter or digit; generated ones never contain ambiguous ones.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let code = input.trim().to_ascii_uppercase();
        let ok = (3..=32).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            && !code.starts_with('-')
            && !code.ends_with('-');
        if ok {
            Ok(Self(code))
        } else {
            Err(Invalid::new(
                "code",
                "use 3 to 32 letters, digits or dashes",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReferralCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a vanity code is fit to print on a business's flyers: no profanity, slurs or sexual
/// words, however spelled (repeated letters, digits for letters, spacing), judged by the
/// maintained `rustrict` word lists.
pub fn decent(code: &ReferralCode) -> Result<(), Invalid> {
    use rustrict::{CensorStr, Type};
    // The number people add to their name ("ANNA10") is left out: read as letters (1 as l,
    // 0 as o), it spells words that are not there. Digits inside a word ("SH1T") still count.
    let words = code
        .as_str()
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
        .replace('-', " ")
        .to_lowercase();
    // Mild matches are left alone: a code is a name and a number far more often than an insult.
    if words.is((Type::PROFANE | Type::OFFENSIVE | Type::SEXUAL) & Type::MODERATE_OR_HIGHER) {
        return Err(Invalid::new(
            "vanity",
            "this code reads as offensive; choose another (your name and a number work well)",
        ));
    }
    Ok(())
}

/// A discount-code pattern: `#` is a random digit, `?` a random letter (both from the
/// unambiguous alphabet), anything else is kept, e.g. `THANKS-????-####`.
pub fn check_pattern(pattern: &str) -> Result<(), Invalid> {
    let random = pattern.chars().filter(|c| matches!(c, '#' | '?')).count();
    let ok = (4..=40).contains(&pattern.len())
        && pattern
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '#' | '?'));
    if !ok {
        return Err(Invalid::new(
            "pattern",
            "use 4 to 40 of A-Z, 0-9 and -, with # for a random digit and ? for a random letter",
        ));
    }
    if random < 6 {
        // Fewer random places make codes guessable by trying them at checkout.
        return Err(Invalid::new(
            "pattern",
            "use at least 6 random places (# or ?) so codes cannot be guessed",
        ));
    }
    Ok(())
}

/// A fresh code from a checked pattern.
pub fn fill_pattern(pattern: &str) -> String {
    const DIGITS: &[u8] = b"23456789";
    const LETTERS: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ";
    let bytes = crate::secret::random_bytes::<64>();
    let mut random = bytes.iter().copied().cycle().enumerate();
    let mut pick = |set: &[u8]| {
        // 64 fresh bytes cover any checked pattern; the modulo bias (256 % 23) is immaterial
        // for single-use codes.
        let (_, b) = random.next().expect("cycle never ends");
        set[b as usize % set.len()] as char
    };
    pattern
        .chars()
        .map(|c| match c {
            '#' => pick(DIGITS),
            '?' => pick(LETTERS),
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanity_codes_must_be_decent() {
        for ok in ["ANNA10", "CARLA-2026", "SCUNTHORPE", "BASS4", "GRAPE7"] {
            assert!(decent(&ReferralCode::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in ["FUCK10", "SH1T", "FUUUCK", "BITCH-99"] {
            assert!(decent(&ReferralCode::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn discount_patterns() {
        assert!(check_pattern("THANKS-????-####").is_ok());
        assert!(check_pattern("THANKS-##").is_err(), "guessable");
        assert!(check_pattern("thanks-??????").is_err());
        let c = fill_pattern("THANKS-????-####");
        assert_eq!(c.len(), 16);
        assert!(c.starts_with("THANKS-"));
        assert!(
            c[7..11]
                .chars()
                .all(|c| c.is_ascii_uppercase() && c != 'O' && c != 'I' && c != 'L')
        );
        assert!(c[12..].chars().all(|c| ('2'..='9').contains(&c)));
        assert_ne!(fill_pattern("??????????"), fill_pattern("??????????"));
    }
    use proptest::prelude::*;

    #[test]
    fn generated_codes_are_unambiguous() {
        for _ in 0..500 {
            let c = ReferralCode::generate();
            assert_eq!(c.as_str().len(), GENERATED_LEN);
            assert!(!c.as_str().contains(['0', 'O', '1', 'I', 'L']), "{c}");
            assert_eq!(ReferralCode::parse(c.as_str()).unwrap(), c);
        }
    }

    #[test]
    fn parsing_is_case_insensitive_and_strict() {
        assert_eq!(ReferralCode::parse(" anna10 ").unwrap().as_str(), "ANNA10");
        for bad in [
            "",
            "ab",
            "a b c",
            "x/../y",
            "-abc",
            "abc-",
            "é-code",
            &"A".repeat(33),
        ] {
            assert!(ReferralCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn codes_round_trip_in_any_case(raw in "[A-Za-z0-9]{3,20}") {
            let c = ReferralCode::parse(&raw).unwrap();
            prop_assert_eq!(ReferralCode::parse(&raw.to_lowercase()).unwrap(), c.clone());
            prop_assert_eq!(ReferralCode::parse(c.as_str()).unwrap(), c);
        }
    }
}
