//! Refresh tokens, token lifetimes, provider-side sessions (`sid`) and the refresh
//! misbehaviours.

use super::*;

const OFFLINE: &str = "openid email profile offline_access";

/// A login as `user` with `scope`: the flow and the token endpoint's answer.
async fn login_with_scope(provider: &DevProvider, user: &DevUser, scope: &str) -> (Flow, Value) {
    let flow = Flow::new(provider).set("scope", Some(scope));
    let code = flow.sign_in(provider, user).await;
    let auth = basic("dev-client", "dev-secret");
    let (status, body) = token_request(provider, Some(&auth), &flow.token_form(&code)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (flow, body)
}

/// `grant_type=refresh_token` with client_secret_basic and `extra` parameters.
async fn refresh_with(
    provider: &DevProvider,
    refresh_token: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh_token.to_owned()),
    ];
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let auth = basic("dev-client", "dev-secret");
    token_request(provider, Some(&auth), &form).await
}

fn text<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

#[tokio::test]
async fn refresh_tokens_come_with_offline_access_or_as_the_builder_says() -> TestResult {
    let provider = DevProvider::start().await?;
    let user = DevUser::default();
    let (_, plain) = login_with_scope(&provider, &user, "openid email").await;
    assert!(plain.get("refresh_token").is_none(), "{plain}");
    let (_, offline) = login_with_scope(&provider, &user, OFFLINE).await;
    assert!(offline["refresh_token"].is_string(), "{offline}");
    assert_eq!(offline["scope"], OFFLINE);

    let always = DevProvider::builder()
        .refresh_tokens(RefreshTokenIssue::Always)
        .start()
        .await?;
    let (_, body) = login_with_scope(&always, &user, "openid").await;
    assert!(body["refresh_token"].is_string());

    let never = DevProvider::builder()
        .refresh_tokens(RefreshTokenIssue::Never)
        .start()
        .await?;
    let (_, body) = login_with_scope(&never, &user, OFFLINE).await;
    assert!(body.get("refresh_token").is_none());
    Ok(())
}

