//! The layer's view of the store: logged-in users and used login states, nothing else.

use std::sync::Arc;
use std::time::Duration;

use tower_sessions_core::session::Id;
use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

use super::cache::LocalCache;
use super::front::{Generation, Owner, Stamp, Until};
use super::index::{self, derived_id, Purpose, UserKey};
use super::memory::MemoryStore;
use super::record::{expiry_after, new_record, read, ENDED_KEY, USED_STATE_KEY, USER_KEY};
use crate::user::{LoggedIn, StoredUser};

/// What [`Sessions::load_user_now`] knows without waiting.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A live session, and until when the answer holds without asking again.
    Found(Arc<LoggedIn>, Until),
    /// No such session, or it expired.
    Gone,
    /// Only the (external) store can tell: ask [`Sessions::load_user`].
    AskStore,
}

/// Where sessions live.
#[derive(Debug)]
enum Backend {
    /// The built-in store: users are read without a copy and without waiting.
    Memory(Arc<MemoryStore>),
    /// Any other store, with a short-lived local copy of the sessions read from it.
    External {
        store: Arc<dyn SessionStore>,
        cache: Box<LocalCache>,
    },
}

/// Whether a stored user may still come in: the app's rules, checked again whenever a
/// session is read back from an external store (a session admitted under rules that have
/// changed since, at a restart, is refused).
pub(crate) trait Admission: Send + Sync + std::fmt::Debug {
    /// `false` ends the session.
    fn admits(&self, user: &LoggedIn) -> bool;
}

/// The most sessions one user keeps by default; a new login past it ends their oldest.
pub(crate) const DEFAULT_MAX_PER_USER: usize = 32;

/// The layer's view of the store: users and used login states, nothing else.
#[derive(Debug)]
pub(crate) struct Sessions {
    backend: Backend,
    lifetime: Duration,
    max_per_user: usize,
    /// Serialises this process's updates of the per-user index records.
    index_lock: tokio::sync::Mutex<()>,
    /// The rules a session read from an external store must still pass.
    admission: Option<Arc<dyn Admission>>,
    /// `session_idle_timeout`: a session's expiry slides to this after each request.
    idle: Option<Duration>,
    /// Which slots of the per-thread front (`front`) are this layer's.
    front: Owner,
}

/// How often at most an idle timeout's expiry is written: every five minutes, or every
/// quarter of a shorter timeout (a request then keeps a session that has at least three
/// quarters of its idle timeout left).
fn slide_step(idle: Duration) -> i64 {
    const MOST: i64 = 5 * 60;
    (idle.as_secs() as i64 / 4).clamp(1, MOST)
}

impl Sessions {
    /// Sessions in the built-in in-memory store.
    pub(crate) fn in_memory(store: Arc<MemoryStore>, lifetime: Duration) -> Self {
        Sessions::with_backend(Backend::Memory(store), lifetime)
    }

    fn with_backend(backend: Backend, lifetime: Duration) -> Self {
        Sessions {
            backend,
            lifetime,
            max_per_user: DEFAULT_MAX_PER_USER,
            index_lock: tokio::sync::Mutex::new(()),
            admission: None,
            idle: None,
            front: Owner::unique(),
        }
    }

