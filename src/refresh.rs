//! Keeping a session's tokens fresh: the access token handlers ask for with
//! [`User::access_token`](crate::User::access_token), and the session that follows the
//! provider's (`session_follows_provider`).
//!
//! A refresh is single-flight: in this process one request per session redeems the refresh
//! token while the others wait for its result ([`RefreshLocks`](crate::session::RefreshLocks)),
//! and across replicas a record in the shared store says a refresh with that refresh token
//! is under way, so another replica waits for the new tokens to appear instead of
//! redeeming the token a second time (which a provider rotating refresh tokens takes for
//! theft, revoking the whole grant). The new tokens are saved before anyone gets them.
//!
//! The provider refusing the refresh (`invalid_grant`: revoked, signed out, disabled) ends
//! the session; a provider that cannot be reached leaves it alone. Each failure is one
//! `warn` line naming the provider and the reason, never a token.

use std::sync::Arc;
use std::time::Duration;

use crate::access;
use crate::provider::{RefreshError, Refreshed};
use crate::state::{AuthState, Upkeep};
use crate::user::{
    AccessToken, LoggedIn, ProviderTokens, StoredUser, TokenError, TokenFuture, TokenSource,
};

/// An access token with less than this left is refreshed before it is handed out.
pub(crate) const FRESH_MARGIN: Duration = Duration::from_secs(60);

/// How long a store-wide refresh turn lasts if its holder never gives it back (it
/// crashed): longer than any token request takes.
const TURN_TTL: Duration = Duration::from_secs(30);

/// How long a replica waits for another one's refresh, and how often it looks.
const WAIT_FOR_OTHER: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// After a refresh on a request failed because the provider was down, requests of that
/// session go on without trying again for this long.
const RETRY_AFTER: i64 = 10;

impl TokenSource for AuthState {
    fn open(&self, user: &StoredUser) -> Option<ProviderTokens> {
        self.open_tokens(user)
    }

    fn fresh_access_token<'a>(&'a self, user: &'a Arc<LoggedIn>) -> TokenFuture<'a> {
        Box::pin(fresh_access_token(self, user))
    }
}

/// The session's access token if it has more than [`FRESH_MARGIN`] left (or half its
/// lifetime, when that is shorter: see [`ProviderTokens::fresh_for`]), else a refreshed one.
async fn fresh_access_token(
    state: &AuthState,
    user: &Arc<LoggedIn>,
) -> Result<AccessToken, TokenError> {
    let tokens = state.tokens(user).ok_or(TokenError::Expired)?;
    if tokens.fresh_for(FRESH_MARGIN) {
        return Ok(access_token(tokens));
    }
    if tokens.refresh_token.is_none() {
        return Err(TokenError::Expired);
    }
    let refreshed = refresh(state, user, &tokens.access_token).await?;
    state
        .tokens(&refreshed)
        .map(access_token)
        .ok_or(TokenError::Unavailable)
}

fn access_token(tokens: &ProviderTokens) -> AccessToken {
    AccessToken::new(tokens.access_token.clone(), tokens.access_expires_at)
}

/// A session after its upkeep.
#[derive(Debug)]
pub(crate) enum AfterUpkeep {
    /// Still live (refreshed, or as it was).
    LoggedIn(Arc<LoggedIn>),
    /// The provider refused the refresh: the session is over and the request anonymous.
    Ended,
}

/// What a live session needs before its request goes on (see [`Upkeep`]). Never fails the
/// request for the store or the provider being down: the session goes on as it is.
pub(crate) async fn upkeep(state: &AuthState, user: Arc<LoggedIn>, upkeep: Upkeep) -> AfterUpkeep {
    match upkeep {
        Upkeep::Slide => {
            if let Err(e) = state.sessions.slide(&user).await {
                tracing::warn!(error = %e, "could not extend an idle session's expiry; it keeps the old one");
            }
            AfterUpkeep::LoggedIn(user)
        }
        Upkeep::Refresh => match refresh_seen(state, &user).await {
            Ok(fresh) => AfterUpkeep::LoggedIn(fresh),
            Err(TokenError::SessionEnded) => AfterUpkeep::Ended,
            Err(_) => {
                user.retry_refresh_after(crate::pending::now_unix() + RETRY_AFTER);
                AfterUpkeep::LoggedIn(user)
            }
        },
    }
}

/// [`refresh`] of the tokens `user` holds.
async fn refresh_seen(
    state: &AuthState,
    user: &Arc<LoggedIn>,
) -> Result<Arc<LoggedIn>, TokenError> {
    let seen = state.tokens(user).map(|t| t.access_token.clone());
    refresh(state, user, seen.as_deref().unwrap_or_default()).await
}

/// Refreshes `user`'s tokens, whose access token was `seen` (once, however many requests
/// ask at the same time), and returns the session as it is afterwards.
async fn refresh(
    state: &AuthState,
    user: &Arc<LoggedIn>,
    seen: &str,
) -> Result<Arc<LoggedIn>, TokenError> {
    let id = user.id();
    let lock = state.refresh_locks.of(id);
    let _turn = lock.lock().await;
    // Whoever held the lock before may have refreshed already: a new access token that has
    // not expired is the answer, even one that lives under a minute (a provider issuing
    // such tokens would otherwise be asked once per waiting request).
    let current = current(state, user).await?;
    let Some(tokens) = state.tokens(&current).cloned() else {
        return Err(TokenError::Expired);
    };
    let replaced = tokens.access_token != seen && tokens.fresh_for(Duration::ZERO);
    if replaced || tokens.fresh_for(FRESH_MARGIN) {
        return Ok(current);
    }
    let Some(refresh_token) = tokens.refresh_token.clone() else {
        return Err(TokenError::Expired);
    };
    match state
        .sessions
        .take_refresh_turn(&id, &refresh_token, TURN_TTL)
        .await
    {
        Ok(true) => {}
        Ok(false) => return wait_for_other(state, &current, &tokens).await,
        Err(e) => {
            tracing::warn!(error = %e, "refresh failed: the session store cannot be reached");
            return Err(TokenError::Unavailable);
        }
    }
    let result = redeem(state, &current, tokens, &refresh_token).await;
    state.sessions.end_refresh_turn(&id, &refresh_token).await;
    result
}

