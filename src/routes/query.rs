//! The query strings of the flow's routes.

use http::request::Parts;

use crate::error::LoginError;

/// The values of exactly the parameters `names` asks for, in that order, refusing a
/// repeated one: with two `state`s or two `code`s, which one a component reads is a guess
/// an attacker can exploit. Other parameters are ignored.
///
/// ```text
/// let [code, state] = query_params(&parts, ["code", "state"])?;
/// ```
pub(super) fn query_params<const N: usize>(
    parts: &Parts,
    names: [&str; N],
) -> Result<[Option<String>; N], LoginError> {
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    let query = parts.uri.query().unwrap_or("");
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(slot) = names
            .iter()
            .zip(found.iter_mut())
            .find_map(|(name, slot)| (*name == key).then_some(slot))
        else {
            continue;
        };
        if slot.is_some() {
            return Err(LoginError::BadRequest(format!(
                "the parameter \"{key}\" appears more than once"
            )));
        }
        *slot = Some(value.into_owned());
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str) -> Parts {
        http::Request::get(uri).body(()).unwrap().into_parts().0
    }

    #[test]
    fn returns_exactly_the_parameters_asked_for() {
        let [code, state, iss] = query_params(
            &parts("/cb?state=s&other=1&code=c%20d"),
            ["code", "state", "iss"],
        )
        .unwrap();
        assert_eq!(code.as_deref(), Some("c d"));
        assert_eq!(state.as_deref(), Some("s"));
        assert_eq!(iss, None);
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        let err = query_params(&parts("/cb?code=a&code=b"), ["code"]).unwrap_err();
        assert!(err.to_string().contains("\"code\" appears more than once"));
        // A repeated parameter nobody asked for is not our business.
        assert!(query_params(&parts("/cb?x=a&x=b"), ["code"]).is_ok());
    }
}
