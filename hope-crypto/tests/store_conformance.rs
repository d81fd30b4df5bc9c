//! One conformance suite for every key store: memory and SQLite.
#![allow(clippy::unwrap_used)]

use hope_crypto::acl::{Grant, Principal, Right, Subject};
use hope_crypto::shares::Share;
use hope_crypto::store::{KeyStore, MemoryKeyStore, NewKey, SqliteKeyStore};
use hope_crypto::{Error, KeyId};

fn share(id: KeyId, x: u8, generation: u32) -> Share {
    Share::from_parts(id, 1, 2, x, [x ^ generation as u8; 32]).with_generation(generation)
}

fn new_key(owner: &str, x: u8, grants: Vec<Grant>) -> NewKey {
    let (id, salt) = KeyId::bound_to(owner).unwrap();
    NewKey {
        share: share(id, x, 1),
        salt,
        grants,
    }
}

fn get_one(store: &dyn KeyStore, who: &Principal, id: &KeyId) -> hope_crypto::Result<Vec<Share>> {
    store.get(who, std::slice::from_ref(id)).unwrap().remove(0)
}

fn conformance(store: &dyn KeyStore) {
    let alice = Principal::user("alice");
    let bob = Principal::user("bob");
    let carol = Principal::user("carol").in_group("physics");
    let mallory = Principal::user("mallory").in_group("radiology");

    // Registration makes the caller owner; a batch is one call.
    let k1 = new_key("alice", 1, vec![Grant::user("bob", Right::Get)]);
    let k2 = new_key("alice", 1, vec![]);
    let (id1, id2) = (k1.share.key_id, k2.share.key_id);
    let out = store.create(&alice, vec![k1.clone(), k2.clone()]).unwrap();
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert_eq!(
        get_one(store, &alice, &id1).unwrap(),
        vec![share(id1, 1, 1)]
    );
    assert_eq!(store.info(&alice, &id1).unwrap().acl.owner, "alice");
    // A retry of the same registration is fine; another share under the id is a conflict.
    assert!(store.create(&alice, vec![k1.clone()]).unwrap()[0].is_ok());
    let mut other = k1.clone();
    other.share = share(id1, 9, 1);
    assert!(matches!(
        store.create(&alice, vec![other]).unwrap()[0],
        Err(Error::Conflict { .. })
    ));

    // Nobody registers an id bound to someone else (the squatting of a replaced server).
    let squat = NewKey {
        share: share(id1, 3, 1),
        salt: k1.salt,
        grants: vec![Grant::user("mallory", Right::Admin)],
    };
    assert!(matches!(
        store.create(&mallory, vec![squat]).unwrap()[0],
        Err(Error::AccessDenied {
            action: "create",
            ..
        })
    ));
    let (unbound, _) = KeyId::bound_to("someone").unwrap();
    assert!(matches!(
        store
            .create(
                &mallory,
                vec![NewKey {
                    share: share(unbound, 1, 1),
                    salt: [0; 16],
                    grants: vec![]
                }]
            )
            .unwrap()[0],
        Err(Error::AccessDenied { .. })
    ));

    // Get grants; one result per key, in order.
    let both = store.get(&bob, &[id1, id2]).unwrap();
    assert!(both[0].is_ok());
    assert!(matches!(
        both[1],
        Err(Error::AccessDenied { action: "get", .. })
    ));
    assert!(matches!(
        get_one(store, &mallory, &id1),
        Err(Error::AccessDenied { .. })
    ));
    assert!(matches!(
        get_one(store, &carol, &id1),
        Err(Error::AccessDenied { .. })
    ));
    assert!(matches!(
        get_one(store, &alice, &KeyId([0xEE; 16])),
        Err(Error::NotFound { .. })
    ));

    // Only admins stage, commit, change the ACL, read it or delete.
    assert!(matches!(
        store.stage(&bob, share(id1, 1, 2), None, vec![]),
        Err(Error::AccessDenied {
            action: "stage",
            ..
        })
    ));
    assert!(matches!(
        store.delete(&bob, &id1),
        Err(Error::AccessDenied {
            action: "delete",
            ..
        })
    ));
    assert!(matches!(
        store.change_acl(&bob, &id1, vec![], vec![]),
        Err(Error::AccessDenied { .. })
    ));
    assert!(matches!(
        store.info(&bob, &id1),
        Err(Error::AccessDenied { .. })
    ));

    // ACLs change on the server, by adding and removing: each change bumps the version.
    let v0 = store.info(&alice, &id1).unwrap().acl_version;
    let info = store
        .change_acl(
            &alice,
            &id1,
            vec![Grant::group("physics", Right::Admin)],
            vec![Subject::User("bob".into())],
        )
        .unwrap();
    assert_eq!(info.acl_version, v0 + 1);
    assert!(get_one(store, &carol, &id1).is_ok());
    assert!(
        matches!(get_one(store, &bob, &id1), Err(Error::AccessDenied { .. })),
        "bob's grant was removed"
    );
    // Removing an absent grant and adding an existing one change nothing but the version.
    let again = store
        .change_acl(
            &carol,
            &id1,
            vec![Grant::group("physics", Right::Admin)],
            vec![Subject::User("bob".into())],
        )
        .unwrap();
    assert_eq!(again.acl.grants, info.acl.grants);
    assert_eq!(again.acl.owner, "alice", "the owner stays");

    // Two-phase re-sharing: a staged share sits beside the active one until committed.
    store.stage(&alice, share(id1, 1, 2), None, vec![]).unwrap();
    assert_eq!(
        get_one(store, &alice, &id1).unwrap(),
        vec![share(id1, 1, 1), share(id1, 1, 2)]
    );
    assert!(matches!(
        store.commit(&alice, &id1, 3),
        Err(Error::Conflict { .. })
    ));
    store.commit(&alice, &id1, 2).unwrap();
    store.commit(&alice, &id1, 2).unwrap(); // done already: fine
    assert_eq!(
        get_one(store, &alice, &id1).unwrap(),
        vec![share(id1, 1, 2)]
    );
    // An older generation is never staged over a newer active one.
    assert!(matches!(
        store.stage(&alice, share(id1, 1, 2), None, vec![]),
        Err(Error::Conflict { .. })
    ));
    // Abort drops a staged share, never the active one.
    store.stage(&alice, share(id1, 1, 3), None, vec![]).unwrap();
    store.abort(&alice, &id1, 3).unwrap();
    store.abort(&alice, &id1, 2).unwrap();
    assert_eq!(
        get_one(store, &alice, &id1).unwrap(),
        vec![share(id1, 1, 2)]
    );
    let info = store.info(&alice, &id1).unwrap();
    assert_eq!((info.generation, info.staged_generation), (Some(2), None));

    // A server that lacks a key takes a staged share only from the owner the id is bound to.
    let k3 = new_key("alice", 2, vec![]);
    let id3 = k3.share.key_id;
    assert!(matches!(
        store.stage(&mallory, share(id3, 2, 2), Some(k3.salt), vec![]),
        Err(Error::AccessDenied { .. })
    ));
    assert!(matches!(
        store.stage(&alice, share(id3, 2, 2), None, vec![]),
        Err(Error::AccessDenied { .. })
    ));
    store
        .stage(
            &alice,
            share(id3, 2, 2),
            Some(k3.salt),
            vec![Grant::user("bob", Right::Get)],
        )
        .unwrap();
    assert_eq!(get_one(store, &bob, &id3).unwrap(), vec![share(id3, 2, 2)]);
    store.commit(&alice, &id3, 2).unwrap();
    assert_eq!(store.info(&alice, &id3).unwrap().generation, Some(2));
    // Aborting a key that only a staging created removes it.
    let k4 = new_key("alice", 2, vec![]);
    store
        .stage(&alice, share(k4.share.key_id, 2, 5), Some(k4.salt), vec![])
        .unwrap();
    store.abort(&alice, &k4.share.key_id, 5).unwrap();
    assert!(matches!(
        get_one(store, &alice, &k4.share.key_id),
        Err(Error::NotFound { .. })
    ));

    // Delete, then nothing is found; the id stays bound to its owner.
    store.delete(&alice, &id1).unwrap();
    assert!(matches!(
        get_one(store, &alice, &id1),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.delete(&alice, &id1),
        Err(Error::NotFound { .. })
    ));
    assert!(store.create(&alice, vec![k1]).unwrap()[0].is_ok());
}

