use serde_json::json;

use super::*;
use crate::config::AuthConfig;

/// The rules of a provider whose table holds `rules` (and `[auth]` holds `defaults`).
fn rules_with(defaults: &str, rules: &str) -> AccessRules {
    let text = format!(
        "[auth]\nredirect_uri = \"http://localhost:8501/oauth2callback\"\n\
         cookie_secret = \"0123456789abcdef0123456789abcdef\"\n{defaults}\n\
         [auth.corp]\nclient_id = \"id\"\nclient_secret = \"s\"\n\
         server_metadata_url = \"https://login.example.com/.well-known/openid-configuration\"\n{rules}\n"
    );
    let config = AuthConfig::from_toml_str(&text).expect("valid rules");
    config.provider("corp").unwrap().access_rules().clone()
}

fn rules(text: &str) -> AccessRules {
    rules_with("", text)
}

fn claims(value: serde_json::Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("claims are an object"),
    }
}

#[test]
fn no_rule_admits_everyone() {
    let r = rules("");
    assert!(r.admits_everyone());
    assert_eq!(check(&r, &claims(json!({"sub": "x"}))), Ok(()));
}

#[test]
fn allowed_emails_compare_verified_addresses_case_insensitively() {
    let r = rules("allowed_emails = [\"Ada@Example.com\", \"bob@example.org\"]");
    let ok = claims(json!({"email": "ADA@example.COM", "email_verified": true}));
    assert_eq!(check(&r, &ok), Ok(()));
    let other = claims(json!({"email": "eve@example.com", "email_verified": true}));
    assert_eq!(check(&r, &other), Err(Refusal::Email));
    // Unverified, or no word on it: refused whatever the address (nOAuth).
    for unverified in [
        json!({"email": "ada@example.com"}),
        json!({"email": "ada@example.com", "email_verified": false}),
        json!({"email": "ada@example.com", "email_verified": "false"}),
    ] {
        assert_eq!(
            check(&r, &claims(unverified)),
            Err(Refusal::EmailNotVerified)
        );
    }
    // "true" as a string (some providers) and Entra's xms_edov count as verified.
    let string_true = claims(json!({"email": "bob@example.org", "email_verified": "true"}));
    assert_eq!(check(&r, &string_true), Ok(()));
    let edov = claims(json!({"email": "bob@example.org", "xms_edov": true}));
    assert_eq!(check(&r, &edov), Ok(()));
    // A missing email claim is refused too.
    assert_eq!(
        check(&r, &claims(json!({"email_verified": true}))),
        Err(Refusal::EmailNotVerified)
    );
}

#[test]
fn allowed_email_domains_match_the_domain_exactly() {
    let r = rules("allowed_email_domains = [\"Example.com\"]");
    let verified = |email: &str| claims(json!({"email": email, "email_verified": true}));
    assert_eq!(check(&r, &verified("ada@EXAMPLE.com")), Ok(()));
    for other in [
        "ada@sub.example.com",
        "ada@example.com.evil.test",
        "ada@evilexample.com",
        "example.com@evil.test",
    ] {
        assert_eq!(
            check(&r, &verified(other)),
            Err(Refusal::EmailDomain),
            "{other}"
        );
    }
    assert_eq!(
        check(&r, &claims(json!({"email": "ada@example.com"}))),
        Err(Refusal::EmailNotVerified)
    );
}

