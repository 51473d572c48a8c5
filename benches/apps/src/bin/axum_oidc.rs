//! The same app behind axum-oidc 1.0.0-dev-2, set up as its README and basic example do:
//! tower-sessions 0.14 with its in-memory store, `OidcAuthLayer` on every route (the
//! logged-in route reads `OidcClaims`), `OidcLoginLayer` on `/login`, the callback at
//! `/oauth2callback`.
//! Env: BENCH_DIR (reads `issuer`, writes `axum_oidc.port`), BENCH_MAX_SECONDS.

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::FromRequestParts;
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use axum_oidc::error::MiddlewareError;
use axum_oidc::openidconnect::core::CoreGenderClaim;
use axum_oidc::openidconnect::{ClientId, ClientSecret, IssuerUrl, Scope};
use axum_oidc::{
    handle_oidc_redirect, EmptyAdditionalClaims, OidcAuthLayer, OidcClaims, OidcClient,
    OidcLoginLayer, OidcSession,
};
use oidc_bench_apps::{exit_after_deadline, hello, state_dir, wait_for_file, write_atomically};
use tower::ServiceBuilder;
use tower_sessions::{MemoryStore, SessionManagerLayer};

type AC = EmptyAdditionalClaims;

/// axum-oidc's session seam over tower-sessions, as in its example.
#[derive(Clone)]
struct SessionWrapper(tower_sessions::Session);

const KEY: &str = "axum-oidc";

impl<S: Send + Sync> FromRequestParts<S> for SessionWrapper {
    type Rejection = <tower_sessions::Session as FromRequestParts<S>>::Rejection;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(SessionWrapper(
            tower_sessions::Session::from_request_parts(parts, state).await?,
        ))
    }
}

impl axum_oidc::Session<AC> for SessionWrapper {
    type Error = tower_sessions::session::Error;

    async fn get(&self) -> Result<OidcSession<AC, CoreGenderClaim>, Self::Error> {
        Ok(self.0.get(KEY).await?.unwrap_or_default())
    }

    async fn set(&mut self, value: OidcSession<AC, CoreGenderClaim>) -> Result<(), Self::Error> {
        self.0.insert(KEY, value).await
    }
}

async fn hello_claims(claims: Option<OidcClaims<AC>>) -> String {
    let name = claims
        .as_ref()
        .and_then(|c| c.name())
        .and_then(|n| n.get(None))
        .map(|n| n.as_str());
    hello(name)
}

#[tokio::main]
async fn main() {
    exit_after_deadline();
    let dir = state_dir();
    let issuer = wait_for_file(&format!("{dir}/issuer"), Duration::from_secs(60))
        .await
        .expect("the provider's issuer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();

    let client = OidcClient::<AC>::builder()
        .with_default_http_client()
        .with_redirect_url(
            format!("http://127.0.0.1:{port}/oauth2callback")
                .parse::<Uri>()
                .expect("uri"),
        )
        .with_client_id(ClientId::new("dev-client".into()))
        .with_client_secret(ClientSecret::new("dev-secret".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .discover(IssuerUrl::new(issuer).expect("issuer"))
        .await
        .expect("discovery")
        .build();

    let login = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|e: MiddlewareError| async {
            e.into_response()
        }))
        .layer(OidcLoginLayer::<AC, SessionWrapper>::new());
    let auth = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|e: MiddlewareError| async {
            e.into_response()
        }))
        .layer(OidcAuthLayer::<AC, SessionWrapper>::new(client));
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);

    let app = Router::new()
        .route("/login", get(|| async { Redirect::to("/") }))
        .layer(login)
        .route("/", get(hello_claims))
        .route(
            "/oauth2callback",
            get(handle_oidc_redirect::<AC, SessionWrapper>),
        )
        .layer(auth)
        .layer(sessions);
    write_atomically(&format!("{dir}/axum_oidc.port"), &port.to_string());
    axum::serve(listener, app).await.expect("serve");
}
