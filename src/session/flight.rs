//! One refresh at a time per session in this process: concurrent requests of one user
//! wait for the refresh the first one started instead of each redeeming the refresh token
//! (a provider that rotates refresh tokens would take the second use for theft and revoke
//! the grant). Across replicas the store-wide turn in [`super::Sessions`] does the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tower_sessions_core::session::Id;

/// The lock of each session being refreshed, dropped with its last holder.
#[derive(Debug, Default)]
pub(crate) struct RefreshLocks {
    locks: Mutex<HashMap<Id, Weak<tokio::sync::Mutex<()>>>>,
}

impl RefreshLocks {
    /// The lock of session `id`, shared by every caller while one holds it.
    pub(crate) fn of(&self, id: Id) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = locks.get(&id).and_then(Weak::upgrade) {
            return lock;
        }
        // Forget the locks nobody holds any more before the map grows.
        if locks.len() >= 64 {
            locks.retain(|_, lock| lock.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(id, Arc::downgrade(&lock));
        lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_per_session_while_held_and_none_kept_after() {
        let locks = RefreshLocks::default();
        let id = Id::default();
        let a = locks.of(id);
        let b = locks.of(id);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &locks.of(Id::default())));
        drop((a, b));
        for _ in 0..100 {
            let _held = locks.of(Id::default());
        }
        assert!(locks.locks.lock().unwrap().len() <= 64);
    }
}
