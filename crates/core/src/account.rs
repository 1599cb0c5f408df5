//! Who may do what: member roles and API key scopes.

use crate::Invalid;
use serde::{Deserialize, Serialize};

/// A member's role in a workspace. Ordered: a higher role can do all a lower one can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Viewer];

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        match input.trim().to_lowercase().as_str() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            _ => Err(Invalid::new("role", "choose owner, admin or viewer")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    /// Viewers read; admins and owners change the workspace's data.
    pub fn can_write(self) -> bool {
        self >= Role::Admin
    }

    /// Only owners manage members and API keys (they hand out access).
    pub fn can_manage_access(self) -> bool {
        self == Role::Owner
    }
}

/// What an API key may do. Keys carry a set of scopes; `write` implies `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiScope {
    Read,
    Write,
}

impl ApiScope {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        match input.trim().to_lowercase().as_str() {
            "read" => Ok(ApiScope::Read),
            "write" => Ok(ApiScope::Write),
            _ => Err(Invalid::new("scope", "choose read or write")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Read => "read",
            ApiScope::Write => "write",
        }
    }

    /// Parses a space- or comma-separated list; empty means `read`.
    pub fn parse_list(input: &str) -> Result<Vec<Self>, Invalid> {
        let mut scopes = input
            .split([' ', ','])
            .filter(|s| !s.trim().is_empty())
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if scopes.is_empty() {
            scopes.push(ApiScope::Read);
        }
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }

    pub fn join(scopes: &[Self]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether a key holding `granted` may act with `needed`.
    pub fn allows(granted: &[Self], needed: Self) -> bool {
        granted.iter().any(|g| *g >= needed)
    }
}

/// A password chosen by a person: at least 10 characters, at most 1024 (hashing cost).
pub fn check_new_password(password: &str) -> Result<(), Invalid> {
    let n = password.chars().count();
    if n < 10 {
        return Err(Invalid::new("password", "use at least 10 characters"));
    }
    if n > 1024 {
        return Err(Invalid::new("password", "use at most 1024 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_rights() {
        assert!(!Role::Viewer.can_write());
        assert!(Role::Admin.can_write() && !Role::Admin.can_manage_access());
        assert!(Role::Owner.can_manage_access());
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn scopes_parse_and_imply() {
        let s = ApiScope::parse_list("write, read write").unwrap();
        assert_eq!(s, vec![ApiScope::Read, ApiScope::Write]);
        assert_eq!(ApiScope::parse_list("").unwrap(), vec![ApiScope::Read]);
        assert!(ApiScope::allows(&[ApiScope::Write], ApiScope::Read));
        assert!(!ApiScope::allows(&[ApiScope::Read], ApiScope::Write));
        assert!(ApiScope::parse_list("admin").is_err());
    }
}
