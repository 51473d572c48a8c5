//! The embedded development OpenID provider. OWNER: testing helper.
