//! The Entra multi-tenant shape, Entra's claim shapes (groups overage, `login_hint`) and
//! userinfo-only claims.

use super::*;

async fn document(url: &str) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    let response = http().get(url).send().await?;
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.json_text().await
}

/// A login at `authorize` (an authorization endpoint of `provider`): the token answer.
async fn tokens_at(provider: &DevProvider, authorize: &str, user: &DevUser, scope: &str) -> Value {
    let flow = Flow::new(provider).set("scope", Some(scope));
    let code = flow.sign_in_at(provider, authorize, user).await;
    let auth = basic("dev-client", "dev-secret");
    let (status, body) = token_request(provider, Some(&auth), &flow.token_form(&code)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn entra_multi_tenant_serves_common_organizations_and_each_tenant() -> TestResult {
    let provider = DevProvider::builder().entra_multi_tenant().start().await?;
    let origin = format!("http://127.0.0.1:{}", provider.port());
    let template = format!("{origin}/{{tenantid}}/v2.0");
    assert_eq!(provider.issuer(), template);
    assert_eq!(
        provider.server_metadata_url(),
        format!("{origin}/common/v2.0/.well-known/openid-configuration")
    );
    assert_eq!(
        provider.authorization_endpoint(),
        format!("{origin}/common/v2.0/authorize")
    );
    assert_eq!(provider.tenant_issuer("t1"), format!("{origin}/t1/v2.0"));

    for segment in ["common", "organizations"] {
        let doc = document(&provider.tenant_metadata_url(segment)).await?;
        assert_eq!(doc["issuer"], template, "{segment}");
        let base = format!("{origin}/{segment}/v2.0");
        assert_eq!(doc["authorization_endpoint"], format!("{base}/authorize"));
        assert_eq!(doc["token_endpoint"], format!("{base}/token"));
        assert_eq!(doc["jwks_uri"], format!("{base}/jwks"));
        assert!(doc
            .get("authorization_response_iss_parameter_supported")
            .is_none());
    }
    let tenant = document(&provider.tenant_metadata_url("72f988bf-86f1")).await?;
    assert_eq!(tenant["issuer"], format!("{origin}/72f988bf-86f1/v2.0"));
    assert_eq!(
        tenant["token_endpoint"],
        format!("{origin}/72f988bf-86f1/v2.0/token")
    );
    let keys = document(tenant["jwks_uri"].as_str().ok_or("jwks_uri")?).await?;
    assert_eq!(keys["keys"][0]["kid"], provider.signing_key_id());
    // A concrete tenant's document passes openidconnect's issuer check.
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(provider.tenant_issuer("72f988bf-86f1"))?,
        &http(),
    )
    .await?;
    assert_eq!(metadata.jwks().keys().len(), 1);
    // Outside /{tenant}/v2.0 there is nothing.
    let root = http()
        .get(format!("{origin}/.well-known/openid-configuration"))
        .send()
        .await?;
    assert_eq!(root.status(), StatusCode::NOT_FOUND);

    let combined = DevProvider::builder()
        .entra_multi_tenant()
        .issuer_path("/tenant/v2.0")
        .start()
        .await;
    assert_eq!(
        combined.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::InvalidInput)
    );
    Ok(())
}

