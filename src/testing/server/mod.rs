//! The development provider's HTTP endpoints, one file each, in the order a login uses them:
//!
//! | File | Endpoint |
//! |---|---|
//! | [`discovery`] | `GET /.well-known/openid-configuration` |
//! | [`jwks`] | `GET /jwks` (and `/jwks/<random>` under `RandomJwksUri`) |
//! | [`authorize`] | `GET /authorize` (the sign-in form), `POST /authorize` (its submission) |
//! | [`token`] (with [`client_auth`], [`client_assertion`]; grants in [`code`] and [`refresh`], answered by [`issue`]) | `POST /token` |
//! | [`userinfo`] | `GET`/`POST /userinfo` |
//! | [`end_session`] | `GET`/`POST /logout` |
//! | [`attacker`] | `GET /attacker/jwks`, `GET /attacker/cert.pem` |
//!
//! Below them: [`state`] (registration, codes, access and refresh tokens, sessions,
//! counters), [`realm`] (which issuer of a multi-tenant provider a request came through),
//! [`jwk_set`] (registered client keys), [`params`] (request parameters), [`respond`]
//! (response shapes) and [`pages`] (HTML). This file only wires the routes: under the issuer
//! path, or, for an Entra multi-tenant provider, under `/{tenant}/v2.0` for every tenant.
//!
//! Every handler answers a malformed request with a 4xx and never panics: nothing a request
//! carries reaches an `unwrap`. Codes, tokens and secrets never reach the log.

mod attacker;
mod authorize;
mod client_assertion;
mod client_auth;
mod code;
mod discovery;
mod end_session;
mod issue;
mod jwk_set;
mod jwks;
mod pages;
mod params;
mod realm;
mod refresh;
mod respond;
mod state;
mod token;
mod userinfo;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub(crate) use discovery::discovery_document;
pub(crate) use jwk_set::JwkSet;
pub(crate) use pages::FORM_FIELDS;
pub(crate) use realm::{Realm, Tenancy, MULTI_TENANT_PREFIX};
#[cfg(test)]
pub(crate) use state::is_loopback_http;
pub(crate) use state::{
    lock, AcceptedAuth, Federated, Shared, SharedConfig, AUTHORIZE_PATH, DISCOVERY_PATH,
    END_SESSION_PATH, JWKS_PATH, TOKEN_PATH, USERINFO_PATH,
};

use crate::testing::tokens::{ATTACKER_CERT_PATH, ATTACKER_JWKS_PATH};

/// Every endpoint, under `prefix` (the issuer path, or [`MULTI_TENANT_PREFIX`]); anything
/// else is a plain 404.
pub(crate) fn router(shared: Arc<Shared>, prefix: &str) -> Router {
    let path = |p: &str| format!("{prefix}{p}");
    Router::new()
        .route(&path(DISCOVERY_PATH), get(discovery::discovery))
        .route(&path(JWKS_PATH), get(jwks::jwks))
        .route(
            &path(&format!("{JWKS_PATH}/{{suffix}}")),
            get(jwks::jwks_suffixed),
        )
        .route(&path(ATTACKER_JWKS_PATH), get(attacker::attacker_jwks))
        .route(&path(ATTACKER_CERT_PATH), get(attacker::attacker_cert))
        .route(
            &path(AUTHORIZE_PATH),
            get(authorize::authorize_page).post(authorize::authorize_submit),
        )
        .route(&path(TOKEN_PATH), post(token::token))
        .route(
            &path(USERINFO_PATH),
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(
            &path(END_SESSION_PATH),
            get(end_session::end_session).post(end_session::end_session),
        )
        .fallback(respond::not_found)
        .with_state(shared)
}
