//! What a [`DevProvider`](super::DevProvider) is registered to accept and to issue, as set on
//! its [builder](super::DevProviderBuilder): client authentication methods, federated
//! credentials, refresh tokens.

use serde_json::Value;

use crate::config::TokenEndpointAuth;

/// A way a client authenticates at the development provider's token endpoint.
///
/// This is the provider's side, so it names every method the provider can check, including
/// ones this crate's configuration may not offer; see
/// [`DevProviderBuilder::client_auth_methods`](super::DevProviderBuilder::client_auth_methods).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_secret_basic`: HTTP Basic with the form-encoded client id and secret (RFC 6749
    /// section 2.3.1).
    ClientSecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// `private_key_jwt` (OpenID Connect Core 1.0 section 9, RFC 7523): a `client_assertion`
    /// JWT with `iss` = `sub` = the client id, signed with a key registered with
    /// [`DevProviderBuilder::client_jwks`](super::DevProviderBuilder::client_jwks).
    PrivateKeyJwt,
    /// A `client_assertion` issued by a trusted third party rather than signed by the client,
    /// the way a Microsoft Entra federated identity credential accepts a managed identity's
    /// token: registered with
    /// [`DevProviderBuilder::federated_credential`](super::DevProviderBuilder::federated_credential).
    /// Discovery advertises it as `private_key_jwt`, as Entra does.
    FederatedCredential,
}

impl ClientAuthMethod {
    /// The method's name in `token_endpoint_auth_methods_supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt | ClientAuthMethod::FederatedCredential => {
                "private_key_jwt"
            }
        }
    }

    /// Whether the client presents a `client_assertion` (rather than a secret).
    pub fn is_assertion(self) -> bool {
        matches!(
            self,
            ClientAuthMethod::PrivateKeyJwt | ClientAuthMethod::FederatedCredential
        )
    }
}

impl From<TokenEndpointAuth> for ClientAuthMethod {
    fn from(method: TokenEndpointAuth) -> ClientAuthMethod {
        // Compared rather than matched so that a method the configuration gains later
        // (`private_key_jwt`) maps without this file changing: it is the only other one.
        if method == TokenEndpointAuth::ClientSecretBasic {
            ClientAuthMethod::ClientSecretBasic
        } else if method == TokenEndpointAuth::ClientSecretPost {
            ClientAuthMethod::ClientSecretPost
        } else {
            ClientAuthMethod::PrivateKeyJwt
        }
    }
}

/// A third party whose tokens the provider accepts as the client's `client_assertion`, the
/// way a Microsoft Entra *federated identity credential* trusts tokens of a managed identity
/// (or of a Kubernetes service account, or a CI system) instead of a client secret.
///
/// The assertion must carry `iss` = the issuer, `sub` = the subject, an `aud` containing the
/// audience (default `api://AzureADTokenExchange`, Entra's), an `exp` in the future and a
/// `jti`, and be signed (RS256 or ES256) with a key of the issuer's key set; the token
/// request must name the client with `client_id`. Unlike a `private_key_jwt` assertion, the
/// same token is accepted again until it expires, as Entra accepts a managed identity's
/// cached token or a workload identity's token file for every request.
///
/// ```
/// use tower_oidc_login::testing::{DevClientKey, DevProvider, FederatedCredential};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// // The key a stand-in for the managed-identity endpoint signs its tokens with.
/// let identity_key = DevClientKey::rsa();
/// let provider = DevProvider::builder()
///     .federated_credential(FederatedCredential::new(
///         "http://127.0.0.1:9000/managed-identity",
///         "identity-object-id",
///         identity_key.jwks(),
///     ))
///     .start()
///     .await?;
/// # drop(provider);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FederatedCredential {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audience: String,
    pub(crate) jwks: Value,
}

impl FederatedCredential {
    /// The audience Microsoft Entra expects in a federated credential's token.
    pub const AZURE_AD_TOKEN_EXCHANGE: &'static str = "api://AzureADTokenExchange";

    /// Trusts tokens from `issuer` about `subject`, signed with a key of `jwks` (a JWK Set,
    /// `{"keys": [...]}`), with the audience `api://AzureADTokenExchange`.
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        jwks: Value,
    ) -> FederatedCredential {
        FederatedCredential {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: FederatedCredential::AZURE_AD_TOKEN_EXCHANGE.to_owned(),
            jwks,
        }
    }

    /// Expects this audience instead of `api://AzureADTokenExchange`.
    pub fn audience(mut self, audience: impl Into<String>) -> FederatedCredential {
        self.audience = audience.into();
        self
    }
}

/// When the token endpoint issues a refresh token with the code exchange; see
/// [`DevProviderBuilder::refresh_tokens`](super::DevProviderBuilder::refresh_tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshTokenIssue {
    /// When the authorization request's scope has `offline_access` (the default, as OpenID
    /// Connect Core 1.0 section 11 and most providers do).
    #[default]
    WithOfflineAccess,
    /// With every code exchange, as some providers do (Google with `access_type=offline`).
    Always,
    /// Never.
    Never,
}

/// What a refresh does to the refresh token; see
/// [`DevProviderBuilder::refresh_token_rotation`](super::DevProviderBuilder::refresh_token_rotation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshTokenRotation {
    /// Every refresh answers with a new refresh token and retires the one presented: using a
    /// retired one again is refused with `invalid_grant` and revokes the whole family (its
    /// successors too), as RFC 9700 section 4.14.2 recommends against stolen refresh tokens.
    /// The default.
    #[default]
    Rotate,
    /// The refresh token stays valid; refresh answers carry no `refresh_token`.
    Keep,
}
