use super::*;

fn record(seconds: i64) -> Record {
    Record {
        id: Id::default(),
        data: HashMap::new(),
        expiry_date: OffsetDateTime::now_utc() + time::Duration::seconds(seconds),
    }
}

#[tokio::test]
async fn expired_records_are_not_loaded() {
    let store = MemoryStore::default();
    let mut live = record(60);
    let mut dead = record(-1);
    store.create(&mut live).await.unwrap();
    store.create(&mut dead).await.unwrap();
    assert!(store.load(&live.id).await.unwrap().is_some());
    assert!(store.load(&dead.id).await.unwrap().is_none());
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn create_never_overwrites_an_existing_record() {
    let store = MemoryStore::default();
    let mut first = record(60);
    store.create(&mut first).await.unwrap();
    let mut second = record(60);
    second.id = first.id;
    second.data.insert("x".into(), serde_json::json!(1));
    store.create(&mut second).await.unwrap();
    assert_ne!(first.id, second.id, "a colliding id is replaced");
    assert!(store
        .load(&first.id)
        .await
        .unwrap()
        .unwrap()
        .data
        .is_empty());
}

#[tokio::test]
async fn capacity_is_enforced_after_sweeping_expired_records() {
    let store = MemoryStore::with_capacity(2);
    store.create(&mut record(-1)).await.unwrap();
    store.create(&mut record(60)).await.unwrap();
    // The expired one is swept to make room.
    store.create(&mut record(60)).await.unwrap();
    assert!(store.create(&mut record(60)).await.is_err(), "full");
    assert_eq!(store.len(), 2);
}

fn pending(seconds: i64) -> Record {
    let mut r = record(seconds);
    r.data
        .insert(super::USED_STATE_KEY.into(), serde_json::json!({}));
    r
}

#[tokio::test]
async fn pending_logins_are_capped_oldest_first_and_never_crowd_out_sessions() {
    let store = MemoryStore::with_capacity(10).with_pending_capacity(3);
    let mut session = record(60);
    store.create(&mut session).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..50 {
        let r = pending(60);
        store.save(&r).await.unwrap();
        ids.push(r.id);
    }
    assert_eq!(store.pending_len(), 3);
    assert_eq!(store.len(), 4);
    for old in &ids[..47] {
        assert!(store.load(old).await.unwrap().is_none(), "oldest evicted");
    }
    for new in &ids[47..] {
        assert!(store.load(new).await.unwrap().is_some(), "newest kept");
    }
    assert!(
        store.load(&session.id).await.unwrap().is_some(),
        "sessions untouched"
    );
    // Consuming a pending login frees its place.
    store.delete(&ids[49]).await.unwrap();
    assert_eq!(store.pending_len(), 2);
}

#[tokio::test]
async fn delete_removes() {
    let store = MemoryStore::default();
    let mut r = record(60);
    store.create(&mut r).await.unwrap();
    store.delete(&r.id).await.unwrap();
    assert!(store.load(&r.id).await.unwrap().is_none());
    assert!(store.is_empty());
}

/// A stored user `user-{n}` (also for the local cache's tests).
pub(in crate::session) fn user_entry(n: usize) -> Arc<StoredUser> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256"}"#),
        b64(&format!(r#"{{"sub":"user-{n}","name":"N"}}"#)),
        b64("signature")
    );
    Arc::new(StoredUser::new("p", &token).unwrap())
}

fn in_a_minute() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::minutes(1)
}

#[tokio::test]
async fn users_are_parsed_once_and_shared_between_requests() {
    let store = MemoryStore::default();
    let id = store.create_user(user_entry(1), in_a_minute()).unwrap();
    let first = store.load_user(&id).unwrap();
    let second = store.load_user(&id).unwrap();
    assert!(Arc::ptr_eq(&first, &second), "the parsed user is kept");
    assert_eq!(store.lock().parsed_live, 1);
    // The trait still hands out a full record, which reads back the same user.
    let record = store.load(&id).await.unwrap().unwrap();
    let again: StoredUser = serde_json::from_value(record.data[super::USER_KEY].clone()).unwrap();
    assert!(again == **first.stored());
    store.delete(&id).await.unwrap();
    assert!(store.load_user(&id).is_none());
    assert_eq!(store.lock().parsed_live, 0);
}

