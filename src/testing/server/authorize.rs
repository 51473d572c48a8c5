//! The authorization endpoint: `GET /authorize` checks the authorization request and shows
//! the sign-in form (or redirects back with an error); `POST /authorize` is the form's
//! submission, which signs the user in and redirects back with a code (or cancels).
//!
//! A request whose client or redirect URI cannot be trusted gets an error page and is never
//! redirected; any other broken request is answered at the redirect URI, as RFC 6749 section
//! 4.1.2.1 requires.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value};

use super::pages::{self, FORM_FIELDS};
use super::params::Params;
use super::realm::{Realm, Tenancy};
use super::respond::{error_page, html, redirect, with_query};
use super::state::{bump, is_pkce_value, lock, CodeGrant, Login, Shared, AUTHORIZE_PATH};
use crate::testing::behaviour::{Behaviour, Misbehaviour};
use crate::testing::records::DevSession;
use crate::testing::tokens::altered_issuer;
use crate::testing::user::DevUser;
use crate::util::random_token;

/// A validated authorization request.
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    scope: String,
    code_challenge: String,
    login_hint: Option<String>,
    prompt_none: bool,
    /// The parameters to carry through the sign-in form.
    hidden: Vec<(String, String)>,
}

/// How a broken authorization request is answered.
enum Rejection {
    /// Client or redirect URI cannot be trusted: show a page, redirect nowhere.
    Page {
        title: &'static str,
        message: String,
    },
    /// Send the error back to the (verified) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        description: String,
    },
}

fn validate_authorize(shared: &Shared, params: &Params) -> Result<AuthorizeRequest, Rejection> {
    let bad_page = |title: &'static str, message: &str| {
        tracing::debug!(reason = %message, "development provider: authorization request refused");
        Rejection::Page {
            title,
            message: message.to_owned(),
        }
    };
    let client_id = match params.get("client_id") {
        Ok(Some(id)) => id,
        Ok(None) => return Err(bad_page("Unknown client", "The request has no client_id.")),
        Err(e) => return Err(bad_page("Unknown client", &e)),
    };
    if client_id != shared.client_id {
        return Err(bad_page(
            "Unknown client",
            &format!(
                "This provider knows no client \"{client_id}\" (it only knows \"{}\").",
                shared.client_id
            ),
        ));
    }
    let redirect_uri = match params.get("redirect_uri") {
        Ok(Some(uri)) => uri,
        Ok(None) => {
            return Err(bad_page(
                "Invalid redirect URI",
                "The request has no redirect_uri.",
            ))
        }
        Err(e) => return Err(bad_page("Invalid redirect URI", &e)),
    };
    if !shared.redirect_uri_allowed(redirect_uri) {
        let rule = if shared.redirect_uris.is_empty() {
            "no redirect URI is registered, so only http URLs on 127.0.0.1, localhost or [::1] are accepted".to_owned()
        } else {
            format!("registered: {}", shared.redirect_uris.join(", "))
        };
        return Err(bad_page(
            "Invalid redirect URI",
            &format!(
                "The redirect URI \"{redirect_uri}\" is not registered for this client ({rule})."
            ),
        ));
    }

    let state = params.first("state").map(str::to_owned);
    let refuse = |description: String| {
        tracing::debug!(reason = %description, "development provider: authorization request refused");
        Rejection::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: state.clone(),
            description,
        }
    };
    let single = |name: &str| params.get(name).map_err(&refuse);

    single("state")?;
    match single("response_type")? {
        Some("code") => {}
        Some(other) => {
            return Err(refuse(format!(
                "response_type \"{other}\" is not supported; use \"code\""
            )))
        }
        None => return Err(refuse("response_type is required".to_owned())),
    }
    let scope = single("scope")?.unwrap_or_default().to_owned();
    if !scope.split_ascii_whitespace().any(|s| s == "openid") {
        return Err(refuse("scope must contain \"openid\"".to_owned()));
    }
    match single("code_challenge_method")? {
        Some("S256") => {}
        Some(other) => {
            return Err(refuse(format!(
                "code_challenge_method \"{other}\" is not supported; use \"S256\""
            )))
        }
        None => {
            return Err(refuse(
                "PKCE is required: send code_challenge_method=S256".to_owned(),
            ))
        }
    }
    let code_challenge = match single("code_challenge")? {
        Some(challenge) if is_pkce_value(challenge) => challenge.to_owned(),
        Some(_) => {
            return Err(refuse(
                "code_challenge must be 43 to 128 unreserved characters".to_owned(),
            ))
        }
        None => return Err(refuse("PKCE is required: send a code_challenge".to_owned())),
    };
    let nonce = single("nonce")?.map(str::to_owned);
    let login_hint = single("login_hint")?.map(str::to_owned);
    let prompt_none =
        single("prompt")?.is_some_and(|p| p.split_ascii_whitespace().any(|v| v == "none"));

    let hidden = params
        .0
        .iter()
        .filter(|(k, _)| !FORM_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        nonce,
        scope,
        code_challenge,
        login_hint,
        prompt_none,
        hidden,
    })
}

