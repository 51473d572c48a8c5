//! Request parameters as the endpoints read them: form bodies and query strings.

/// Decoded `application/x-www-form-urlencoded` parameters, in order.
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(input: &[u8]) -> Params {
        Params(
            form_urlencoded::parse(input)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The parameter's value; an empty value counts as absent (RFC 6749 section 3.1), a
    /// repeated one is an error.
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, String> {
        let mut found = self
            .0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("the `{name}` parameter is repeated"));
        }
        Ok(first)
    }

    /// The first value, for echoing `state` even in a request that is otherwise broken.
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}
