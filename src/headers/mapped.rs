//! A generic header mapping (Streamlit's `trustedUserHeaders`, oauth2-proxy's
//! `X-Forwarded-*`): each header one claim; the user header is `sub`.

use http::header::{HeaderMap, HeaderName};
use serde_json::{Map, Value};

use super::{one_value, Flaw, Problem};
use crate::user::FrontEndUser;

/// How a header's value becomes a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// The value as one string.
    One,
    /// A comma-separated list (oauth2-proxy's `X-Forwarded-Groups`), as a list of strings.
    List,
}

/// One header → claim rule.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub(super) header: HeaderName,
    pub(super) claim: Box<str>,
    pub(super) shape: Shape,
}

/// A validated mapping: the user header (`sub`) first, then the others.
#[derive(Debug, Clone)]
pub(super) struct Mapping {
    pub(super) provider: Box<str>,
    pub(super) user: HeaderName,
    pub(super) rules: Vec<Rule>,
}

impl Mapping {
    /// The user the headers describe: `Ok(None)` when none of them is there (anonymous),
    /// a [`Flaw`] when one is broken or other headers came without the user header.
    pub(super) fn identify(
        &self,
        headers: &HeaderMap,
        max: usize,
    ) -> Result<Option<FrontEndUser>, Flaw> {
        let user = one_value(headers, &self.user, max)?.filter(|u| !u.is_empty());
        let mut claims = Map::new();
        let mut others = false;
        for rule in &self.rules {
            let Some(value) = one_value(headers, &rule.header, max)? else {
                continue;
            };
            others = true;
            let value = match rule.shape {
                Shape::One => Value::String(value.to_owned()),
                Shape::List => Value::Array(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| Value::String(item.to_owned()))
                        .collect(),
                ),
            };
            claims.insert(rule.claim.to_string(), value);
        }
        let Some(user) = user else {
            return match others {
                true => Err(Flaw {
                    header: self.user.clone(),
                    problem: Problem::NoSubject,
                }),
                false => Ok(None),
            };
        };
        claims.insert("sub".into(), Value::String(user.to_owned()));
        Ok(Some(FrontEndUser::new(&*self.provider, claims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn oauth2_proxy() -> Mapping {
        let rule = |header: &'static str, claim: &str, shape| Rule {
            header: HeaderName::from_static(header),
            claim: claim.into(),
            shape,
        };
        Mapping {
            provider: "oauth2_proxy".into(),
            user: HeaderName::from_static("x-forwarded-user"),
            rules: vec![
                rule("x-forwarded-email", "email", Shape::One),
                rule("x-forwarded-user", "name", Shape::One),
                rule("x-forwarded-groups", "groups", Shape::List),
            ],
        }
    }

    fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn headers_become_claims() {
        let headers = request(&[
            ("x-forwarded-user", "alice"),
            ("x-forwarded-email", "alice@example.com"),
            ("x-forwarded-groups", "admins, ops,,staff"),
        ]);
        let user = oauth2_proxy().identify(&headers, 1024).unwrap().unwrap();
        assert_eq!(user.provider(), "oauth2_proxy");
        assert_eq!(
            Value::Object(user.claims().clone()),
            json!({"sub": "alice", "name": "alice", "email": "alice@example.com",
                   "groups": ["admins", "ops", "staff"]})
        );
    }

    #[test]
    fn no_headers_is_anonymous_and_claims_without_the_user_are_a_flaw() {
        assert_eq!(
            oauth2_proxy().identify(&HeaderMap::new(), 1024).unwrap(),
            None
        );
        let flaw = oauth2_proxy()
            .identify(&request(&[("x-forwarded-email", "a@b.c")]), 1024)
            .unwrap_err();
        assert_eq!(flaw.problem, Problem::NoSubject);
        let flaw = oauth2_proxy()
            .identify(
                &request(&[("x-forwarded-user", "a"), ("x-forwarded-user", "b")]),
                1024,
            )
            .unwrap_err();
        assert_eq!(flaw.problem, Problem::Repeated);
    }
}
