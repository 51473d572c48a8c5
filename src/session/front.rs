//! A per-thread front for the logged-in fast path: "this exact session cookie value is
//! session `id` of this layer, whose user is `user`, as long as the store has not changed
//! since and `until` has not passed".
//!
//! A logged-in request otherwise takes two shared locks (the verified-cookie memo, then
//! the store or its local cache) and two hash lookups; a hit here takes neither: one small
//! array of the worker thread, one constant-time comparison, one atomic load and one clock
//! read. It is an optimisation only: a miss takes the path that verifies the cookie and
//! asks the store, which then fills the slot.
//!
//! Why it cannot keep a session alive past its end: every store the front serves for
//! counts its changes ([`Generation`]). Anything that ends or changes a session there
//! (logout, deletion, expiry sweep, eviction, a refreshed user, a slid expiry, a copy
//! replaced in or dropped from the external store's local cache) bumps the count before the
//! lock that made the change is released, and a slot only counts while the count it was
//! filled under is the current one. The count is read before the store is asked, so a
//! change racing with a fill leaves a slot that never counts. Each slot also keeps the
//! session's own end (`until`), checked on every hit. A slot holds its user weakly: it
//! never keeps a session's claims or tokens in memory once the store has let go of them.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

use tower_sessions_core::session::Id;

use crate::user::LoggedIn;
use crate::util::same_bytes;

/// Slots per thread. A thread serving more sessions than this at once only misses more
/// often (a slot is overwritten by the next session that maps to it).
const SLOTS: usize = 64;
/// Longer values are not kept (the layer's own are 66 bytes: a signature and an id).
const MAX_VALUE: usize = 96;
/// Shorter values are not kept: the slot is chosen from the value's first bytes.
const MIN_VALUE: usize = 8;

/// How many times a store's sessions changed. Starts at zero; only ever goes up.
#[derive(Debug, Default)]
pub(crate) struct Generation(AtomicU64);

