//! Workspace settings: brand, money, time and sender identity, each checked on the way in.

use crate::{Email, Invalid};

/// The settings a workspace owner edits, already valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSettings {
    pub name: String,
    /// `#rrggbb`, lower-case.
    pub brand_color: String,
    /// An `https://` (or `http://`) URL, or empty.
    pub logo_url: String,
    /// ISO 4217 code, upper-case.
    pub currency: String,
    /// IANA time zone name.
    pub time_zone: String,
    pub sender_name: String,
    /// Empty, or a valid address.
    pub sender_email: String,
}

/// Raw settings as typed in a form or sent to the API.
#[derive(Debug, Clone, Default)]
pub struct SettingsInput<'a> {
    pub name: &'a str,
    pub brand_color: &'a str,
    pub logo_url: &'a str,
    pub currency: &'a str,
    pub time_zone: &'a str,
    pub sender_name: &'a str,
    pub sender_email: &'a str,
}

/// Currencies Vouch can name; the minor-unit count matters for display and payouts.
const CURRENCIES: &[(&str, u8)] = &[
    ("AUD", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("ILS", 2),
    ("INR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("MXN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PLN", 2),
    ("RON", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("TRY", 2),
    ("USD", 2),
    ("ZAR", 2),
];

/// The number of minor units of a supported currency (2 for EUR, 0 for JPY).
pub fn currency_minor_units(code: &str) -> Option<u8> {
    CURRENCIES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

pub fn supported_currencies() -> impl Iterator<Item = &'static str> {
    CURRENCIES.iter().map(|(c, _)| *c)
}

pub fn parse_currency(input: &str) -> Result<String, Invalid> {
    let code = input.trim().to_uppercase();
    currency_minor_units(&code).map(|_| code).ok_or_else(|| {
        Invalid::new(
            "currency",
            "use a supported ISO 4217 code such as EUR, USD or GBP",
        )
    })
}

pub fn parse_time_zone(input: &str) -> Result<String, Invalid> {
    let name = input.trim();
    jiff::tz::TimeZone::get(name)
        .map(|_| name.to_string())
        .map_err(|_| {
            Invalid::new(
                "time_zone",
                "use an IANA time zone such as Europe/Paris or America/New_York",
            )
        })
}

pub fn parse_color(input: &str) -> Result<String, Invalid> {
    let c = input.trim().to_lowercase();
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
    if ok {
        Ok(c)
    } else {
        Err(Invalid::new("brand_color", "use a colour like #1f6feb"))
    }
}

/// An absolute http(s) URL with a host, or empty.
pub fn parse_optional_url(field: &'static str, input: &str) -> Result<String, Invalid> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(u.to_string())
        }
        _ => Err(Invalid::new(
            field,
            "use a full address starting with https://",
        )),
    }
}

impl WorkspaceSettings {
    /// Checks every field and returns all the problems at once, so a form can show each.
    pub fn parse(input: &SettingsInput<'_>) -> Result<Self, Vec<Invalid>> {
        let mut errors = Vec::new();
        let mut take = |r: Result<String, Invalid>| match r {
            Ok(v) => v,
            Err(e) => {
                errors.push(e);
                String::new()
            }
        };
        let settings = WorkspaceSettings {
            name: take(crate::text::display_name("name", input.name)),
            brand_color: take(parse_color(input.brand_color)),
            logo_url: take(parse_optional_url("logo_url", input.logo_url)),
            currency: take(parse_currency(input.currency)),
            time_zone: take(parse_time_zone(input.time_zone)),
            sender_name: take(if input.sender_name.trim().is_empty() {
                Ok(String::new())
            } else {
                crate::text::display_name("sender_name", input.sender_name)
            }),
            sender_email: take(if input.sender_email.trim().is_empty() {
                Ok(String::new())
            } else {
                Email::parse(input.sender_email)
                    .map(String::from)
                    .map_err(|e| Invalid::new("sender_email", e.message))
            }),
        };
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SettingsInput<'static> {
        SettingsInput {
            name: "Anna's Bakery",
            brand_color: "#1F6FEB",
            logo_url: "",
            currency: "eur",
            time_zone: "Europe/Paris",
            sender_name: "",
            sender_email: "",
        }
    }

    #[test]
    fn good_settings_are_normalised() {
        let s = WorkspaceSettings::parse(&input()).unwrap();
        assert_eq!(s.currency, "EUR");
        assert_eq!(s.brand_color, "#1f6feb");
        assert_eq!(currency_minor_units("JPY"), Some(0));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let bad = SettingsInput {
            name: " ",
            brand_color: "blue",
            logo_url: "javascript:alert(1)",
            currency: "XYZ",
            time_zone: "Mars/Olympus",
            sender_name: "",
            sender_email: "nope",
        };
        let errors = WorkspaceSettings::parse(&bad).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "name",
                "brand_color",
                "logo_url",
                "currency",
                "time_zone",
                "sender_email"
            ]
        );
    }
}
