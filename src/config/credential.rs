//! How the app proves to a provider that it is its client: `client_secret`, a private key
//! (`client_private_key_file` or `client_private_key`, with `client_certificate_file`), or a
//! client assertion from the platform (`client_assertion`, with
//! `managed_identity_client_id`). Exactly one kind per provider, checked at start.
//!
//! Each key goes through its own rule as it is read (a key file is read and parsed there, so
//! an unreadable or wrong file names its key); [`resolve`] then settles which credential the
//! provider has, which needs every key of the table at once.

use std::path::Path;

use super::error::{ConfigError, ConfigSource};
use super::secret::Secret;
use super::values::{non_empty, At, Field};
use crate::client_key::ClientKey;

/// The keys of this module, in the order they are documented.
pub(crate) const CREDENTIAL_KEYS: [&str; 5] = [
    "client_private_key_file",
    "client_private_key",
    "client_certificate_file",
    "client_assertion",
    "managed_identity_client_id",
];

/// How the app authenticates at a provider's token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCredential {
    /// `client_secret`, sent as `client_secret_basic` or `client_secret_post`.
    Secret(Secret),
    /// `client_private_key_file` or `client_private_key` (with `client_certificate_file`):
    /// a client assertion signed with the app's own key (`private_key_jwt`). No shared
    /// secret exists.
    PrivateKey(ClientKey),
    /// `client_assertion`: a client assertion the platform issues to the app's identity (a
    /// federated credential). No secret and no key in the app at all.
    Assertion(AssertionSource),
}

/// Where a platform-issued client assertion comes from (`client_assertion`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionSource {
    /// `"azure_managed_identity"`: the App Service / Functions managed identity endpoint
    /// (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`), for the resource
    /// `api://AzureADTokenExchange`, as the user-assigned identity `client_id`
    /// (`managed_identity_client_id`), or without it as the app's system-assigned identity.
    /// Microsoft Entra ID trusts only user-assigned identities as federated credentials, so
    /// leaving the id out is a start-up warning.
    AzureManagedIdentity {
        /// The user-assigned identity's client id; `None` for the system-assigned identity.
        client_id: Option<String>,
    },
    /// `"azure_workload_identity"`: the token file Kubernetes workload identity mounts
    /// (`AZURE_FEDERATED_TOKEN_FILE`), read again when it changes.
    AzureWorkloadIdentity,
}

impl AssertionSource {
    /// The value of `client_assertion` that names this source.
    pub fn name(&self) -> &'static str {
        match self {
            AssertionSource::AzureManagedIdentity { .. } => "azure_managed_identity",
            AssertionSource::AzureWorkloadIdentity => "azure_workload_identity",
        }
    }
}

impl From<Secret> for ClientCredential {
    fn from(secret: Secret) -> Self {
        ClientCredential::Secret(secret)
    }
}

impl From<&str> for ClientCredential {
    fn from(secret: &str) -> Self {
        ClientCredential::Secret(Secret::new(secret))
    }
}

impl From<String> for ClientCredential {
    fn from(secret: String) -> Self {
        ClientCredential::Secret(Secret::new(secret))
    }
}

impl From<ClientKey> for ClientCredential {
    fn from(key: ClientKey) -> Self {
        ClientCredential::PrivateKey(key)
    }
}

impl From<AssertionSource> for ClientCredential {
    fn from(source: AssertionSource) -> Self {
        ClientCredential::Assertion(source)
    }
}

/// The kind of `client_assertion` named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AssertionKind {
    AzureManagedIdentity,
    AzureWorkloadIdentity,
}

