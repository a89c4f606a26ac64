//! The EWS contacts connector against a fake Exchange Server speaking SOAP (issue 21): a
//! dedicated folder found again by its marker, creates stamped with Roster's key and adopted
//! after a lost answer, SyncFolderItems paging, ChangeKey conflicts, and Exchange's failures
//! sorted for the engine.

use std::time::Duration;

use roster::connectors::collection::{Applied, Change, Collection, Next, RemoteError, RemoteOp};
use roster::connectors::ews::client::{login, Ews, EwsAccess};
use roster::connectors::ews::contacts::EwsContacts;
use serde_json::{json, Value};

use crate::fake_ews::FakeEws;

fn ews(fake: &FakeEws, login: &str, password: &str, mailbox: Option<&str>) -> Ews {
    Ews::new(
        reqwest::Client::new(),
        EwsAccess {
            url: fake.url.clone(),
            login: login.into(),
            password: password.into(),
            mailbox: mailbox.map(str::to_owned),
            max_wait: Duration::from_secs(2),
        },
    )
}

async fn fake() -> (FakeEws, EwsContacts) {
    let fake = FakeEws::start().await;
    fake.user("ada", "ada-pass", "ada@example.com");
    fake.impersonator("CORP\\svc-roster", "svc-pass");
    let folder = EwsContacts::new(
        ews(
            &fake,
            &login("svc-roster", Some("CORP")),
            "svc-pass",
            Some("ada@example.com"),
        ),
        "Roster",
        "connection-1:1",
    );
    (fake, folder)
}

fn create(key: &str, fields: Value) -> RemoteOp {
    RemoteOp::Create {
        op_key: key.into(),
        fields,
    }
}

fn written(r: &Result<Applied, RemoteError>) -> roster::connectors::collection::RemoteItem {
    match r {
        Ok(Applied::Written(item)) => item.clone(),
        other => panic!("not written: {other:?}"),
    }
}

#[tokio::test]
async fn sy1_ews_contacts_go_both_ways_through_impersonation() {
    let (fake, folder) = fake().await;
    // The user already has a folder named Roster: Roster takes the next free name, and finds
    // its own again by its marker.
    fake.user_creates_folder("ada@example.com", "Roster");
    let container = folder.create_container().await.unwrap();
    assert_eq!(folder.create_container().await.unwrap(), container);
    assert_eq!(
        fake.folder_names("ada@example.com"),
        ["Roster", "Roster (2)"]
    );
    assert!(folder.container_exists(&container).await.unwrap());

    let ada = json!({"given_name": "Ada", "family_name": "Lovelace", "company": "Analytical",
        "emails": [{"address": "ada@example.com"}], "notes": "Likes <tea> & cake",
        "phones": [{"number": "+44 1", "kind": "work"}, {"number": "+44 2", "kind": "mobile"}],
        "addresses": [{"kind": "home", "city": "London"}], "birthday": "1815-12-10"});
    let out = folder
        .apply(
            &container,
            vec![
                create("k-ada", ada.clone()),
                create("k-bob", json!({"given_name": "Bob"})),
            ],
        )
        .await;
    let a = written(&out[0]);
    assert_eq!(a.fields, ada, "stored as sent");
    assert_eq!(a.op_key.as_deref(), Some("k-ada"));
    let stored = fake.contacts("ada@example.com", "Roster (2)");
    assert_eq!(stored.len(), 2);

    // A first round reads both; then only what changed.
    let first = folder.changes(&container, None).await.unwrap();
    assert_eq!(first.changes.len(), 2);
    let Next::Done(state) = first.next else {
        panic!("one page")
    };
    fake.user_writes(Some(&a.id), "", "", &[("GivenName", "Augusta Ada")]);
    let next = folder.changes(&container, Some(&state)).await.unwrap();
    match &next.changes[..] {
        [Change::Upsert(item)] => assert_eq!(item.fields["given_name"], "Augusta Ada"),
        other => panic!("{other:?}"),
    }

    // An update based on an older ChangeKey is a failed precondition; on the current one it
    // sets what Roster has and deletes the rest.
    let stale = folder
        .apply(
            &container,
            vec![RemoteOp::Update {
                id: a.id.clone(),
                change_key: a.change_key.clone(),
                fields: ada.clone(),
            }],
        )
        .await;
    assert_eq!(stale[0], Err(RemoteError::PreconditionFailed));
    let now = folder.get(&container, &a.id).await.unwrap().unwrap();
    let fields = json!({"given_name": "Ada", "emails": [{"address": "ada@example.com"}]});
    let updated = folder
        .apply(
            &container,
            vec![RemoteOp::Update {
                id: a.id.clone(),
                change_key: now.change_key.clone(),
                fields: fields.clone(),
            }],
        )
        .await;
    let u = written(&updated[0]);
    assert_eq!(u.fields, fields);
    assert_ne!(u.change_key, now.change_key);
    assert_eq!(
        folder
            .find_by_key(&container, "k-ada")
            .await
            .unwrap()
            .unwrap()
            .id,
        a.id
    );

    // Deleted in Outlook: removed in the next round; a delete of something gone is done.
    let b = written(&out[1]);
    fake.user_deletes(&b.id);
    let Next::Done(state) = next.next else {
        panic!()
    };
    let after = folder.changes(&container, Some(&state)).await.unwrap();
    assert!(
        after
            .changes
            .contains(&Change::Removed { id: b.id.clone() }),
        "{:?}",
        after.changes
    );
    assert_eq!(folder.get(&container, &b.id).await.unwrap(), None);
    let gone = folder
        .apply(
            &container,
            vec![
                RemoteOp::Delete { id: b.id.clone() },
                RemoteOp::Delete { id: a.id.clone() },
            ],
        )
        .await;
    assert_eq!(gone, vec![Ok(Applied::Deleted), Ok(Applied::Deleted)]);
    assert!(fake.contacts("ada@example.com", "Roster (2)").is_empty());
    folder.delete_container(&container).await.unwrap();
    assert!(!folder.container_exists(&container).await.unwrap());
}

