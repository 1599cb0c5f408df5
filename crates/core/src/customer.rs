//! Matching people: an email's matching key folds the differences that do not make a
//! different inbox (`+tags`, dots in Gmail addresses), so a friend cannot pose as new.

use crate::Email;

/// The key two addresses share when they reach the same person.
pub fn email_match_key(email: &Email) -> String {
    let (local, domain) = email.as_str().rsplit_once('@').expect("an Email has an @");
    let local = local.split('+').next().unwrap_or(local);
    let domain = if domain == "googlemail.com" {
        "gmail.com"
    } else {
        domain
    };
    let local = if domain == "gmail.com" {
        local.replace('.', "")
    } else {
        local.to_string()
    };
    format!("{local}@{domain}")
}

/// Whether the address's domain is a known disposable (throwaway) provider, from the
/// maintained list of the `mailchecker` package.
pub fn is_disposable(email: &Email) -> bool {
    !mailchecker::is_valid(email.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        email_match_key(&Email::parse(s).unwrap())
    }

    #[test]
    fn tags_and_gmail_dots_fold() {
        assert_eq!(key("Anna.Smith+shop@Gmail.com"), "annasmith@gmail.com");
        assert_eq!(key("anna.smith@googlemail.com"), "annasmith@gmail.com");
        assert_eq!(key("anna.smith+x@example.com"), "anna.smith@example.com");
    }

    #[test]
    fn disposable_domains_come_from_the_list() {
        assert!(is_disposable(
            &Email::parse("someone@mailinator.com").unwrap()
        ));
        assert!(!is_disposable(
            &Email::parse("someone@example-bakery.fr").unwrap()
        ));
    }
}
