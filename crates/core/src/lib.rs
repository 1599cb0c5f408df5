//! Vouch's pure domain: the newtypes and rules every other crate speaks in.
//! Nothing here does I/O; what is here can be tested by the thousand.

pub mod account;
pub mod attribution;
pub mod campaign;
pub mod clock;
pub mod code;
pub mod customer;
pub mod fraud;
pub mod id;
pub mod ledger;
pub mod password;
pub mod program;
pub mod reward;
pub mod secret;
pub mod settings;
pub mod text;
pub mod visit;

pub use account::{ApiScope, Role};
pub use clock::Millis;
pub use secret::{Secret, SecretHash};
pub use text::{Email, Slug};

/// A value that failed to parse, with a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