/// An authorization response, error or success, with `iss` (RFC 9207) unless a misbehaviour
/// drops or alters it, or the provider is multi-tenant (Entra sends no `iss`: its issuer is a
/// template).
fn authorization_response(
    shared: &Shared,
    behaviour: &Behaviour,
    status: StatusCode,
    redirect_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> Response {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    if let Some(state) = state {
        all.push(("state", state));
    }
    let issuer = shared.issuer_for(behaviour);
    let wrong_issuer = altered_issuer(issuer);
    if shared.tenancy == Tenancy::EntraMultiTenant {
        // No `iss` at all, as Entra's multi-tenant endpoints.
    } else if behaviour.has(&Misbehaviour::WrongAuthorizationResponseIss) {
        all.push(("iss", &wrong_issuer));
    } else if !behaviour.any(&[
        Misbehaviour::NoAuthorizationResponseIss,
        Misbehaviour::IssParameterNotAdvertised,
    ]) {
        all.push(("iss", issuer));
    }
    match with_query(redirect_uri, &all) {
        Some(location) => redirect(status, &location),
        None => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The redirect URI is not an absolute URL.",
        ),
    }
}

fn reject(
    shared: &Shared,
    behaviour: &Behaviour,
    rejection: Rejection,
    status: StatusCode,
) -> Response {
    match rejection {
        Rejection::Page { title, message } => error_page(StatusCode::BAD_REQUEST, title, &message),
        Rejection::Redirect {
            redirect_uri,
            state,
            description,
        } => authorization_response(
            shared,
            behaviour,
            status,
            &redirect_uri,
            state.as_deref(),
            &[
                ("error", "invalid_request"),
                ("error_description", &description),
            ],
        ),
    }
}

/// `GET /authorize`: the sign-in form for a valid authorization request.
pub(crate) async fn authorize_page(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    bump(&shared.counters.authorize);
    let realm = Realm::of(shared.tenancy, uri.path());
    let behaviour = shared.behaviour();
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let request = match validate_authorize(&shared, &params) {
        Ok(request) => request,
        Err(rejection) => return reject(&shared, &behaviour, rejection, StatusCode::FOUND),
    };
    if request.prompt_none {
        // There is no provider session to reuse: every login here needs the form.
        tracing::debug!("development provider: prompt=none refused with login_required");
        return authorization_response(
            &shared,
            &behaviour,
            StatusCode::FOUND,
            &request.redirect_uri,
            request.state.as_deref(),
            &[
                ("error", "login_required"),
                (
                    "error_description",
                    "The development provider has no session; prompt=none cannot succeed",
                ),
            ],
        );
    }
    tracing::debug!("development provider: showing the sign-in form");
    let user = lock(&shared.default_user).clone();
    let email = request
        .login_hint
        .clone()
        .unwrap_or_else(|| user.email().to_owned());
    let text = |claims: &Map<String, Value>| {
        if claims.is_empty() {
            String::new()
        } else {
            serde_json::to_string_pretty(claims).unwrap_or_default()
        }
    };
    sign_in_form(
        &shared,
        &realm,
        &request,
        StatusCode::OK,
        &FormValues {
            name: user.name(),
            email: &email,
            claims: &text(&user.form_claims()),
            userinfo_claims: &text(user.userinfo_claims()),
        },
        None,
    )
}

/// What the sign-in form's fields hold.
struct FormValues<'a> {
    name: &'a str,
    email: &'a str,
    claims: &'a str,
    userinfo_claims: &'a str,
}

