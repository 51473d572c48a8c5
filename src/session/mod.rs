//! Server-side sessions behind a narrow seam.
//!
//! The layer keeps its records in one [`SessionStore`] (tower-sessions-core 0.14, the version
//! every published store crate — Redis, SQL, moka — implements): the logged-in user, keyed
//! by a random session id that the session cookie carries, and small records found by a hash
//! of what they index (`index`: a user's sessions, a provider session's user, used login
//! states, accepted logout tokens, refresh turns). Pending logins are not stored: they live
//! sealed in the browser (`cookie`). Nothing but the session id ever leaves the server, so
//! the cookie stays small however many claims the provider sends.
//!
//! A logged-in request reads, in order: the session cookie (`cookie`), the worker thread's
//! `front` (a hit ends here), the verified-value memo (`memo`, else the HMAC), then the
//! in-memory store (`memory`) or the external store's local copy (`cache`), else the store.

mod cache;
mod cookie;
mod flight;
pub(crate) mod front;
mod index;
mod memo;
mod memory;
mod record;
mod sessions;
mod stores;

pub(crate) use self::cache::DEFAULT_TTL as CACHE_TTL;
pub(crate) use self::cookie::{CookieJar, SessionCookie, SessionRead};
pub(crate) use self::flight::RefreshLocks;
pub use self::memory::MemoryStore;
pub(crate) use self::sessions::{Admission, Lookup, Sessions, DEFAULT_MAX_PER_USER};
pub(crate) use self::stores::{open_redis, open_sqlite};
pub use tower_sessions_core::session::{Id, Record};
pub use tower_sessions_core::session_store::{Error as StoreError, SessionStore};
