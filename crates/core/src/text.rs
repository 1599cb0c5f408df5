//! Text newtypes: a value that exists is valid (parse, don't validate).

use crate::Invalid;
use serde::{Deserialize, Serialize};

/// An email address, trimmed and lower-cased for identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let value = input.trim().to_lowercase();
        let invalid = |m: &str| Invalid::new("email", m.to_string());
        if value.is_empty() {
            return Err(invalid("enter an email address"));
        }
        if value.len() > 254 {
            return Err(invalid("an email address has at most 254 characters"));
        }
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(invalid("an email address looks like name@example.com"));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == '@');
        if !domain_ok || !local_ok {
            return Err(invalid("an email address looks like name@example.com"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A workspace's URL-safe handle: 2–48 of `a-z 0-9 -`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let value = input.trim().to_lowercase();
        let ok = (2..=48).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if ok {
            Ok(Self(value))
        } else {
            Err(Invalid::new(
                "slug",
                "use 2 to 48 lowercase letters, digits or dashes, not starting or ending with a dash",
            ))
        }
    }

    /// Derives a slug from a display name: "Anna's Bakery & Co" → "anna-s-bakery-co".
    pub fn from_name(name: &str) -> Result<Self, Invalid> {
        let mut out = String::new();
        for c in name.trim().to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        let trimmed: String = out.trim_end_matches('-').chars().take(48).collect();
        Self::parse(trimmed.trim_end_matches('-'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(value: Slug) -> Self {
        value.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A required display name: trimmed, 1–120 characters, no control characters.
pub fn display_name(field: &'static str, input: &str) -> Result<String, Invalid> {
    let value = input.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "this cannot be empty"));
    }
    if value.chars().count() > 120 {
        return Err(Invalid::new(field, "use at most 120 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            "remove line breaks and control characters",
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Anna@Example.COM ").unwrap().as_str(),
            "anna@example.com"
        );
        for bad in [
            "",
            "anna",
            "anna@",
            "@example.com",
            "a b@example.com",
            "anna@example",
            "anna@.com",
            "anna@ex..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn slugs_from_names() {
        assert_eq!(
            Slug::from_name("Anna's Bakery & Co").unwrap().as_str(),
            "anna-s-bakery-co"
        );
        assert!(Slug::parse("-x").is_err());
        assert!(Slug::parse("a").is_err());
        assert!(Slug::parse("Ab-1").is_ok());
        assert!(Slug::from_name("!!!").is_err());
    }

    proptest! {
        #[test]
        fn slug_from_any_name_is_valid_or_refused(name in ".{0,80}") {
            if let Ok(slug) = Slug::from_name(&name) {
                prop_assert_eq!(Slug::parse(slug.as_str()).unwrap(), slug.clone());
            }
        }

        #[test]
        fn email_parse_is_idempotent(local in "[a-zA-Z0-9._+-]{1,20}", domain in "[a-z0-9-]{1,20}\\.[a-z]{2,6}") {
            let email = Email::parse(&format!("{local}@{domain}")).unwrap();
            prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
        }
    }
}
