//! The paths the layer answers itself, all under the path prefix of `redirect_uri`.

use url::Url;

/// The paths the layer answers, all under the path prefix of `redirect_uri`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Routes {
    /// `<prefix>/auth/login`.
    pub login: String,
    /// `<prefix>/auth/logout`.
    pub logout: String,
    /// `<prefix>/auth/backchannel-logout`: where a provider POSTs a logout token
    /// (OpenID Connect Back-Channel Logout 1.0); register this URL with the provider.
    pub backchannel_logout: String,
    /// `<prefix>/auth/frontchannel-logout`: what a provider loads in a hidden frame when the
    /// user signs out there (OpenID Connect Front-Channel Logout 1.0, Microsoft Entra ID's
    /// single sign-out); register this URL with the provider.
    pub frontchannel_logout: String,
    /// The path of `redirect_uri`, normally `<prefix>/oauth2callback`.
    pub callback: String,
    /// `<prefix>/`: where logout and failed redirects land.
    pub home: String,
    /// The path of every cookie the layer sets: the prefix, or `/`.
    pub cookie_path: String,
}

/// Which of the layer's own routes a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Login,
    Callback,
    Logout,
    BackchannelLogout,
    FrontchannelLogout,
}

impl Routes {
    pub(crate) fn from_redirect_uri(redirect_uri: &Url) -> Routes {
        let callback = redirect_uri.path().to_owned();
        let prefix = callback
            .rsplit_once('/')
            .map(|(p, _)| p.to_owned())
            .unwrap_or_default();
        Routes {
            login: format!("{prefix}/auth/login"),
            logout: format!("{prefix}/auth/logout"),
            backchannel_logout: format!("{prefix}/auth/backchannel-logout"),
            frontchannel_logout: format!("{prefix}/auth/frontchannel-logout"),
            home: format!("{prefix}/"),
            cookie_path: if prefix.is_empty() {
                "/".into()
            } else {
                prefix
            },
            callback,
        }
    }

    /// The route `path` names, if it is one of the layer's own.
    pub(crate) fn route(&self, path: &str) -> Option<Route> {
        if path == self.login {
            Some(Route::Login)
        } else if path == self.callback {
            Some(Route::Callback)
        } else if path == self.logout {
            Some(Route::Logout)
        } else if path == self.backchannel_logout {
            Some(Route::BackchannelLogout)
        } else if path == self.frontchannel_logout {
            Some(Route::FrontchannelLogout)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_prefix_of_redirect_uri() {
        let root =
            Routes::from_redirect_uri(&Url::parse("https://a.example/oauth2callback").unwrap());
        assert_eq!(root.login, "/auth/login");
        assert_eq!(root.cookie_path, "/");
        assert_eq!(root.route("/oauth2callback"), Some(Route::Callback));
        assert_eq!(root.route("/auth/logout"), Some(Route::Logout));
        assert_eq!(root.route("/auth/login/"), None);

        let nested = Routes::from_redirect_uri(&Url::parse("https://a.example/app/cb").unwrap());
        assert_eq!(nested.login, "/app/auth/login");
        assert_eq!(nested.home, "/app/");
        assert_eq!(nested.cookie_path, "/app");
        assert_eq!(nested.route("/app/cb"), Some(Route::Callback));
    }
}