    /// Sessions end after `idle` without a request (`session_idle_timeout`).
    pub(crate) fn with_idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle = idle;
        self
    }

    /// When `user`'s session ends whatever happens (Unix seconds).
    fn ends_at(&self, user: &StoredUser) -> i64 {
        match user.ends_at {
            0 => self.end_for_login(user.login_at),
            at => at,
        }
    }

    /// The record expiry of `user` after a request at `now`: the idle timeout from now,
    /// never past the session's end.
    fn expiry_at(&self, user: &StoredUser, now: i64) -> i64 {
        let end = self.ends_at(user);
        match self.idle {
            Some(idle) => end.min(now.saturating_add(idle.as_secs() as i64)),
            None => end,
        }
    }

    /// Whether sessions have an idle timeout to slide.
    pub(crate) fn slides(&self) -> bool {
        self.idle.is_some()
    }

    /// Whether a request of `user` now should move the expiry forward (idle timeout).
    /// Cheap: no lock, no store.
    pub(crate) fn slide_due(&self, user: &LoggedIn, now: i64) -> bool {
        let Some(idle) = self.idle else {
            return false;
        };
        let current = user.expires_at();
        let next = self.expiry_at(user.stored(), now);
        next > current && next - current >= slide_step(idle)
    }

    /// Moves `user`'s session expiry forward after a request (idle timeout). With an
    /// external store the record is read again first, so a refresh made by another replica
    /// meanwhile is kept.
    pub(crate) async fn slide(&self, user: &LoggedIn) -> Result<(), StoreError> {
        let now = crate::pending::now_unix();
        let expiry = self.expiry_at(user.stored(), now);
        let at = unix_to_date(expiry);
        match &self.backend {
            Backend::Memory(memory) => {
                memory.set_expiry(&user.id(), at);
            }
            Backend::External { store, .. } => {
                let id = user.id();
                if let Some(mut record) = store.load(&id).await? {
                    record.expiry_date = at;
                    store.save(&record).await?;
                    user.set_expires_at(expiry);
                }
            }
        }
        Ok(())
    }

    /// Session `id`'s user as the store holds it now: never this replica's local copy
    /// (what a refresh reads after waiting its turn).
    pub(crate) async fn current_user(&self, id: &Id) -> Result<Option<Arc<LoggedIn>>, StoreError> {
        if let Backend::External { cache, .. } = &self.backend {
            cache.remove(id);
        }
        self.load_user(id).await
    }

    /// Puts `user` in the place of session `old`'s (a refresh), keeping the expiry, and
    /// returns it as requests read it. `None` when the session ended meanwhile.
    pub(crate) async fn replace_user(
        &self,
        old: &LoggedIn,
        user: StoredUser,
    ) -> Result<Option<Arc<LoggedIn>>, StoreError> {
        let id = old.id();
        let user = Arc::new(user);
        match &self.backend {
            Backend::Memory(memory) => {
                if !memory.replace_user(&id, user.clone()) {
                    return Ok(None);
                }
                Ok(memory.load_user(&id))
            }
            Backend::External { store, cache } => {
                let Some(record) = store.load(&id).await? else {
                    return Ok(None);
                };
                let mut next = new_record(USER_KEY, &*user, Duration::ZERO)?;
                next.id = id;
                next.expiry_date = record.expiry_date;
                store.save(&next).await?;
                let Some(parsed) = LoggedIn::decode(user, id, record.expiry_date.unix_timestamp())
                else {
                    return Ok(None);
                };
                cache.insert(id, parsed.clone());
                Ok(Some(parsed))
            }
        }
    }

    /// Takes the store-wide turn to refresh session `id` with the refresh token whose hash
    /// is `token`, for `ttl`: `false` when another replica (or request) holds it.
    pub(crate) async fn take_refresh_turn(
        &self,
        id: &Id,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.first_use(refresh_turn_id(id, token), ttl).await
    }

    /// Gives the turn back, so a refresh with the same (unrotated) token can happen again.
    pub(crate) async fn end_refresh_turn(&self, id: &Id, token: &str) {
        if let Err(e) = self.store().delete(&refresh_turn_id(id, token)).await {
            tracing::debug!(error = %e, "could not remove a refresh turn; it expires on its own");
        }
    }

    /// Checks every session read back from an external store against `admission`.
    pub(crate) fn with_admission(mut self, admission: Arc<dyn Admission>) -> Self {
        self.admission = Some(admission);
        self
    }

    /// At most `max` sessions per user (provider and `sub`); a login past it ends the
    /// user's oldest session.
    pub(crate) fn with_max_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    /// Sessions in `store`. A session read from it is trusted for `cache_ttl` before the
    /// store is asked again: how long a session ended on another replica may still work
    /// here.
    pub(crate) fn external(
        store: Arc<dyn SessionStore>,
        lifetime: Duration,
        cache_ttl: Duration,
    ) -> Self {
        let backend = Backend::External {
            store,
            cache: Box::new(LocalCache::new(cache_ttl)),
        };
        Sessions::with_backend(backend, lifetime)
    }

    fn store(&self) -> &dyn SessionStore {
        match &self.backend {
            Backend::Memory(memory) => &**memory,
            Backend::External { store, .. } => &**store,
        }
    }

    /// The user of session `id` if it is known without waiting: always with the in-memory
    /// store, and for a session another store answered for moments ago.
    pub(crate) fn load_user_now(&self, id: &Id) -> Lookup {
        match &self.backend {
            Backend::Memory(memory) => match memory.load_user_until(id) {
                Some((user, expiry)) => Lookup::Found(user, Until::Wall(expiry)),
                None => Lookup::Gone,
            },
            Backend::External { cache, .. } => match cache.get(id) {
                Some((user, until)) => Lookup::Found(user, Until::Mono(until)),
                None => Lookup::AskStore,
            },
        }
    }

    /// What a lookup in or a fill of the per-thread front is made under: this layer, and
    /// the count of changes to the sessions [`load_user_now`](Self::load_user_now) answers
    /// from (the in-memory store, or the external store's local cache). Taken before that
    /// lookup, so a session that ends meanwhile leaves a slot that never counts.
    pub(crate) fn stamp(&self) -> Stamp {
        let generation: &Generation = match &self.backend {
            Backend::Memory(memory) => memory.generation(),
            Backend::External { cache, .. } => cache.generation(),
        };
        Stamp::new(&self.front, generation)
    }

    /// The latest end (Unix seconds) of a session that logged in at `login_at`:
    /// `session_max_age` from the login. The one rule for it: a record without its own end
    /// and the session a login creates both count this way.
    pub(crate) fn end_for_login(&self, login_at: i64) -> i64 {
        login_at.saturating_add(self.lifetime.as_secs() as i64)
    }

    /// The user of session `id`, or `None` when the session is unknown, expired or holds
    /// something this version cannot read (which then reads as anonymous, not an error).
    pub(crate) async fn load_user(&self, id: &Id) -> Result<Option<Arc<LoggedIn>>, StoreError> {
        match self.load_user_now(id) {
            Lookup::Found(user, _) => return Ok(Some(user)),
            Lookup::Gone => return Ok(None),
            Lookup::AskStore => {}
        }
        let Backend::External { store, cache } = &self.backend else {
            return Ok(None);
        };
        let Some(record) = store.load(id).await? else {
            return Ok(None);
        };
        let record_expiry = record.expiry_date.unix_timestamp();
        let Some(stored) = read::<StoredUser>(record, USER_KEY) else {
            return Ok(None);
        };
        if self.ended_elsewhere(id, &stored).await? {
            let _ = store.delete(id).await;
            return Ok(None);
        }
        let Some(user) = LoggedIn::decode(Arc::new(stored), *id, record_expiry) else {
            return Ok(None);
        };
        if self.admission.as_ref().is_some_and(|a| !a.admits(&user)) {
            let _ = self.end(id, user.stored()).await;
            return Ok(None);
        }
        cache.insert(*id, user.clone());
        Ok(Some(user))
    }

    /// Stores `user` under a brand-new session id (never a caller-chosen one, so a planted
    /// id cannot become a logged-in session) and returns that id. The user's oldest
    /// sessions past the per-user cap end: one account cannot fill the store.
    pub(crate) async fn create_user(&self, user: StoredUser) -> Result<Id, StoreError> {
        let ids = user.subject_and_session();
        let provider = user.provider.clone();
        let expiry = unix_to_date(self.expiry_at(&user, crate::pending::now_unix()));
        let id = match &self.backend {
            Backend::Memory(memory) => memory.create_user(Arc::new(user), expiry)?,
            Backend::External { store, .. } => {
                let mut record = new_record(USER_KEY, &user, self.lifetime)?;
                record.expiry_date = expiry;
                store.create(&mut record).await?;
                record.id
            }
        };
        let Some((sub, sid)) = ids else {
            return Ok(id);
        };
        let key = UserKey {
            provider: &provider,
            sub: &sub,
        };
        let session = (id, sid.as_deref(), crate::pending::now_unix());
        let indexed = {
            let _serialised = self.index_lock.lock().await;
            index::add(self.store(), key, session, self.max_per_user, self.lifetime).await
        };
        match indexed {
            Ok(evicted) => {
                for old in evicted {
                    tracing::info!(
                        provider = %provider,
                        "a login past the per-user session cap ended the user's oldest session"
                    );
                    self.delete(&old).await?;
                }
                Ok(id)
            }
            Err(e) => {
                // A session the index does not know could escape a logout by the provider:
                // no login rather than that.
                let _ = self.delete(&id).await;
                Err(e)
            }
        }
    }

    /// Ends session `id` of `user` (a logout): gone from the store and from its user's
    /// index.
    pub(crate) async fn end(&self, id: &Id, user: &StoredUser) -> Result<(), StoreError> {
        self.delete(id).await?;
        if let Some((sub, _)) = user.subject_and_session() {
            let key = UserKey {
                provider: &user.provider,
                sub: &sub,
            };
            let _serialised = self.index_lock.lock().await;
            index::remove(self.store(), key, *id).await?;
        }
        Ok(())
    }

    /// Ends session `id`: gone from the store, and from this replica's local copy at once.
    pub(crate) async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        if let Backend::External { cache, .. } = &self.backend {
            cache.remove(id);
        }
        self.store().delete(id).await
    }

    /// Ends every session of a user at `provider` (`sub`), or those of one provider session
    /// (`sid`), as a logout notification from the provider asks: deleted from the store, and
    /// for an external store also recorded as ended, so a session a race left out of the
    /// index, or one another replica still has a copy of, is refused when next read.
    /// Returns how many sessions were found.
    pub(crate) async fn end_user_sessions(
        &self,
        provider: &str,
        sub: Option<&str>,
        sid: Option<&str>,
    ) -> Result<usize, StoreError> {
        let store = self.store();
        let sub = match (sub, sid) {
            (Some(sub), _) => Some(sub.to_owned()),
            (None, Some(sid)) => index::user_of_sid(store, provider, sid).await?,
            (None, None) => None,
        };
        let ended = match &sub {
            Some(sub) => {
                let key = UserKey { provider, sub };
                // With both, only that provider session ends (Back-Channel Logout 1.0 2.4).
                let _serialised = self.index_lock.lock().await;
                index::take(store, key, sid).await?
            }
            None => Vec::new(),
        };
        for id in &ended {
            self.delete(id).await?;
        }
        if let Backend::External { .. } = self.backend {
            let now = crate::pending::now_unix();
            match (sid, &sub) {
                (Some(sid), _) => {
                    let marker = derived_id(Purpose::EndedSid, &[provider, sid]);
                    self.put_marker(marker, now).await?;
                }
                (None, Some(sub)) => {
                    let marker = derived_id(Purpose::EndedSub, &[provider, sub]);
                    self.put_marker(marker, now).await?;
                }
                (None, None) => {}
            }
        }
        Ok(ended.len())
    }

    /// Records that sessions from before `at` are over, for as long as a session lives.
    async fn put_marker(&self, id: Id, at: i64) -> Result<(), StoreError> {
        let mut record = new_record(ENDED_KEY, &at, self.lifetime)?;
        record.id = id;
        // A marker is replaced by a later one; `save` may only replace, `create` only add.
        if self.store().load(&id).await?.is_some() {
            return self.store().save(&record).await;
        }
        let wanted = record.id;
        self.store().create(&mut record).await?;
        if record.id != wanted {
            self.store().delete(&record.id).await?;
            record.id = wanted;
            self.store().save(&record).await?;
        }
        Ok(())
    }

    /// Whether a logout notification ended `user`'s session `id` after it was read: its
    /// provider session (`sid`) ended, or every session of its user before a time after
    /// its login.
    async fn ended_elsewhere(&self, id: &Id, user: &StoredUser) -> Result<bool, StoreError> {
        let Some((sub, sid)) = user.subject_and_session() else {
            return Ok(false);
        };
        let marker = |id: Id| async move {
            Ok::<_, StoreError>(
                self.store()
                    .load(&id)
                    .await?
                    .and_then(|r| read::<i64>(r, ENDED_KEY)),
            )
        };
        if let Some(sid) = &sid {
            if marker(derived_id(Purpose::EndedSid, &[&user.provider, sid]))
                .await?
                .is_some()
            {
                return Ok(true);
            }
        }
        let ended_before = marker(derived_id(Purpose::EndedSub, &[&user.provider, &sub])).await?;
        match ended_before {
            Some(at) if at > user.login_at => Ok(true),
            // Both are whole seconds: a login in the second of the logout may have come
            // before it or after it. The logout emptied the user's index, so a session in
            // the index now was made after it (a user logging in again at once) and lives.
            Some(at) if at == user.login_at => {
                let key = UserKey {
                    provider: &user.provider,
                    sub: &sub,
                };
                Ok(!index::contains(self.store(), key, *id).await?)
            }
            _ => Ok(false),
        }
    }

    /// Records that the login of `state` reached its callback, for `ttl` (its lifetime):
    /// `true` the first time, `false` when it was recorded before (a replayed callback, on
    /// this replica or any other that shares the store).
    pub(crate) async fn mark_state_used(
        &self,
        state: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.first_use(used_state_id(state), ttl).await
    }

    /// Records that the logout token `jti` of `issuer` was accepted, for `ttl`: `true` the
    /// first time, `false` for a replayed token.
    pub(crate) async fn mark_logout_token_used(
        &self,
        issuer: &str,
        jti: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.first_use(derived_id(Purpose::LogoutToken, &[issuer, jti]), ttl)
            .await
    }

    /// Records `id` as used for `ttl`: `true` the first time. The store's `create` never
    /// overwrites a record: given an id that exists, it picks another one, which is how a
    /// second use shows (and that stray record is removed).
    async fn first_use(&self, id: Id, ttl: Duration) -> Result<bool, StoreError> {
        let mut record = new_record(USED_STATE_KEY, &true, ttl)?;
        record.id = id;
        self.store().create(&mut record).await?;
        if record.id == id {
            return Ok(true);
        }
        if let Err(e) = self.store().delete(&record.id).await {
            tracing::debug!(error = %e, "could not remove the record of a second use");
        }
        Ok(false)
    }
}

/// The record that says a refresh of session `id` with refresh token `token` is under way.
fn refresh_turn_id(id: &Id, token: &str) -> Id {
    derived_id(Purpose::RefreshTurn, &[&id.to_string(), token])
}

/// Unix seconds as a record expiry (now plus 30 days for a value out of range, which a
/// validated lifetime never gives).
fn unix_to_date(at: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or_else(|_| expiry_after(Duration::from_secs(30 * 24 * 3600)))
}

/// A used state is recorded under a hash of it, so that the store (and whoever can read
/// it) never holds a state value.
fn used_state_id(state: &str) -> Id {
    derived_id(Purpose::UsedState, &[state])
}