/// What a provider table said about its credential so far: each value checked by its rule.
#[derive(Clone, Debug, Default)]
pub(crate) struct CredentialDraft {
    pub(crate) secret: Option<Secret>,
    /// The key, and which of the two keys gave it.
    pub(crate) key: Option<(ClientKey, &'static str)>,
    /// The certificate's PEM text, read from `client_certificate_file`.
    pub(crate) certificate: Option<String>,
    pub(crate) assertion: Option<AssertionKind>,
    pub(crate) managed_identity_client_id: Option<String>,
}

impl CredentialDraft {
    /// A finished credential back as a draft (to lay variables over it).
    pub(crate) fn from_credential(credential: ClientCredential) -> CredentialDraft {
        let mut draft = CredentialDraft::default();
        match credential {
            ClientCredential::Secret(secret) => draft.secret = Some(secret),
            ClientCredential::PrivateKey(key) => draft.key = Some((key, "client_private_key")),
            ClientCredential::Assertion(AssertionSource::AzureManagedIdentity { client_id }) => {
                draft.assertion = Some(AssertionKind::AzureManagedIdentity);
                draft.managed_identity_client_id = client_id;
            }
            ClientCredential::Assertion(AssertionSource::AzureWorkloadIdentity) => {
                draft.assertion = Some(AssertionKind::AzureWorkloadIdentity);
            }
        }
        draft
    }

    /// The keys a finished credential stands for, as if given in the table.
    pub(crate) fn given_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.secret.is_some() {
            keys.push("client_secret");
        }
        if let Some((_, key)) = &self.key {
            keys.push(*key);
        }
        if self.assertion.is_some() {
            keys.push("client_assertion");
        }
        if self.managed_identity_client_id.is_some() {
            keys.push("managed_identity_client_id");
        }
        keys
    }
}

/// Applies one credential key of a provider table; `None` when `name` is not one.
pub(crate) fn apply(draft: &mut CredentialDraft, name: &str, field: &Field<'_>) -> Option<Result<(), ConfigError>> {
    let at = field.at();
    let result = match name {
        "client_private_key_file" => field
            .str()
            .and_then(|path| read_file(at, path))
            .and_then(|pem| key_from_pem(at, &pem))
            .map(|key| draft.key = Some((key, "client_private_key_file"))),
        "client_private_key" => field
            .str()
            .and_then(|pem| key_from_pem(at, &unescape_newlines(pem)))
            .map(|key| draft.key = Some((key, "client_private_key"))),
        "client_certificate_file" => field
            .str()
            .and_then(|path| read_file(at, path))
            .and_then(|pem| {
                // Checked here so the message names this key; attached to the key in `resolve`.
                let is_certificate = pem_rfc7468::decode_vec(pem.trim().as_bytes())
                    .is_ok_and(|(label, _)| label == "CERTIFICATE");
                match is_certificate {
                    true => Ok(pem),
                    false => Err(at.invalid(
                        "the file is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
                    )),
                }
            })
            .map(|pem| draft.certificate = Some(pem)),
        "client_assertion" => field
            .str()
            .and_then(|value| assertion_kind(at, value))
            .map(|kind| draft.assertion = Some(kind)),
        "managed_identity_client_id" => field
            .str()
            .and_then(|value| non_empty(at, value))
            .map(|id| draft.managed_identity_client_id = Some(id.to_owned())),
        _ => return None,
    };
    Some(result)
}

/// `client_assertion`'s value.
fn assertion_kind(at: At<'_>, value: &str) -> Result<AssertionKind, ConfigError> {
    match value.trim() {
        "azure_managed_identity" => Ok(AssertionKind::AzureManagedIdentity),
        "azure_workload_identity" => Ok(AssertionKind::AzureWorkloadIdentity),
        other => Err(at.invalid(format!(
            "\"{}\" is not a client assertion source; use \"azure_managed_identity\" (App \
             Service, Functions, Container Apps) or \"azure_workload_identity\" (Kubernetes)",
            other.escape_debug()
        ))),
    }
}

/// A PEM file named by a key, relative to the working directory (like `.streamlit/`).
fn read_file(at: At<'_>, path: &str) -> Result<String, ConfigError> {
    let path = Path::new(path.trim());
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        at.invalid(format!(
            "cannot read \"{shown}\" ({e}); the path is relative to the working directory"
        ))
    })?;
    warn_if_readable_by_others(path);
    Ok(text)
}

/// A private key readable by other users of the machine is worth a line in the log.
#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 && path_holds_key(path) {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "a client key file is readable by other users; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