/// The session as the store holds it now.
async fn current(state: &AuthState, user: &Arc<LoggedIn>) -> Result<Arc<LoggedIn>, TokenError> {
    match state.sessions.current_user(&user.id()).await {
        Ok(Some(current)) => Ok(current),
        Ok(None) => Err(TokenError::SessionEnded),
        Err(e) => {
            tracing::warn!(error = %e, "refresh failed: the session store cannot be reached");
            Err(TokenError::Unavailable)
        }
    }
}

/// Another replica is refreshing `old`: wait for its new tokens to appear.
async fn wait_for_other(
    state: &AuthState,
    user: &Arc<LoggedIn>,
    old: &ProviderTokens,
) -> Result<Arc<LoggedIn>, TokenError> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHER;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        let current = current(state, user).await?;
        let changed = state.tokens(&current).is_some_and(|t| {
            t.access_token != old.access_token || t.refresh_token != old.refresh_token
        });
        if changed {
            return Ok(current);
        }
    }
    tracing::warn!(
        provider = %user.stored().provider,
        "refresh failed: another replica's refresh of this session did not finish in time"
    );
    Err(TokenError::Unavailable)
}

/// Redeems `refresh_token` at the provider and saves what comes back.
async fn redeem(
    state: &AuthState,
    user: &Arc<LoggedIn>,
    tokens: ProviderTokens,
    refresh_token: &str,
) -> Result<Arc<LoggedIn>, TokenError> {
    let stored = user.stored();
    let name = &*stored.provider;
    let Some(provider) = state.providers.get(name) else {
        tracing::warn!(provider = %name, "refresh refused: the provider is no longer configured; the session ends");
        end(state, user).await;
        return Err(TokenError::SessionEnded);
    };
    let login = stored.id_token_claims().unwrap_or_default();
    let refreshed = match provider.refresh(refresh_token, &login).await {
        Ok(refreshed) => refreshed,
        Err(RefreshError::Refused(reason)) => {
            tracing::warn!(provider = %name, reason = %reason, "refresh refused by the provider; the session ends");
            end(state, user).await;
            return Err(TokenError::SessionEnded);
        }
        Err(RefreshError::Unavailable(reason)) => {
            tracing::warn!(provider = %name, reason = %reason, "refresh failed; the session goes on and a later call may succeed");
            return Err(TokenError::Unavailable);
        }
    };
    let Some(next) = refreshed_user(state, stored, tokens, refreshed) else {
        tracing::warn!(provider = %name, "refresh failed: the new tokens could not be stored");
        return Err(TokenError::Unavailable);
    };
    // The rules hold at every refresh: a user whose new claims no longer pass them (a role
    // taken away) is out.
    let claims = LoggedIn::decode(Arc::new(next.clone()), user.id(), user.expires_at());
    if let Some(refusal) = claims
        .as_ref()
        .and_then(|u| access::check(provider.access_rules(), u.claims()).err())
    {
        tracing::warn!(provider = %name, rule = refusal.rule(), "refresh refused: the user's new claims no longer pass the rules; the session ends");
        end(state, user).await;
        return Err(TokenError::SessionEnded);
    }
    match state.sessions.replace_user(user, next).await {
        Ok(Some(fresh)) => Ok(fresh),
        Ok(None) => Err(TokenError::SessionEnded),
        Err(e) => {
            tracing::warn!(provider = %name, error = %e, "refresh failed: the new tokens could not be saved");
            Err(TokenError::Unavailable)
        }
    }
}

/// The session's user after a refresh: the new ID token and userinfo claims, when they
/// came, and the new tokens sealed (an unrotated refresh token is kept).
fn refreshed_user(
    state: &AuthState,
    stored: &StoredUser,
    old: ProviderTokens,
    refreshed: Refreshed,
) -> Option<StoredUser> {
    let tokens = ProviderTokens {
        access_token: refreshed.access_token,
        access_expires_at: refreshed
            .expires_in
            .map(|d| crate::pending::now_unix().saturating_add(d.as_secs() as i64)),
        refresh_token: refreshed.refresh_token.or(old.refresh_token),
        access_lifetime: refreshed.expires_in.map(|d| d.as_secs() as i64),
    };
    let sealed = crate::seal::seal_tokens(&state.keys, stored, &tokens)?;
    let next = stored.refreshed(refreshed.id_token.as_deref(), Some(sealed))?;
    match refreshed.userinfo {
        Some(fields) => next.with_extra_claims(fields),
        None => Some(next),
    }
}

/// Ends `user`'s session (the provider refused its refresh).
async fn end(state: &AuthState, user: &LoggedIn) {
    if let Err(e) = state.sessions.end(&user.id(), user.stored()).await {
        tracing::warn!(error = %e, "could not delete a session whose refresh was refused; it is refused again at its next refresh");
    }
}