fn sign_in_form(
    shared: &Shared,
    realm: &Realm,
    request: &AuthorizeRequest,
    status: StatusCode,
    values: &FormValues<'_>,
    problem: Option<&str>,
) -> Response {
    let action = shared.endpoint_in(realm, AUTHORIZE_PATH);
    html(
        status,
        pages::sign_in(&pages::SignIn {
            action: &action,
            client_id: &request.client_id,
            redirect_uri: &request.redirect_uri,
            hidden: &request.hidden,
            name: values.name,
            email: values.email,
            claims: values.claims,
            userinfo_claims: values.userinfo_claims,
            problem,
        }),
    )
}

/// `POST /authorize`: the sign-in form's submission.
pub(crate) async fn authorize_submit(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    bump(&shared.counters.sign_in);
    let realm = Realm::of(shared.tenancy, uri.path());
    let behaviour = shared.behaviour();
    let params = Params::parse(&body);
    let request = match validate_authorize(&shared, &params) {
        Ok(request) => request,
        Err(rejection) => return reject(&shared, &behaviour, rejection, StatusCode::SEE_OTHER),
    };
    let field = |name: &str| params.first(name).unwrap_or_default().trim().to_owned();
    let (name, email, claims_text, userinfo_text) = (
        field("name"),
        field("email"),
        field("claims"),
        field("userinfo_claims"),
    );
    match params.first("action").unwrap_or("sign_in") {
        "sign_in" => {}
        "cancel" => {
            tracing::debug!("development provider: sign-in cancelled");
            return authorization_response(
                &shared,
                &behaviour,
                StatusCode::SEE_OTHER,
                &request.redirect_uri,
                request.state.as_deref(),
                &[
                    ("error", "access_denied"),
                    ("error_description", "The user cancelled"),
                ],
            );
        }
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Unknown action",
                "The form was submitted with an action other than sign_in or cancel.",
            )
        }
    }
    let form_problem = |problem: &str| {
        tracing::debug!(reason = %problem, "development provider: sign-in form refused");
        sign_in_form(
            &shared,
            &realm,
            &request,
            StatusCode::BAD_REQUEST,
            &FormValues {
                name: &name,
                email: &email,
                claims: &claims_text,
                userinfo_claims: &userinfo_text,
            },
            Some(problem),
        )
    };
    if email.is_empty() {
        return form_problem("Enter an email address.");
    }
    let mut user = DevUser::new(name.clone(), email.clone());
    for (label, text, userinfo_only) in [
        ("Extra claims", &claims_text, false),
        ("Userinfo-only claims", &userinfo_text, true),
    ] {
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(extra)) => {
                for (claim, value) in extra {
                    user = if userinfo_only {
                        user.userinfo_claim(claim, value)
                    } else {
                        user.claim(claim, value)
                    };
                }
            }
            Ok(_) => {
                return form_problem(&format!(
                    "{label} must be a JSON object, like {{\"groups\": [\"admin\"]}}."
                ))
            }
            Err(e) => return form_problem(&format!("{label} are not valid JSON: {e}.")),
        }
    }
    let mut claims = user.profile_claims();
    if let (Tenancy::EntraMultiTenant, None) = (shared.tenancy, user.tenant()) {
        // Entra puts the user in the tenant they signed in through; `common` and
        // `organizations` do not name one.
        let tid = match &realm {
            Realm::Tenant(tid) => tid.as_str(),
            Realm::Single | Realm::Template(_) => DevUser::DEFAULT_TENANT,
        };
        claims.insert("tid".to_owned(), Value::String(tid.to_owned()));
    }

    let sid = random_token();
    lock(&shared.sessions).push(DevSession {
        sid: sid.clone(),
        sub: user.subject(),
    });
    let code = random_token();
    let now = Instant::now();
    {
        let mut codes = lock(&shared.codes);
        codes.retain(|_, grant| grant.expires > now);
        codes.insert(
            code.clone(),
            CodeGrant {
                login: Login {
                    client_id: request.client_id.clone(),
                    scope: request.scope.clone(),
                    nonce: request.nonce.clone(),
                    claims,
                    userinfo_claims: user.userinfo_claims().clone(),
                    auth_time: SystemTime::now(),
                    sid,
                },
                redirect_uri: request.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                expires: now + behaviour.code_lifetime,
                used: false,
                issued_token: None,
            },
        );
    }
    tracing::debug!("development provider: signed in, redirecting with a code");
    authorization_response(
        &shared,
        &behaviour,
        StatusCode::SEE_OTHER,
        &request.redirect_uri,
        request.state.as_deref(),
        &[("code", &code)],
    )
}