#[test]
fn memory_store_conforms() {
    conformance(&MemoryKeyStore::new());
}

#[test]
fn sqlite_store_conforms_and_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&SqliteKeyStore::open(dir.path()).unwrap());
    // Reopened, the store holds what was written.
    let again = SqliteKeyStore::open(dir.path()).unwrap();
    let alice = Principal::user("alice");
    let k = new_key("alice", 7, vec![]);
    let id = k.share.key_id;
    again.create(&alice, vec![k]).unwrap();
    drop(again);
    let third = SqliteKeyStore::open(dir.path()).unwrap();
    assert_eq!(get_one(&third, &alice, &id).unwrap(), vec![share(id, 7, 1)]);
}

#[test]
fn the_directory_store_of_old_is_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let id = KeyId([4; 16]);
    let legacy = serde_json::json!({
        "share": Share::from_parts(id, 1, 2, 3, [5; 32]),
        "acl": { "owner": "alice", "grants": [] },
    });
    std::fs::write(dir.path().join(format!("{id}.json")), legacy.to_string()).unwrap();
    let store = SqliteKeyStore::open(dir.path()).unwrap();
    let alice = Principal::user("alice");
    assert_eq!(
        get_one(&store, &alice, &id).unwrap(),
        vec![Share::from_parts(id, 1, 2, 3, [5; 32])]
    );
    assert!(!dir.path().join(format!("{id}.json")).exists());
    assert_eq!(store.info(&alice, &id).unwrap().salt, None);
    // A corrupt record names its file and is left for an operator.
    let bad = KeyId([6; 16]);
    std::fs::write(dir.path().join(format!("{bad}.json")), b"{not json").unwrap();
    let err = SqliteKeyStore::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains(&format!("{bad}.json")), "{err}");
}
