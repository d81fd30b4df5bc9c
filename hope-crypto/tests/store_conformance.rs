//! One conformance suite for every key store: memory and directory.
#![allow(clippy::unwrap_used)]

use hope_crypto::acl::{Grant, Principal, Right};
use hope_crypto::shares::Share;
use hope_crypto::store::{DirKeyStore, KeyStore, MemoryKeyStore};
use hope_crypto::{Error, KeyId};

fn share(id: u8, x: u8) -> Share {
    Share::from_parts(KeyId([id; 16]), 1, 2, x, [id ^ x; 32])
}

fn conformance(store: &dyn KeyStore) {
    let alice = Principal::user("alice");
    let bob = Principal::user("bob");
    let carol = Principal::user("carol").in_group("physics");
    let mallory = Principal::user("mallory").in_group("radiology");
    let k1 = KeyId([1; 16]);

    // Registration makes the caller owner.
    store
        .put_share(&alice, share(1, 1), vec![Grant::user("bob", Right::Get)])
        .unwrap();
    assert_eq!(store.get_share(&alice, &k1).unwrap(), share(1, 1));
    assert_eq!(store.acl(&alice, &k1).unwrap().owner, "alice");

    // Get grants.
    assert_eq!(store.get_share(&bob, &k1).unwrap(), share(1, 1));
    assert!(matches!(
        store.get_share(&mallory, &k1),
        Err(Error::AccessDenied { action: "get", .. })
    ));
    assert!(matches!(
        store.get_share(&carol, &k1),
        Err(Error::AccessDenied { .. })
    ));

    // Only admins replace, delete or change the ACL.
    assert!(matches!(
        store.put_share(&bob, share(1, 9), vec![]),
        Err(Error::AccessDenied { action: "put", .. })
    ));
    assert!(matches!(
        store.delete(&bob, &k1),
        Err(Error::AccessDenied {
            action: "delete",
            ..
        })
    ));
    assert!(matches!(
        store.set_grants(&bob, &k1, vec![]),
        Err(Error::AccessDenied { .. })
    ));
    assert!(matches!(
        store.acl(&bob, &k1),
        Err(Error::AccessDenied { .. })
    ));
    assert_eq!(
        store.get_share(&alice, &k1).unwrap(),
        share(1, 1),
        "a refused put changes nothing"
    );

    // Group grants; admin implies get; revocation takes effect at once.
    store
        .set_grants(&alice, &k1, vec![Grant::group("physics", Right::Admin)])
        .unwrap();
    assert!(store.get_share(&carol, &k1).is_ok());
    assert!(
        matches!(store.get_share(&bob, &k1), Err(Error::AccessDenied { .. })),
        "bob's grant was replaced"
    );
    store.set_grants(&carol, &k1, vec![]).unwrap();
    assert!(matches!(
        store.get_share(&carol, &k1),
        Err(Error::AccessDenied { .. })
    ));
    assert_eq!(
        store.acl(&alice, &k1).unwrap().owner,
        "alice",
        "the owner stays"
    );

    // The owner replaces the share; the owner stays owner.
    store.put_share(&alice, share(1, 2), vec![]).unwrap();
    assert_eq!(store.get_share(&alice, &k1).unwrap(), share(1, 2));

    // Keys are independent.
    let k2 = KeyId([2; 16]);
    store.put_share(&mallory, share(2, 1), vec![]).unwrap();
    assert!(matches!(
        store.get_share(&alice, &k2),
        Err(Error::AccessDenied { .. })
    ));

    // Delete, then nothing is found.
    store.delete(&alice, &k1).unwrap();
    assert!(matches!(
        store.get_share(&alice, &k1),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.delete(&alice, &k1),
        Err(Error::NotFound { .. })
    ));
    // After deletion the id is free again.
    store.put_share(&bob, share(1, 3), vec![]).unwrap();
    assert_eq!(store.acl(&bob, &k1).unwrap().owner, "bob");
}

#[test]
fn memory_store_conforms() {
    conformance(&MemoryKeyStore::new());
}

#[test]
fn dir_store_conforms_and_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&DirKeyStore::open(dir.path()).unwrap());
    // Reopened, the store holds what was written.
    let again = DirKeyStore::open(dir.path()).unwrap();
    assert_eq!(
        again
            .get_share(&Principal::user("bob"), &KeyId([1; 16]))
            .unwrap(),
        share(1, 3)
    );
    // Nothing but share records is left behind (no temporary files).
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            format!("{}.json", KeyId([1; 16])),
            format!("{}.json", KeyId([2; 16]))
        ]
    );
}

#[test]
fn dir_store_reports_a_corrupt_record_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirKeyStore::open(dir.path()).unwrap();
    let id = KeyId([4; 16]);
    std::fs::write(dir.path().join(format!("{id}.json")), b"{not json").unwrap();
    let err = store
        .get_share(&Principal::user("a"), &id)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{id}.json")), "{err}");
}