#[tokio::test]
async fn sy1_ews_pages_waits_out_a_busy_server_and_never_duplicates_a_create_whose_answer_was_lost()
{
    let (fake, folder) = fake().await;
    let container = folder.create_container().await.unwrap();
    let many: Vec<RemoteOp> = (0..530)
        .map(|n| create(&format!("k{n}"), json!({"given_name": format!("P{n}")})))
        .collect();
    for chunk in many.chunks(100) {
        let out = folder.apply(&container, chunk.to_vec()).await;
        assert!(out.iter().all(|r| r.is_ok()));
    }
    // 512 changes a call at most: two pages.
    let first = folder.changes(&container, None).await.unwrap();
    assert_eq!(first.changes.len(), 512);
    let Next::Page(cursor) = first.next else {
        panic!("a second page")
    };
    let second = folder.changes(&container, Some(&cursor)).await.unwrap();
    assert_eq!(second.changes.len(), 18);
    let Next::Done(state) = second.next else {
        panic!("done")
    };

    // ErrorServerBusy: waited out within the call.
    fake.state.lock().unwrap().faults.busy = 2;
    assert!(folder
        .changes(&container, Some(&state))
        .await
        .unwrap()
        .changes
        .is_empty());
    // An invalid sync state starts a new round.
    fake.state.lock().unwrap().faults.invalid_sync_state = 1;
    assert_eq!(
        folder.changes(&container, Some(&state)).await.unwrap_err(),
        RemoteError::CursorExpired
    );

    // The create reached Exchange, its answer did not: found by its key, never sent twice.
    fake.state.lock().unwrap().faults.drop_after_write = 1;
    let lost = folder
        .apply(
            &container,
            vec![create("k-lost", json!({"given_name": "Lost"}))],
        )
        .await;
    assert!(
        matches!(lost[0], Err(RemoteError::Transient(_))),
        "{lost:?}"
    );
    let found = folder
        .find_by_key(&container, "k-lost")
        .await
        .unwrap()
        .expect("adopted by key");
    assert_eq!(found.fields["given_name"], "Lost");
    assert_eq!(fake.contacts("ada@example.com", "Roster").len(), 531);
}

#[tokio::test]
async fn sy5_exchange_refusals_are_told_apart() {
    let fake = FakeEws::start().await;
    fake.user("ada", "ada-pass", "ada@example.com");
    fake.user("bob", "bob-pass", "bob@example.com");
    fake.impersonator("svc", "svc-pass");
    let try_folder = |login: &str, password: &str, mailbox: Option<&str>| {
        EwsContacts::new(ews(&fake, login, password, mailbox), "Roster", "m")
    };
    let wrong = try_folder("svc", "nope", Some("ada@example.com"))
        .create_container()
        .await;
    assert!(
        matches!(wrong, Err(RemoteError::Unauthorized(_))),
        "{wrong:?}"
    );
    // Bob has no impersonation right: he reaches his own mailbox, not Ada's.
    let denied = try_folder("bob", "bob-pass", Some("ada@example.com"))
        .create_container()
        .await;
    assert!(
        matches!(&denied, Err(RemoteError::Forbidden(m)) if m.contains("ErrorImpersonateUserDenied")),
        "{denied:?}"
    );
    assert!(try_folder("bob", "bob-pass", None)
        .create_container()
        .await
        .is_ok());
    assert_eq!(fake.folder_names("bob@example.com"), ["Roster"]);
    let nobody = try_folder("svc", "svc-pass", Some("nobody@example.com"))
        .create_container()
        .await;
    assert!(
        matches!(nobody, Err(RemoteError::Forbidden(_))),
        "{nobody:?}"
    );
    // Own credentials of a user: only their own mailbox.
    let own = try_folder("ada", "ada-pass", None);
    let c = own.create_container().await.unwrap();
    let out = own
        .apply(&c, vec![create("k1", json!({"given_name": "Mine"}))])
        .await;
    assert!(out[0].is_ok());
    assert_eq!(fake.contacts("ada@example.com", "Roster").len(), 1);
    assert!(fake.contacts("bob@example.com", "Roster").is_empty());
}
