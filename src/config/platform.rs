//! What the hosting platform tells the app through its environment: the App Service
//! managed identity endpoint, the Kubernetes workload identity token file, the App Service
//! host name. Read with the configuration (from the variables [`AuthConfig::load_from`]
//! is given, else from the process), so a test can hand in its own.
//!
//! [`AuthConfig::load_from`]: super::AuthConfig::load_from

/// App Service / Functions: the managed identity endpoint and the header value it wants.
pub(crate) const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
pub(crate) const IDENTITY_HEADER: &str = "IDENTITY_HEADER";
/// Kubernetes workload identity: the projected service account token.
pub(crate) const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// App Service: the app's default host name (`<name>-<hash>.<region>.azurewebsites.net`).
pub(crate) const WEBSITE_HOSTNAME: &str = "WEBSITE_HOSTNAME";

const NAMES: [&str; 4] = [
    IDENTITY_ENDPOINT,
    IDENTITY_HEADER,
    AZURE_FEDERATED_TOKEN_FILE,
    WEBSITE_HOSTNAME,
];

/// The platform's variables, as far as they are set (and not empty).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Platform {
    vars: Vec<(&'static str, String)>,
}

impl Platform {
    /// From the process environment.
    pub(crate) fn from_process() -> Platform {
        Platform::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `vars`, falling back to the process environment for a variable they lack.
    pub(crate) fn from_vars(vars: &[(String, String)]) -> Platform {
        Platform::from_lookup(|name| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(name).ok())
        })
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Platform {
        Platform {
            vars: NAMES
                .iter()
                .filter_map(|name| {
                    let value = lookup(name)?;
                    (!value.trim().is_empty()).then(|| (*name, value.trim().to_owned()))
                })
                .collect(),
        }
    }

    /// The value of `name` (one of the constants above).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for Platform {
    // IDENTITY_HEADER is a secret: name what is set, never a value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.vars.iter().map(|(k, _)| k))
            .finish()
    }
}