#[tokio::test]
async fn refresh_rotates_and_keeps_iss_sub_aud_sid_without_nonce() -> TestResult {
    let provider = DevProvider::start().await?;
    let user = DevUser::new("Ada", "ada@example.com");
    let (flow, first) = login_with_scope(&provider, &user, OFFLINE).await;
    let original = jwt_part(text(&first, "id_token"), 1);
    assert_eq!(original["nonce"], flow.nonce.as_str());
    assert!(original["sid"].is_string());

    let old_refresh = text(&first, "refresh_token").to_owned();
    let (status, second) = refresh_with(&provider, &old_refresh, &[]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["access_token"], first["access_token"]);
    let new_refresh = text(&second, "refresh_token").to_owned();
    assert_ne!(new_refresh, old_refresh);
    assert_eq!(second["expires_in"], 3600);
    assert_eq!(second["scope"], OFFLINE);
    let refreshed = jwt_part(text(&second, "id_token"), 1);
    for same in ["iss", "sub", "aud", "sid", "auth_time", "email"] {
        assert_eq!(refreshed[same], original[same], "{same}");
    }
    assert!(refreshed.get("nonce").is_none(), "{refreshed}");
    // Signed like every ID token, for the new access token.
    let header = jwt_part(text(&second, "id_token"), 0);
    assert_eq!(header["alg"], "RS256");
    let digest = Sha256::digest(text(&second, "access_token").as_bytes());
    assert_eq!(refreshed["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));

    let counts = provider.request_counts();
    assert_eq!((counts.token, counts.refresh), (1, 1));
    let call = provider.token_calls().pop().ok_or("no call")?;
    assert_eq!(call.param("grant_type"), Some("refresh_token"));
    assert_eq!(call.client_auth, Some(ClientAuthMethod::ClientSecretBasic));

    // The new refresh token works once more and rotates again.
    let (status, third) = refresh_with(&provider, &new_refresh, &[]).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let newest = text(&third, "refresh_token").to_owned();

    // The first one is retired: using it again is refused and revokes the whole family.
    let (status, body) = refresh_with(&provider, &old_refresh, &[]).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert!(text(&body, "error_description").contains("RFC 9700"));
    let (status, body) = refresh_with(&provider, &newest, &[]).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert_eq!(provider.request_counts().refresh, 4);
    Ok(())
}

#[tokio::test]
async fn without_rotation_the_refresh_token_stays_valid() -> TestResult {
    let provider = DevProvider::builder()
        .refresh_token_rotation(RefreshTokenRotation::Keep)
        .start()
        .await?;
    let (_, first) = login_with_scope(&provider, &DevUser::default(), OFFLINE).await;
    let refresh_token = text(&first, "refresh_token").to_owned();
    for _ in 0..2 {
        let (status, body) = refresh_with(&provider, &refresh_token, &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert!(body["id_token"].is_string() && body["access_token"].is_string());
    }
    Ok(())
}

#[tokio::test]
async fn refresh_requests_are_checked() -> TestResult {
    let provider = DevProvider::start().await?;
    let (_, first) = login_with_scope(&provider, &DevUser::default(), OFFLINE).await;
    let refresh_token = text(&first, "refresh_token").to_owned();

    // Client authentication as for codes.
    let form = [
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh_token.clone()),
    ];
    let (status, body) = token_request(&provider, None, &form).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );
    let wrong = basic("dev-client", "wrong");
    let (status, _) = token_request(&provider, Some(&wrong), &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = refresh_with(&provider, "not-a-refresh-token", &[]).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let form = [("grant_type".to_owned(), "refresh_token".to_owned())];
    let auth = basic("dev-client", "dev-secret");
    let (status, body) = token_request(&provider, Some(&auth), &form).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_request"))
    );

    // A scope beyond the granted one is refused (and the token is not spent), a narrower
    // one is granted.
    let (status, body) =
        refresh_with(&provider, &refresh_token, &[("scope", "openid admin")]).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_scope"))
    );
    let (status, body) = refresh_with(&provider, &refresh_token, &[("scope", "openid")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid");
    // Refused requests count as refresh requests too.
    assert_eq!(provider.request_counts().refresh, 6);
    Ok(())
}

#[tokio::test]
async fn revoke_grants_ends_the_refresh_tokens_of_one_user() -> TestResult {
    let provider = DevProvider::start().await?;
    let ada = DevUser::new("Ada", "ada@example.com");
    let bob = DevUser::new("Bob", "bob@example.com");
    let (_, ada_tokens) = login_with_scope(&provider, &ada, OFFLINE).await;
    let (_, again) = login_with_scope(&provider, &ada, OFFLINE).await;
    let (_, bob_tokens) = login_with_scope(&provider, &bob, OFFLINE).await;

    assert_eq!(provider.revoke_grants(&ada.subject()), 2);
    for body in [&ada_tokens, &again] {
        let (status, answer) = refresh_with(&provider, text(body, "refresh_token"), &[]).await;
        assert_eq!(
            (status, &answer["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );
    }
    let info = http()
        .get(provider.userinfo_endpoint())
        .bearer_auth(text(&ada_tokens, "access_token"))
        .send()
        .await?;
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = refresh_with(&provider, text(&bob_tokens, "refresh_token"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn token_lifetimes_are_configurable() -> TestResult {
    let provider = DevProvider::builder()
        .access_token_lifetime(Duration::from_secs(1))
        .id_token_lifetime(Duration::from_secs(2))
        .start()
        .await?;
    let (_, first) = login_with_scope(&provider, &DevUser::default(), OFFLINE).await;
    assert_eq!(first["expires_in"], 1);
    let claims = jwt_part(text(&first, "id_token"), 1);
    assert_eq!(
        claims["exp"]
            .as_i64()
            .zip(claims["iat"].as_i64())
            .map(|(e, i)| e - i),
        Some(2)
    );

    let userinfo = |token: String| {
        let provider = &provider;
        async move {
            http()
                .get(provider.userinfo_endpoint())
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status())
        }
    };
    assert_eq!(
        userinfo(text(&first, "access_token").to_owned()).await?,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        userinfo(text(&first, "access_token").to_owned()).await?,
        StatusCode::UNAUTHORIZED
    );
    let (status, second) = refresh_with(&provider, text(&first, "refresh_token"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["expires_in"], 1);
    assert_eq!(
        userinfo(text(&second, "access_token").to_owned()).await?,
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test]
async fn every_sign_in_is_a_session_whose_sid_survives_refresh() -> TestResult {
    let provider = DevProvider::start().await?;
    let ada = DevUser::new("Ada", "ada@example.com");
    let (_, first) = login_with_scope(&provider, &ada, OFFLINE).await;
    let (_, second) = login_with_scope(&provider, &ada, OFFLINE).await;
    let sessions = provider.sessions();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s.sub == ada.subject()));
    assert_ne!(sessions[0].sid, sessions[1].sid);
    assert_eq!(
        jwt_part(text(&first, "id_token"), 1)["sid"],
        sessions[0].sid.as_str()
    );
    assert_eq!(
        jwt_part(text(&second, "id_token"), 1)["sid"],
        sessions[1].sid.as_str()
    );

    let (_, refreshed) = refresh_with(&provider, text(&first, "refresh_token"), &[]).await;
    assert_eq!(
        jwt_part(text(&refreshed, "id_token"), 1)["sid"],
        sessions[0].sid.as_str()
    );
    // A user cannot set `sid` through the form: the provider does.
    let forged = DevUser::new("Eve", "eve@example.com").claim("sid", "forged");
    assert!(forged.claims().get("sid").is_none());
    Ok(())
}

#[tokio::test]
async fn refresh_misbehaviours() -> TestResult {
    let provider = DevProvider::builder()
        .refresh_token_rotation(RefreshTokenRotation::Keep)
        .start()
        .await?;
    let user = DevUser::default();
    let (flow, first) = login_with_scope(&provider, &user, OFFLINE).await;
    let refresh_token = text(&first, "refresh_token").to_owned();
    let original = jwt_part(text(&first, "id_token"), 1);
    let refreshed_while = |misbehaviour: Misbehaviour| {
        let (provider, refresh_token) = (&provider, &refresh_token);
        async move {
            provider.misbehave(misbehaviour.clone());
            let (status, body) = refresh_with(provider, refresh_token, &[]).await;
            provider.behave();
            assert_eq!(status, StatusCode::OK, "{misbehaviour:?}: {body}");
            let jwt = body["id_token"].as_str().expect("id_token");
            (jwt_part(jwt, 0), jwt_part(jwt, 1))
        }
    };

    let (_, claims) = refreshed_while(Misbehaviour::RefreshedIdTokenOtherSubject).await;
    assert_eq!(claims["sub"], format!("{}-other", user.subject()));
    let (_, claims) = refreshed_while(Misbehaviour::RefreshedIdTokenOtherNonce).await;
    assert!(claims["nonce"].is_string() && claims["nonce"] != flow.nonce.as_str());
    let (_, claims) = refreshed_while(Misbehaviour::RefreshedIdTokenOriginalNonce).await;
    assert_eq!(claims["nonce"], flow.nonce.as_str());
    // The ID-token misbehaviours apply to refreshed ID tokens too.
    let (_, claims) = refreshed_while(Misbehaviour::WrongIssuer).await;
    assert_eq!(claims["iss"], format!("{}/1", provider.issuer()));
    let (_, claims) = refreshed_while(Misbehaviour::WrongAudience).await;
    assert_eq!(claims["aud"], "dev-client1");
    let (header, claims) = refreshed_while(Misbehaviour::AlgNone).await;
    assert_eq!(header["alg"], "none");
    assert_eq!(claims["sub"], original["sub"]);
    // Back to normal once behaving.
    let (_, claims) = refreshed_while(Misbehaviour::Redirect(Endpoint::Jwks)).await;
    assert_eq!(claims["sub"], original["sub"]);
    assert!(claims.get("nonce").is_none());

    // The token endpoint's failures hit refreshes too.
    provider.misbehave(Misbehaviour::TokenEndpointUnavailable);
    let response = http()
        .post(provider.token_endpoint())
        .header(header::AUTHORIZATION, basic("dev-client", "dev-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_eq!(
        response.json_text().await?["error"],
        "temporarily_unavailable"
    );
    provider.misbehave(Misbehaviour::SlowTokenEndpoint(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let (status, _) = refresh_with(&provider, &refresh_token, &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    provider.behave();
    let (status, body) = refresh_with(&provider, &refresh_token, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A refresh answer without an ID token is valid.
    provider.misbehave(Misbehaviour::TokenResponseWithoutIdToken);
    let (status, body) = refresh_with(&provider, &refresh_token, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("id_token").is_none() && body["access_token"].is_string());
    assert_eq!(provider.request_counts().refresh, 11);
    Ok(())
}