#[tokio::test]
async fn multi_tenant_id_tokens_name_the_users_tenant() -> TestResult {
    let provider = DevProvider::builder().entra_multi_tenant().start().await?;
    let common = provider.authorization_endpoint();
    let claims_of = |body: &Value| jwt_part(body["id_token"].as_str().expect("id_token"), 1);

    let ada = DevUser::new("Ada", "ada@contoso.example").with_tenant("tenant-a");
    let body = tokens_at(&provider, &common, &ada, "openid offline_access").await;
    let claims = claims_of(&body);
    assert_eq!(claims["tid"], "tenant-a");
    assert_eq!(claims["iss"], provider.tenant_issuer("tenant-a"));
    // A refresh keeps the tenant's issuer.
    let (status, refreshed) = token_request(
        &provider,
        Some(&basic("dev-client", "dev-secret")),
        &[
            ("grant_type".into(), "refresh_token".into()),
            (
                "refresh_token".into(),
                body["refresh_token"].as_str().ok_or("refresh")?.into(),
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        claims_of(&refreshed)["iss"],
        provider.tenant_issuer("tenant-a")
    );

    // Without a tenant of their own: the tenant signed in through, or the default.
    let bob = DevUser::new("Bob", "bob@fabrikam.example");
    let tenant_b = format!(
        "http://127.0.0.1:{}/tenant-b/v2.0/authorize",
        provider.port()
    );
    let claims = claims_of(&tokens_at(&provider, &tenant_b, &bob, "openid").await);
    assert_eq!(
        (&claims["tid"], &claims["iss"]),
        (
            &json!("tenant-b"),
            &json!(provider.tenant_issuer("tenant-b"))
        )
    );
    let claims = claims_of(&tokens_at(&provider, &common, &bob, "openid").await);
    assert_eq!(claims["tid"], DevUser::DEFAULT_TENANT);
    assert_eq!(
        claims["iss"],
        provider.tenant_issuer(DevUser::DEFAULT_TENANT)
    );

    provider.misbehave(Misbehaviour::TenantIssuerMismatch);
    let claims = claims_of(&tokens_at(&provider, &common, &ada, "openid").await);
    assert_eq!(claims["tid"], "tenant-a");
    assert_eq!(claims["iss"], provider.tenant_issuer("tenant-a-other"));

    // login_as follows an app to any tenant's authorization endpoint.
    let parse = |u: &str| Url::parse(u).expect("url");
    assert!(provider.is_tenant_authorization_url(&parse(&tenant_b)));
    assert!(provider.is_tenant_authorization_url(&parse(&format!("{common}?client_id=x"))));
    let elsewhere = format!("http://127.0.0.1:{}/tenant-b/v2.0/token", provider.port());
    assert!(!provider.is_tenant_authorization_url(&parse(&elsewhere)));
    assert!(!provider.is_tenant_authorization_url(&parse("http://127.0.0.1:1/t/v2.0/authorize")));
    let single = DevProvider::start().await?;
    assert!(!single.is_tenant_authorization_url(&parse(&single.authorization_endpoint())));
    Ok(())
}

#[tokio::test]
async fn entra_claim_shapes_groups_overage_and_login_hint() -> TestResult {
    let provider = DevProvider::start().await?;
    let user = DevUser::new("Ada", "ada@example.com")
        .claim("groups", json!(["g1", "g2"]))
        .groups_overage("http://127.0.0.1:9/v1.0/users/ada/getMemberObjects")
        .with_login_hint("O.CiQ3MmY5ODhiZi1hZGEtaGludA");
    let body = tokens_at(
        &provider,
        &provider.authorization_endpoint(),
        &user,
        "openid",
    )
    .await;
    let claims = jwt_part(body["id_token"].as_str().ok_or("id_token")?, 1);
    assert!(claims.get("groups").is_none());
    assert_eq!(claims["_claim_names"], json!({ "groups": "src1" }));
    assert_eq!(
        claims["_claim_sources"],
        json!({ "src1": { "endpoint": "http://127.0.0.1:9/v1.0/users/ada/getMemberObjects" } })
    );
    assert_eq!(claims["login_hint"], "O.CiQ3MmY5ODhiZi1hZGEtaGludA");
    Ok(())
}

#[tokio::test]
async fn userinfo_only_claims_stay_out_of_the_id_token() -> TestResult {
    let provider = DevProvider::start().await?;
    let user = DevUser::new("Ada", "ada@example.com")
        .userinfo_claim("department", "R&D")
        .userinfo_claim("nonce", "ignored");
    assert!(user.userinfo_claims().get("nonce").is_none());
    let body = tokens_at(
        &provider,
        &provider.authorization_endpoint(),
        &user,
        "openid",
    )
    .await;
    let claims = jwt_part(body["id_token"].as_str().ok_or("id_token")?, 1);
    assert!(claims.get("department").is_none());
    let userinfo = || async {
        http()
            .get(provider.userinfo_endpoint())
            .bearer_auth(body["access_token"].as_str().unwrap_or_default())
            .send()
            .await?
            .json_text()
            .await
    };
    let info = userinfo().await?;
    assert_eq!(info["department"], "R&D");
    assert_eq!(info["sub"], user.subject());
    provider.misbehave(Misbehaviour::UserinfoWrongSubject);
    let info = userinfo().await?;
    assert_eq!(
        (&info["sub"], &info["department"]),
        (&json!("foobar"), &json!("R&D"))
    );

    // The sign-in form offers and prefills the userinfo-only claims.
    provider.set_default_user(user.clone());
    let page = http()
        .get(Flow::new(&provider).url(&provider))
        .send()
        .await?
        .text()
        .await?;
    assert!(page.contains(r#"name="userinfo_claims""#), "{page}");
    assert!(
        page.contains("&quot;department&quot;: &quot;R&amp;D&quot;"),
        "{page}"
    );
    let broken = {
        let flow = Flow::new(&provider);
        let mut form = flow.params.clone();
        form.extend([
            ("email".to_owned(), "a@example.com".to_owned()),
            ("userinfo_claims".to_owned(), "[1]".to_owned()),
        ]);
        http()
            .post(provider.authorization_endpoint())
            .form(&form)
            .send()
            .await?
    };
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert!(broken
        .text()
        .await?
        .contains("Userinfo-only claims must be a JSON object"));
    Ok(())
}
