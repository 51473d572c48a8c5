//! Rules about a logged-in user, for a route: roles, groups, or any predicate.

use std::sync::Arc;

use crate::user::User;

/// A rule a logged-in user must pass to reach a route; any `Fn(&User) -> bool` is one.
///
/// ```
/// use tower_oidc_login::{RequireLoginLayer, User};
///
/// // Roles or groups, or anything the claims say.
/// let admins = RequireLoginLayer::new().require_roles(["Admin"]);
/// let staff = RequireLoginLayer::new().require(|user: &User| {
///     user.claim::<String>("tid").as_deref() == Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
/// });
/// # let _ = (admins, staff);
/// ```
pub trait UserRule: Send + Sync + 'static {
    /// Whether `user` (logged in) may pass.
    fn allows(&self, user: &User) -> bool;
}

impl<F> UserRule for F
where
    F: Fn(&User) -> bool + Send + Sync + 'static,
{
    fn allows(&self, user: &User) -> bool {
        self(user)
    }
}

/// Holds when the user has any of these roles (the `roles` claim).
#[derive(Clone, Debug)]
pub(crate) struct AnyRole(pub(crate) Vec<String>);

impl UserRule for AnyRole {
    fn allows(&self, user: &User) -> bool {
        self.0.iter().any(|role| user.has_role(role))
    }
}

/// Holds when the user is in any of these groups (the `groups` claim).
#[derive(Clone, Debug)]
pub(crate) struct AnyGroup(pub(crate) Vec<String>);

impl UserRule for AnyGroup {
    fn allows(&self, user: &User) -> bool {
        self.0.iter().any(|group| user.in_group(group))
    }
}

/// Every rule of a guard; all must hold.
#[derive(Clone, Default)]
pub(crate) struct Rules(pub(crate) Vec<Arc<dyn UserRule>>);

impl Rules {
    pub(crate) fn allow(&self, user: &User) -> bool {
        self.0.iter().all(|rule| rule.allows(user))
    }
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rules({})", self.0.len())
    }
}
