//! Staff roles and what each may do (DESIGN §1).

use std::fmt;

use super::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Chatter,
    Manager,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Manager, Role::Chatter];

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s.trim() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "chatter" => Ok(Role::Chatter),
            _ => Err(ParseError::new("Choose one of the listed roles.")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Chatter => "chatter",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Manager => "Manager",
            Role::Chatter => "Chatter",
        }
    }

    /// Owners and admins manage staff, connections and see the audit log.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Managers and above see every inbox and dashboard of the agency.
    pub fn is_manager_or_above(self) -> bool {
        self >= Role::Manager
    }

    /// Whether `self` may give `target` role to someone or change someone who
    /// holds it. Only owners touch owners; admins manage everyone else.
    pub fn may_manage(self, target: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => target != Role::Owner,
            Role::Manager | Role::Chatter => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Role {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Role::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("superuser").is_err());
    }

    #[test]
    fn management_rules() {
        assert!(Role::Owner.may_manage(Role::Owner));
        assert!(Role::Admin.may_manage(Role::Chatter));
        assert!(!Role::Admin.may_manage(Role::Owner));
        assert!(!Role::Manager.may_manage(Role::Chatter));
        assert!(Role::Manager.is_manager_or_above());
        assert!(!Role::Chatter.is_manager_or_above());
        assert!(!Role::Manager.is_admin());
    }
}