/// Certificates are public: only a file holding a private key is worth the warning.
#[cfg(unix)]
fn path_holds_key(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.contains("PRIVATE KEY"))
}

fn key_from_pem(at: At<'_>, pem: &str) -> Result<ClientKey, ConfigError> {
    ClientKey::from_pem(pem).map_err(|e| at.invalid(e.to_string()))
}

/// A PEM in an environment variable is often written on one line with `\n` for its line
/// breaks (App Service settings cannot hold a line break).
fn unescape_newlines(pem: &str) -> String {
    if pem.contains('\n') {
        pem.to_owned()
    } else {
        pem.replace("\\n", "\n")
    }
}

/// Where the provider table's keys are, for messages.
pub(crate) struct TablePlace<'a> {
    /// `auth.google`
    pub(crate) prefix: &'a str,
    /// Where the key named in a message came from.
    pub(crate) origin_of: &'a dyn Fn(&str) -> ConfigSource,
}

/// The one credential of a provider, or why there is none or more than one. `Ok(None)`:
/// nothing was given (a missing `client_secret`, reported with the other missing keys).
pub(crate) fn resolve(
    draft: CredentialDraft,
    place: &TablePlace<'_>,
    secret_method_set: bool,
) -> Result<Option<ClientCredential>, ConfigError> {
    let key = |name: &str| format!("{}.{name}", place.prefix);
    let invalid = |name: &str, reason: String| ConfigError::InvalidValue {
        key: key(name),
        reason,
        origin: (place.origin_of)(&key(name)),
    };
    let CredentialDraft {
        secret,
        key: private_key,
        certificate,
        assertion,
        managed_identity_client_id,
    } = draft;
    let mut kinds: Vec<&str> = Vec::new();
    if secret.is_some() {
        kinds.push("client_secret");
    }
    if let Some((_, name)) = &private_key {
        kinds.push(name);
    }
    if assertion.is_some() {
        kinds.push("client_assertion");
    }
    if kinds.len() > 1 {
        return Err(invalid(
            kinds[1],
            format!(
                "a provider takes exactly one kind of client credential (client_secret, a \
                 private key in client_private_key_file or client_private_key, or \
                 client_assertion), and this one also has `{}`; remove one",
                kinds[0]
            ),
        ));
    }
    if certificate.is_some() && private_key.is_none() {
        return Err(invalid(
            "client_certificate_file",
            "a certificate goes with the private key it certifies: set \
             client_private_key_file (or client_private_key) too"
                .to_owned(),
        ));
    }
    if managed_identity_client_id.is_some() && assertion != Some(AssertionKind::AzureManagedIdentity)
    {
        return Err(invalid(
            "managed_identity_client_id",
            "it picks the identity for client_assertion = \"azure_managed_identity\", which \
             this provider does not use"
                .to_owned(),
        ));
    }
    if secret_method_set && secret.is_none() && !kinds.is_empty() {
        return Err(invalid(
            "client_kwargs.token_endpoint_auth_method",
            "it chooses how client_secret is sent, and this provider has no client_secret: a \
             private key or client assertion is always sent as private_key_jwt; remove it"
                .to_owned(),
        ));
    }
    let credential = match (secret, private_key, assertion) {
        (Some(secret), _, _) => ClientCredential::Secret(secret),
        (_, Some((key, _)), _) => match certificate {
            Some(pem) => ClientCredential::PrivateKey(key.with_certificate_pem(&pem).map_err(
                |e| invalid("client_certificate_file", e.to_string()),
            )?),
            None => ClientCredential::PrivateKey(key),
        },
        (_, _, Some(AssertionKind::AzureManagedIdentity)) => {
            ClientCredential::Assertion(AssertionSource::AzureManagedIdentity {
                client_id: managed_identity_client_id,
            })
        }
        (_, _, Some(AssertionKind::AzureWorkloadIdentity)) => {
            ClientCredential::Assertion(AssertionSource::AzureWorkloadIdentity)
        }
        (None, None, None) => return Ok(None),
    };
    Ok(Some(credential))
}