#[test]
fn groups_roles_and_tenants_admit_any_listed_value() {
    let r = rules(
        "allowed_groups = [\"g1\", \"g2\"]\nallowed_roles = [\"Reports.Read\"]\n\
         allowed_tenants = [\"72F988BF-86F1-41AF-91AB-2D7CD011DB47\"]",
    );
    let good = json!({
        "groups": ["g0", "g2"],
        "roles": ["Reports.Read", "Other"],
        "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    });
    assert_eq!(check(&r, &claims(good.clone())), Ok(()));
    let mut no_group = good.clone();
    no_group["groups"] = json!(["g3"]);
    assert_eq!(check(&r, &claims(no_group)), Err(Refusal::Group));
    let mut missing_groups = good.clone();
    missing_groups.as_object_mut().unwrap().remove("groups");
    assert_eq!(check(&r, &claims(missing_groups)), Err(Refusal::Group));
    let mut role = good.clone();
    role["roles"] = json!(["reports.read"]);
    assert_eq!(
        check(&r, &claims(role)),
        Err(Refusal::Role),
        "roles are exact"
    );
    let mut single_role = good.clone();
    single_role["roles"] = json!("Reports.Read");
    assert_eq!(check(&r, &claims(single_role)), Ok(()));
    let mut tenant = good.clone();
    tenant["tid"] = json!("00000000-0000-0000-0000-000000000000");
    assert_eq!(check(&r, &claims(tenant)), Err(Refusal::Tenant));
    let mut no_tenant = good;
    no_tenant.as_object_mut().unwrap().remove("tid");
    assert_eq!(check(&r, &claims(no_tenant)), Err(Refusal::Tenant));
}

#[test]
fn a_groups_overage_is_its_own_refusal() {
    let r = rules("allowed_groups = [\"g1\"]");
    let overage = claims(json!({
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}},
    }));
    assert!(has_groups_overage(&overage));
    assert_eq!(check(&r, &overage), Err(Refusal::GroupsOverage));
}

#[test]
fn a_provider_overrides_the_auth_default_key_by_key() {
    let r = rules_with(
        "allowed_email_domains = [\"example.com\"]\nallowed_roles = [\"Default\"]",
        "allowed_roles = [\"Own\"]",
    );
    assert_eq!(r.email_domains(), Some(&["example.com".to_owned()][..]));
    assert_eq!(r.roles(), Some(&["Own".to_owned()][..]));
    // Another provider without rules of its own gets the defaults.
    let text = "[auth]\nredirect_uri = \"http://localhost:8501/oauth2callback\"\n\
                cookie_secret = \"0123456789abcdef0123456789abcdef\"\n\
                allowed_roles = [\"Default\"]\n\
                [auth.a]\nclient_id = \"id\"\nclient_secret = \"s\"\n\
                server_metadata_url = \"https://a.example/.well-known/openid-configuration\"\n";
    let config = AuthConfig::from_toml_str(text).unwrap();
    assert_eq!(
        config.provider("a").unwrap().access_rules().roles(),
        Some(&["Default".to_owned()][..])
    );
}

#[test]
fn bad_rule_values_are_configuration_errors() {
    let bad = |line: &str, says: &str| {
        let text = format!(
            "[auth]\nredirect_uri = \"http://localhost:8501/oauth2callback\"\n\
             cookie_secret = \"0123456789abcdef0123456789abcdef\"\n\
             [auth.corp]\nclient_id = \"id\"\nclient_secret = \"s\"\n\
             server_metadata_url = \"https://login.example.com/.well-known/openid-configuration\"\n{line}\n"
        );
        let e = AuthConfig::from_toml_str(&text).unwrap_err().to_string();
        assert!(e.contains(says), "{line}: {e}");
        assert!(e.contains("auth.corp."), "{line}: {e}");
    };
    bad("allowed_emails = []", "an empty list admits nobody");
    bad(
        "allowed_emails = [\"not-an-address\"]",
        "not an email address",
    );
    bad(
        "allowed_email_domains = [\"@example.com\"]",
        "not a domain name",
    );
    bad(
        "allowed_email_domains = [\"*.example.com\"]",
        "not a domain name",
    );
    bad("allowed_tenants = [\"contoso.com\"]", "not a tenant id");
    bad("allowed_groups = [\"\"]", "empty value");
    bad("allowed_roles = 3", "must be a list of strings");
    bad("allow_any_tenant = \"yes\"", "must be true or false");
}
