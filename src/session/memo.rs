//! Session cookie values whose signature already verified, with their id.
//!
//! Every logged-in request sends the same cookie value; remembering it spares an HMAC per
//! request. Only values that verified get in, a value must match byte for byte (compared
//! in constant time) to be found, and the store still decides whether the session exists,
//! so logout stays immediate. Sharded so that two cores serving two users rarely wait for
//! each other.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use foldhash::fast::RandomState;
use tower_sessions_core::session::Id;

use crate::util::same_bytes;

/// How many verified values are remembered in all; a full shard starts afresh.
const CAPACITY: usize = 16_384;
const SHARDS: usize = 16;
/// The values are keyed by their first bytes (the signature's start: random for every
/// real cookie), which hash in a fraction of the time of the whole value.
const PREFIX: usize = 24;

/// Keyed with a per-process random seed (foldhash: a few instructions for 24 bytes, where
/// the standard SipHash cost a tenth of a logged-in request); only values this process
/// signed are ever inserted, so nobody outside chooses the keys anyway.
type Shard = HashMap<[u8; PREFIX], (Box<[u8]>, Id), RandomState>;

/// The memo; its `Debug` never shows a cookie value.
pub(crate) struct Verified {
    shards: [Mutex<Shard>; SHARDS],
}

impl Default for Verified {
    fn default() -> Self {
        Verified {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::default())),
        }
    }
}

fn prefix(raw: &[u8]) -> [u8; PREFIX] {
    let mut key = [0u8; PREFIX];
    let n = raw.len().min(PREFIX);
    key[..n].copy_from_slice(&raw[..n]);
    key
}

impl Verified {
    fn shard(&self, key: &[u8; PREFIX]) -> MutexGuard<'_, Shard> {
        // The last prefix byte is as random as any; it picks the shard.
        let index = usize::from(key[PREFIX - 1]) % SHARDS;
        // A panic while holding the lock cannot leave a half-inserted entry behind.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The id of `raw` if it verified before.
    pub(crate) fn get(&self, raw: &[u8]) -> Option<Id> {
        let key = prefix(raw);
        let shard = self.shard(&key);
        let (known, id) = shard.get(&key)?;
        same_bytes(known, raw).then_some(*id)
    }

    /// Remembers that `raw` verified and carries `id`.
    pub(crate) fn insert(&self, raw: &[u8], id: Id) {
        let key = prefix(raw);
        let mut shard = self.shard(&key);
        if shard.len() >= CAPACITY / SHARDS {
            shard.clear();
        }
        shard.insert(key, (raw.into(), id));
    }

    /// How many values are remembered (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        (0..SHARDS)
            .map(|i| {
                self.shards[i]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len()
            })
            .sum()
    }
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verified([redacted])")
    }
}