#[tokio::test]
async fn parsed_users_are_capped_and_reparsed_when_needed() {
    let store = MemoryStore::default().with_parsed_capacity(2);
    let ids: Vec<Id> = (0..5)
        .map(|n| store.create_user(user_entry(n), in_a_minute()).unwrap())
        .collect();
    for id in &ids {
        assert!(store.load_user(id).is_some());
    }
    assert_eq!(store.lock().parsed_live, 2);
    // An evicted one still loads (parsed again) and the bound holds.
    let user = store.load_user(&ids[0]).unwrap();
    assert_eq!(user.stored().provider.as_ref(), "p");
    assert_eq!(store.lock().parsed_live, 2);
    let none = MemoryStore::default().with_parsed_capacity(0);
    let id = none.create_user(user_entry(9), in_a_minute()).unwrap();
    assert!(none.load_user(&id).is_some());
    assert_eq!(none.lock().parsed_live, 0);
}

#[tokio::test]
async fn a_user_saved_through_the_trait_is_kept_compact() {
    let store = MemoryStore::default();
    let user = user_entry(3);
    let mut record = Record {
        id: Id::default(),
        data: HashMap::from([(
            super::USER_KEY.to_owned(),
            serde_json::to_value(&*user).unwrap(),
        )]),
        expiry_date: in_a_minute(),
    };
    store.create(&mut record).await.unwrap();
    assert!(matches!(
        store.lock().entries[&record.id].data,
        Data::User { .. }
    ));
    assert!(*store.load_user(&record.id).unwrap().stored() == user);
}

#[tokio::test]
async fn a_refreshed_user_replaces_the_old_one_and_an_idle_session_slides() {
    let store = MemoryStore::default();
    let id = store.create_user(user_entry(1), in_a_minute()).unwrap();
    let before = store.load_user(&id).unwrap();
    assert!(store.replace_user(&id, user_entry(2)));
    let after = store.load_user(&id).unwrap();
    assert_eq!(after.claims()["sub"], "user-2");
    assert_eq!(after.expires_at(), before.expires_at(), "the expiry stays");
    assert_eq!(store.lock().parsed_live, 1);

    let later = in_a_minute() + time::Duration::minutes(5);
    assert!(store.set_expiry(&id, later));
    assert_eq!(
        after.expires_at(),
        later.unix_timestamp(),
        "the parsed user follows"
    );
    let inner = store.lock();
    assert_eq!(inner.entries[&id].expiry, SystemTime::from(later));
    assert_eq!(inner.expiries.len(), inner.entries.len());
    drop(inner);
    assert!(store.set_expiry(&id, OffsetDateTime::now_utc() - time::Duration::seconds(1)));
    assert!(
        store.load_user(&id).is_none(),
        "past its expiry the session is gone"
    );
    assert!(!store.set_expiry(&Id::default(), later));
    assert!(!store.replace_user(&Id::default(), user_entry(3)));
}

#[tokio::test]
async fn sweeping_removes_only_what_expired() {
    let store = MemoryStore::default();
    let mut dead = record(-1);
    store.create(&mut dead).await.unwrap();
    let live = store.create_user(user_entry(1), in_a_minute()).unwrap();
    // The next write sweeps the expired record and leaves the live ones.
    let mut other = record(60);
    store.create(&mut other).await.unwrap();
    let inner = store.lock();
    assert!(!inner.entries.contains_key(&dead.id));
    assert!(inner.entries.contains_key(&live) && inner.entries.contains_key(&other.id));
    assert_eq!(inner.expiries.len(), inner.entries.len());
}

#[tokio::test]
async fn every_change_to_a_session_ends_the_per_thread_fronts_slots() {
    use crate::session::front::{Owner, Stamp};
    let store = MemoryStore::default();
    let owner = Owner::unique();
    let stamp = || Stamp::new(&owner, store.generation());
    let id = store.create_user(user_entry(1), in_a_minute()).unwrap();

    let read = stamp();
    assert!(store.load_user_until(&id).is_some());
    assert_eq!(stamp(), read, "reading changes nothing");

    assert!(store.replace_user(&id, user_entry(2)));
    let refreshed = stamp();
    assert_ne!(refreshed, read, "a refreshed user");

    assert!(store.set_expiry(&id, in_a_minute() + time::Duration::minutes(5)));
    let slid = stamp();
    assert_ne!(slid, refreshed, "a slid expiry");

    store.delete(&id).await.unwrap();
    let deleted = stamp();
    assert_ne!(deleted, slid, "a deleted session");

    let expired = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    store.create_user(user_entry(2), expired).unwrap();
    let before_sweep = stamp();
    store.create(&mut record(60)).await.unwrap();
    let swept = stamp();
    assert_ne!(swept, before_sweep, "a session swept at expiry");

    store.create(&mut record(-1)).await.unwrap();
    let before_other = stamp();
    store.create(&mut record(60)).await.unwrap();
    assert_eq!(
        stamp(),
        before_other,
        "a record that is not a session ends no slot"
    );
}
