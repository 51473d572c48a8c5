//! What a [`TrustedHeadersLayer`](super::TrustedHeadersLayer) and its services share: where
//! the user comes from, the limits, and the [`User`] context.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;

use super::mapped::Mapping;
use super::Problems;
use crate::user::{FrontEndUser, User, UserContext};

/// Which front end's headers are read.
#[derive(Debug)]
pub(super) enum Source {
    /// Azure App Service Easy Auth's `X-MS-CLIENT-PRINCIPAL`.
    EasyAuth,
    /// A header → claim mapping.
    Mapped(Mapping),
}

/// Everything the layer's services share, built once.
pub(super) struct Shared {
    pub(super) source: Source,
    pub(super) max_bytes: usize,
    pub(super) context: Arc<UserContext>,
    pub(super) problems: Problems,
}

impl Shared {
    /// The user this request's headers describe, or `None` (anonymous) when there is none
    /// or the headers are broken (logged once per kind of problem).
    pub(super) fn user(&self, headers: &HeaderMap) -> Option<User> {
        let found: Result<Option<FrontEndUser>, _> = match &self.source {
            Source::EasyAuth => super::easy_auth::identify(headers, self.max_bytes),
            Source::Mapped(mapping) => mapping.identify(headers, self.max_bytes),
        };
        match found {
            Ok(user) => user.map(|user| User::from_front_end(user, self.context.clone())),
            Err(flaw) => {
                self.problems.report(&flaw);
                None
            }
        }
    }

    /// An anonymous visitor of this front end (sent to its login page, if known).
    pub(super) fn anonymous(&self) -> User {
        User::new(None, self.context.clone())
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("source", &self.source)
            .field("max_bytes", &self.max_bytes)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}
