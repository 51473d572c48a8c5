//! Where tokens signed under the `ForeignKeyIn*` misbehaviours point: the attacker's key set
//! (`jku`) and certificate URL (`x5u`). A client that trusts only discovery's key set never
//! asks for them; each request is counted in
//! [`RequestCounts::attacker_keys`](crate::testing::RequestCounts::attacker_keys).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::respond::{json_response, plain};
use super::state::{bump, lock, Shared};
use crate::testing::tokens::ATTACKER_KID;

/// The attacker's key set that
/// [`Misbehaviour::ForeignKeyInJku`](crate::testing::Misbehaviour::ForeignKeyInJku) tokens
/// point at.
pub(crate) async fn attacker_jwks(State(shared): State<Arc<Shared>>) -> Response {
    bump(&shared.counters.attacker_keys);
    tracing::debug!("development provider: the attacker's key set was fetched");
    let key = lock(&shared.keys).other_public_jwk(ATTACKER_KID);
    json_response(StatusCode::OK, &json!({ "keys": [key] }))
}

/// The certificate URL of
/// [`Misbehaviour::ForeignKeyInX5u`](crate::testing::Misbehaviour::ForeignKeyInX5u): there is
/// no certificate, the request is only counted.
pub(crate) async fn attacker_cert(State(shared): State<Arc<Shared>>) -> Response {
    bump(&shared.counters.attacker_keys);
    tracing::debug!("development provider: the attacker's certificate URL was fetched");
    plain(StatusCode::NOT_FOUND, "no certificate here")
}
