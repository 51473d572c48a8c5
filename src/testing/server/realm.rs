//! Which issuer a request came through: a single-tenant provider's only one, or, on a
//! provider shaped like Microsoft Entra's multi-tenant endpoints, `common`, `organizations`
//! (the templated issuer) or one tenant (its own issuer).

/// The tenants whose discovery document names the templated issuer, as Entra's do.
pub(crate) const TEMPLATE_TENANTS: [&str; 2] = ["common", "organizations"];
/// What the templated issuer holds in place of the tenant id.
pub(crate) const TENANT_PLACEHOLDER: &str = "{tenantid}";
/// The route prefix of every endpoint of a multi-tenant provider (an axum path parameter).
pub(crate) const MULTI_TENANT_PREFIX: &str = "/{tenant}/v2.0";

/// Whether the provider is single- or multi-tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tenancy {
    /// One issuer, `http://127.0.0.1:PORT` plus the issuer path.
    Single,
    /// Entra's layout: `/{tenant}/v2.0/…` for `common`, `organizations` and any tenant id.
    EntraMultiTenant,
}

/// The issuer a request came through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Realm {
    /// A single-tenant provider's only issuer.
    Single,
    /// `common` or `organizations`: the templated issuer.
    Template(String),
    /// One tenant, by its id: that tenant's issuer.
    Tenant(String),
}

impl Realm {
    /// The realm of a request for `path` (the full request path).
    pub(crate) fn of(tenancy: Tenancy, path: &str) -> Realm {
        match tenancy {
            Tenancy::Single => Realm::Single,
            Tenancy::EntraMultiTenant => {
                let segment = path
                    .trim_start_matches('/')
                    .split('/')
                    .next()
                    .unwrap_or_default();
                if TEMPLATE_TENANTS.contains(&segment) {
                    Realm::Template(segment.to_owned())
                } else {
                    Realm::Tenant(segment.to_owned())
                }
            }
        }
    }

    /// The tenant segment of the path, `None` for a single-tenant provider.
    pub(crate) fn segment(&self) -> Option<&str> {
        match self {
            Realm::Single => None,
            Realm::Template(segment) | Realm::Tenant(segment) => Some(segment),
        }
    }
}
