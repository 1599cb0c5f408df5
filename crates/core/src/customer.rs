//! Matching people: an email's matching key folds the differences that do not make a
//! different inbox (`+tags`, dots in Gmail addresses), so a friend cannot pose as new.

use crate::Email;
use std::collections::HashSet;
use std::sync::LazyLock;

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

/// Whether the address's domain (or a parent domain: `x.mailinator.com`) is a known disposable
/// (throwaway) provider, from the maintained list of the `mailchecker` package. The list has
/// tens of thousands of domains and the package scans it for every address, so it is put in a
/// set once.
pub fn is_disposable(email: &Email) -> bool {
    static DISPOSABLE: LazyLock<HashSet<&'static str>> =
        LazyLock::new(|| mailchecker::blacklist().into_iter().collect());
    let Some((_, mut domain)) = email.as_str().rsplit_once('@') else {
        return false;
    };
    // The domain and each parent with at least two labels (never a bare top-level domain).
    while let Some((_, parent)) = domain.split_once('.') {
        if DISPOSABLE.contains(domain) {
            return true;
        }
        domain = parent;
    }
    false
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
        // A subdomain of a listed provider is disposable too, as the package has it.
        assert!(is_disposable(
            &Email::parse("someone@inbox.mailinator.com").unwrap()
        ));
        assert!(!is_disposable(&Email::parse("someone@gmail.com").unwrap()));
        // The set agrees with the package's own check on every listed domain.
        for domain in mailchecker::blacklist().into_iter().step_by(97) {
            let address = format!("someone@{domain}");
            if let Ok(email) = Email::parse(&address) {
                assert_eq!(
                    is_disposable(&email),
                    !mailchecker::is_valid(&address),
                    "{address}"
                );
            }
        }
    }
}