impl Generation {
    /// Called with the store's lock held, after a change to its sessions.
    pub(crate) fn bump(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Which layer a slot belongs to: a process may run several, with different keys, cookie
/// names or stores, and a layer's cookie must never count for another.
#[derive(Debug)]
pub(crate) struct Owner(u64);

impl Owner {
    /// A number no other layer of this process has had or will have.
    pub(crate) fn unique() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Owner(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The layer and the state of its store a lookup or a fill is made under. Taken before the
/// store is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    owner: u64,
    generation: u64,
}

impl Stamp {
    pub(crate) fn new(owner: &Owner, generation: &Generation) -> Self {
        Stamp {
            owner: owner.0,
            generation: generation.now(),
        }
    }
}

/// When a slot stops counting, by the clock its store uses.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Until {
    /// The session's expiry (the in-memory store compares the wall clock).
    Wall(SystemTime),
    /// The end of a local copy of an external store's session (the monotonic clock).
    Mono(Instant),
}

impl Until {
    fn passed(self) -> bool {
        match self {
            Until::Wall(at) => SystemTime::now() >= at,
            Until::Mono(at) => Instant::now() >= at,
        }
    }
}

struct Slot {
    stamp: Stamp,
    len: usize,
    value: [u8; MAX_VALUE],
    id: Id,
    /// Weak: a slot never keeps a session's user (claims, tokens) in memory after the
    /// store or its cache let go of it.
    user: Weak<LoggedIn>,
    until: Until,
}

thread_local! {
    static SLOTS_OF_THREAD: RefCell<[Option<Slot>; SLOTS]> =
        const { RefCell::new([const { None }; SLOTS]) };
}

/// The slot `value` maps to: its first bytes are a signature's start, random for every
/// session, so they spread sessions evenly.
fn index(value: &[u8]) -> Option<usize> {
    let head: [u8; MIN_VALUE] = value.get(..MIN_VALUE)?.try_into().ok()?;
    let mixed = u64::from_le_bytes(head).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Some((mixed >> 58) as usize % SLOTS)
}

/// The session and user `value` was filled with under `stamp`, if it still counts.
pub(crate) fn get(stamp: Stamp, value: &[u8]) -> Option<(Id, Arc<LoggedIn>)> {
    let index = index(value)?;
    SLOTS_OF_THREAD
        .try_with(|slots| {
            let slots = slots.try_borrow().ok()?;
            let slot = slots[index].as_ref()?;
            let known = slot.value.get(..slot.len)?;
            let hit = slot.stamp == stamp && same_bytes(known, value) && !slot.until.passed();
            if !hit {
                return None;
            }
            Some((slot.id, slot.user.upgrade()?))
        })
        .ok()
        .flatten()
}

/// Remembers that `value` (a session cookie value that verified) is session `id` with
/// `user` until `until`, under `stamp` (taken before the store was asked).
pub(crate) fn put(stamp: Stamp, value: &[u8], id: Id, user: &Arc<LoggedIn>, until: Until) {
    if value.len() > MAX_VALUE {
        return;
    }
    let Some(index) = index(value) else {
        return;
    };
    let mut copy = [0u8; MAX_VALUE];
    copy[..value.len()].copy_from_slice(value);
    let slot = Slot {
        stamp,
        len: value.len(),
        value: copy,
        id,
        user: Arc::downgrade(user),
        until,
    };
    // During the thread's teardown there is nothing to fill.
    let _ = SLOTS_OF_THREAD.try_with(|slots| {
        if let Ok(mut slots) = slots.try_borrow_mut() {
            slots[index] = Some(slot);
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::session::memory::tests::user_entry;

    fn user(id: Id) -> Arc<LoggedIn> {
        LoggedIn::decode(user_entry(1), id, crate::pending::now_unix() + 3600).unwrap()
    }

    const VALUE: &[u8] = b"Zm9vYmFyYmF6cXV4cXV1eHh5enp5eHg=session-id-part";

    fn later() -> Until {
        Until::Mono(Instant::now() + Duration::from_secs(60))
    }

    /// One layer's store and one session of it, its user held as the store would hold it.
    struct Fixture {
        owner: Owner,
        generation: Generation,
        id: Id,
        held: Arc<LoggedIn>,
    }

    impl Fixture {
        fn new() -> Self {
            let id = Id::default();
            Fixture {
                owner: Owner::unique(),
                generation: Generation::default(),
                id,
                held: user(id),
            }
        }

        fn stamp(&self) -> Stamp {
            Stamp::new(&self.owner, &self.generation)
        }

        fn put(&self, stamp: Stamp, value: &[u8], until: Until) {
            put(stamp, value, self.id, &self.held, until);
        }
    }

    #[test]
    fn a_filled_value_is_found_under_the_same_stamp_only() {
        let f = Fixture::new();
        let stamp = f.stamp();
        f.put(stamp, VALUE, later());
        let (found, _) = get(stamp, VALUE).expect("a hit");
        assert_eq!(found, f.id);

        f.generation.bump();
        let after = f.stamp();
        assert!(
            get(after, VALUE).is_none(),
            "a change to the store ends every slot"
        );
        let other = Stamp::new(&Owner::unique(), &Generation::default());
        assert!(
            get(other, VALUE).is_none(),
            "another layer's slots never count"
        );
    }

    #[test]
    fn a_fill_racing_with_a_change_never_counts() {
        let f = Fixture::new();
        // The stamp is taken before the store is asked; the session ends meanwhile.
        let before = f.stamp();
        f.generation.bump();
        f.put(before, VALUE, later());
        assert!(get(f.stamp(), VALUE).is_none());
    }

    #[test]
    fn only_the_exact_value_counts_and_only_until_its_end() {
        let f = Fixture::new();
        let stamp = f.stamp();
        f.put(stamp, VALUE, later());
        let mut changed = VALUE.to_vec();
        *changed.last_mut().unwrap() ^= 1;
        assert!(get(stamp, &changed).is_none(), "one byte off");
        assert!(get(stamp, &VALUE[..VALUE.len() - 1]).is_none(), "shorter");

        f.put(stamp, VALUE, Until::Mono(Instant::now()));
        assert!(get(stamp, VALUE).is_none(), "its end passed");
        let past = SystemTime::now() - Duration::from_secs(1);
        f.put(stamp, VALUE, Until::Wall(past));
        assert!(get(stamp, VALUE).is_none(), "its expiry passed");
    }

    #[test]
    fn a_slot_does_not_keep_its_user_alive() {
        let f = Fixture::new();
        let stamp = f.stamp();
        f.put(stamp, VALUE, later());
        assert!(get(stamp, VALUE).is_some());
        drop(f);
        assert!(get(stamp, VALUE).is_none(), "the store let go of the user");
    }

    #[test]
    fn values_too_short_or_too_long_are_not_kept() {
        let f = Fixture::new();
        let stamp = f.stamp();
        let long = [b'a'; MAX_VALUE + 1];
        f.put(stamp, &long, later());
        assert!(get(stamp, &long).is_none());
        f.put(stamp, b"short", later());
        assert!(get(stamp, b"short").is_none());
    }

    #[test]
    fn slots_are_per_thread() {
        let f = Fixture::new();
        let stamp = f.stamp();
        f.put(stamp, VALUE, later());
        let elsewhere = std::thread::spawn(move || get(stamp, VALUE).is_some())
            .join()
            .unwrap();
        assert!(!elsewhere);
        assert!(get(stamp, VALUE).is_some());
    }
}
