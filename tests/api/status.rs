//! Status sync (AZ-5): what `active: false`, a DELETE and reactivation from the identity
//! provider do to the Roster user, per connection; the events later modules follow; a
//! deactivated user cannot sign in.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{patch_ops, user_body, TestApp};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    async fn set_active(&self, id: &str, active: &str) {
        // Entra sends the boolean as a string.
        let r = self
            .patch(
                &format!("/Users/{id}"),
                patch_ops(json!([{"op": "Replace", "path": "active", "value": active}])),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }

    async fn user_status(&self, admin: &str, id: &str) -> Option<Value> {
        let r = self
            .admin(Method::GET, &format!("/users/{id}"), None, Some(admin))
            .await;
        (r.status == StatusCode::OK).then_some(r.body)
    }

    /// The org's events, once every event already written can be read: on PostgreSQL an event
    /// is returned only when all transactions older than its own have ended, and other tests'
    /// transactions run on the same server.
    async fn events(&self, admin: &str) -> Vec<(String, String)> {
        if self.is_postgres() {
            for _ in 0..1000 {
                if self.events_settled() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        self.events_now(admin).await
    }

    fn events_settled(&self) -> bool {
        #[derive(diesel::QueryableByName)]
        struct Settled {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            settled: bool,
        }
        self.query_row::<Settled>(
            "SELECT COALESCE(pg_snapshot_xmin(pg_current_snapshot()) > MAX(xid), TRUE) \
             AS settled FROM user_events",
        )
        .settled
    }

    async fn events_now(&self, admin: &str) -> Vec<(String, String)> {
        let r = self
            .admin(Method::GET, "/user-events", None, Some(admin))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["user_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    async fn set_policy(&self, admin: &str, policy: Value) -> Value {
        let r = self
            .admin(
                Method::PUT,
                &format!("/connections/{}/status-policy", self.connection_id),
                Some(policy),
                Some(admin),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
    }

    async fn try_sign_in(&self, email: &str) -> StatusCode {
        self.admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": email, "password": PASSWORD})),
            None,
        )
        .await
        .status
    }
}

#[tokio::test]
async fn az5_by_default_deactivation_deactivates_and_reactivation_reactivates() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let policy = app
        .admin(
            Method::GET,
            &format!("/connections/{}/status-policy", app.connection_id),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(
        policy.body,
        json!({"on_deactivate": "deactivate", "on_delete": "delete", "on_reactivate": "reactivate"})
    );

    // The directory user is also an account that signs in.
    let id = app.create_user("ada@example.com").await;
    app.seed_account("ada@example.com", "member", false);
    let accounts = app
        .admin(Method::GET, "/accounts", None, Some(&owner))
        .await;
    let account = accounts
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "ada@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .admin(
            Method::PATCH,
            &format!("/accounts/{account}"),
            Some(json!({"user_id": id})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user_id"], id.as_str());
    let session = app.sign_in("ada@example.com").await;
    assert_eq!(
        app.admin(Method::GET, "/me", None, Some(&session))
            .await
            .status,
        StatusCode::OK
    );

    app.set_active(&id, "False").await;
    let u = app.user_status(&owner, &id).await.unwrap();
    assert_eq!(u["status"], "deactivated");
    assert_eq!(
        u["fields"]["given_name"], "Ada",
        "a deactivated user keeps its profile"
    );
    // The right password gets told the account is disabled; a wrong one learns nothing.
    let r = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("disabled"),
        "{:?}",
        r.body
    );
    let wrong = json!({"email": "ada@example.com", "password": "not it at all"});
    let r = app
        .admin(Method::POST, "/sessions", Some(wrong), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.admin(Method::GET, "/me", None, Some(&session))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // The SCIM resource still shows what Entra sent.
    assert_eq!(app.get(&format!("/Users/{id}")).await.body["active"], false);
    // Sending the same state again changes nothing and records nothing.
    app.set_active(&id, "False").await;

    app.set_active(&id, "True").await;
    assert_eq!(
        app.user_status(&owner, &id).await.unwrap()["status"],
        "active"
    );
    assert_eq!(
        app.try_sign_in("ada@example.com").await,
        StatusCode::CREATED
    );
    assert_eq!(
        app.events(&owner).await,
        vec![
            ("user.deactivated".to_owned(), id.clone()),
            ("user.reactivated".to_owned(), id.clone())
        ]
    );
    // Events page on.
    let r = app
        .admin(Method::GET, "/user-events?after=1", None, Some(&owner))
        .await;
    assert_eq!(r.body["events"].as_array().unwrap().len(), 1);
    let last = r.body["next_after"].as_i64().unwrap();
    let r = app
        .admin(
            Method::GET,
            &format!("/user-events?after={last}"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(r.body["events"], json!([]));
    assert_eq!(r.body["next_after"], last);
}

#[tokio::test]
async fn az5_deactivation_can_delete_or_be_ignored_and_reactivation_can_be_refused() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let id = app.create_user("bob@example.com").await;

    app.set_policy(&owner, json!({"on_deactivate": "ignore"}))
        .await;
    app.set_active(&id, "False").await;
    assert_eq!(
        app.user_status(&owner, &id).await.unwrap()["status"],
        "active"
    );

    // Switching the policy applies it to the connection's users at once.
    app.set_policy(
        &owner,
        json!({"on_deactivate": "delete", "on_reactivate": "ignore"}),
    )
    .await;
    let u = app.user_status(&owner, &id).await.unwrap();
    assert_eq!(u["status"], "deleted");
    assert_eq!(
        u["fields"],
        json!({}),
        "a deleted user keeps no profile data"
    );

    // Reactivation is refused by this policy: the user stays deleted.
    app.set_active(&id, "True").await;
    assert_eq!(
        app.user_status(&owner, &id).await.unwrap()["status"],
        "deleted"
    );
    // Until the policy allows it.
    app.set_policy(&owner, json!({"on_reactivate": "reactivate"}))
        .await;
    let u = app.user_status(&owner, &id).await.unwrap();
    assert_eq!(u["status"], "active");
    assert_eq!(u["fields"]["given_name"], "Ada");
    let kinds: Vec<String> = app
        .events(&owner)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["user.deleted", "user.reactivated"]);

    for bad in [
        json!({"on_delete": "archive"}),
        json!({"on_deactivate": "deactivate", "extra": 1}),
    ] {
        let r = app
            .admin(
                Method::PUT,
                &format!("/connections/{}/status-policy", app.connection_id),
                Some(bad.clone()),
                Some(&owner),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let log = app
        .admin(
            Method::GET,
            "/audit-log?action=connection.status_policy.update",
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(log.body["entries"].as_array().unwrap().len(), 3);
    assert_eq!(
        log.body["entries"][2]["detail"]["after"]["on_deactivate"],
        "ignore"
    );
}

#[tokio::test]
async fn az5_a_delete_from_the_idp_deletes_or_deactivates_the_roster_user() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let gone = app.create_user("gone@example.com").await;
    assert_eq!(
        app.delete(&format!("/Users/{gone}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(app.user_status(&owner, &gone).await.is_none());

    app.set_policy(&owner, json!({"on_delete": "deactivate"}))
        .await;
    let kept = app.create_user("kept@example.com").await;
    assert_eq!(
        app.delete(&format!("/Users/{kept}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/Users/{kept}")).await.status,
        StatusCode::NOT_FOUND
    );
    let u = app.user_status(&owner, &kept).await.unwrap();
    assert_eq!(u["status"], "deactivated");
    assert_eq!(u["user_name"], "kept@example.com");
    assert_eq!(
        app.events(&owner).await,
        vec![
            ("user.deleted".to_owned(), gone),
            ("user.deactivated".to_owned(), kept)
        ]
    );
}

#[tokio::test]
async fn az5_a_user_unassigned_then_reassigned_is_the_same_roster_user() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    app.set_policy(&owner, json!({"on_delete": "deactivate"}))
        .await;
    let boss = app.create_user("boss@example.com").await;
    let mut ann = user_body("ann@example.com");
    ann[ENTERPRISE] = json!({"manager": {"value": boss}});
    let ann = app.post("/Users", ann).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Entra unassigns the manager (DELETE), then assigns them again (POST of the same person).
    assert_eq!(
        app.delete(&format!("/Users/{boss}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.user_status(&owner, &boss).await.unwrap()["status"],
        "deactivated"
    );
    let again = app.post("/Users", user_body("boss@example.com")).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert_eq!(
        again.body["id"],
        boss.as_str(),
        "the kept user, not a second one"
    );
    assert_eq!(
        app.user_status(&owner, &boss).await.unwrap()["status"],
        "active"
    );
    let ann_profile = app.user_status(&owner, &ann).await.unwrap();
    assert_eq!(ann_profile["fields"]["manager_id"], boss.as_str());
    let users = app.admin(Method::GET, "/users", None, Some(&owner)).await;
    assert_eq!(
        users.body["users"].as_array().unwrap().len(),
        2,
        "{:?}",
        users.body
    );
    assert_eq!(
        app.events(&owner).await,
        [
            ("user.deactivated".to_owned(), boss.clone()),
            ("user.reactivated".to_owned(), boss.clone())
        ]
    );

    // Renamed in the directory while unassigned: the externalId still names the person.
    app.delete(&format!("/Users/{boss}")).await;
    let mut renamed = user_body("b.oss@example.com");
    renamed["externalId"] = json!("ext-boss@example.com");
    let r = app.post("/Users", renamed).await;
    assert_eq!(r.body["id"], boss.as_str(), "{:?}", r.body);

    // The reactivation policy still decides: with `ignore` the person comes back deactivated.
    app.set_policy(
        &owner,
        json!({"on_delete": "deactivate", "on_reactivate": "ignore"}),
    )
    .await;
    app.delete(&format!("/Users/{boss}")).await;
    let r = app.post("/Users", user_body("b.oss@example.com")).await;
    assert_eq!(r.body["id"], boss.as_str());
    assert_eq!(
        app.user_status(&owner, &boss).await.unwrap()["status"],
        "deactivated"
    );
    // Someone new is someone new.
    let other = app.create_user("carol@example.com").await;
    assert_ne!(other, boss);
}

#[tokio::test]
async fn az5_deleting_a_connection_makes_the_admin_choose_what_happens_to_its_users() {
    for choice in ["keep", "deactivate", "delete"] {
        let app = TestApp::spawn_azure().await;
        let owner = app.owner().await;
        let ada = app.create_user("ada@example.com").await;
        let bob = app.create_user("bob@example.com").await;
        let path = format!("/connections/{}", app.connection_id);
        let r = app.admin(Method::DELETE, &path, None, Some(&owner)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().contains("2 users"),
            "{:?}",
            r.body
        );
        let wrong = format!("{path}?users=archive");
        let r = app.admin(Method::DELETE, &wrong, None, Some(&owner)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
        assert_eq!(
            app.get("/Users").await.status,
            StatusCode::OK,
            "still there"
        );

        let chosen = format!("{path}?users={choice}");
        let r = app.admin(Method::DELETE, &chosen, None, Some(&owner)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{choice}: {:?}", r.body);
        assert_eq!(app.get("/Users").await.status, StatusCode::UNAUTHORIZED);
        let statuses: Vec<Option<Value>> = vec![
            app.user_status(&owner, &ada).await,
            app.user_status(&owner, &bob).await,
        ];
        let events = app.events(&owner).await;
        match choice {
            "keep" => {
                for u in &statuses {
                    let u = u.as_ref().unwrap();
                    assert_eq!(u["status"], "active", "{u}");
                    assert!(u["connection_id"].is_null(), "{u}");
                }
                assert!(events.is_empty());
            }
            "deactivate" => {
                for u in &statuses {
                    assert_eq!(u.as_ref().unwrap()["status"], "deactivated");
                }
                assert_eq!(events.len(), 2);
                // The person comes back as the same Roster user through a new connection.
                let again = app.through_azure();
                let r = again
                    .post("/Users", crate::helpers::user_body("ada@example.com"))
                    .await;
                assert_eq!(r.body["id"], ada.as_str(), "{:?}", r.body);
                continue;
            }
            _ => {
                assert!(statuses.iter().all(Option::is_none), "{statuses:?}");
                let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
                assert_eq!(kinds, ["user.deleted", "user.deleted"]);
            }
        }
        let log = app
            .admin(
                Method::GET,
                "/audit-log?action=connection.delete",
                None,
                Some(&owner),
            )
            .await;
        assert_eq!(log.body["entries"][0]["detail"]["users"], choice);
    }
}

/// Events of writers that commit concurrently are read in the order they became visible, and
/// no writer waits for another: an event still uncommitted holds back the events after it
/// (which would otherwise be read first and then skipped by a reader paging on), and a status
/// change of another user meanwhile neither waits for it nor is lost.
#[tokio::test]
async fn az5_concurrent_status_changes_do_not_wait_and_are_read_without_gaps() {
    use diesel::Connection;
    use roster::storage::profiles::{insert_event, UserEvent};
    use roster::storage::AnyConnection;

    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let first = app.create_user("first@example.com").await;
    let second = app.create_user("second@example.com").await;
    if !app.is_postgres() {
        // SQLite commits one writer at a time; there is no concurrent transaction to hold.
        app.set_active(&second, "False").await;
        assert_eq!(
            app.events(&owner).await,
            vec![("user.deactivated".to_owned(), second)]
        );
        return;
    }

    // A transaction that has written an event for `first` and not yet committed.
    let (url, org, connection) = (
        app.database_url.clone(),
        app.org_id.clone(),
        app.connection_id.clone(),
    );
    let (written_tx, written) = std::sync::mpsc::channel();
    let (commit_tx, commit) = std::sync::mpsc::channel::<()>();
    let id = first.clone();
    let held = std::thread::spawn(move || {
        let mut c = AnyConnection::establish(&url).unwrap();
        c.transaction::<_, diesel::result::Error, _>(|c| {
            let event = UserEvent {
                org_id: &org,
                user_id: &id,
                kind: "user.deactivated",
                connection_id: Some(&connection),
                at: "2026-11-28T00:00:00Z",
            };
            insert_event(c, &event).unwrap();
            written_tx.send(()).unwrap();
            commit.recv().unwrap();
            Ok(())
        })
        .unwrap();
    });
    written.recv().unwrap();

    // Another user's status change commits meanwhile, without waiting.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        app.set_active(&second, "False"),
    )
    .await
    .expect("a status change waits for another user's transaction");
    // Its event comes after the uncommitted one's: it is held back, not returned first.
    assert_eq!(app.events_now(&owner).await, vec![]);

    commit_tx.send(()).unwrap();
    held.join().unwrap();
    assert_eq!(
        app.events(&owner).await,
        vec![
            ("user.deactivated".to_owned(), first),
            ("user.deactivated".to_owned(), second.clone())
        ]
    );
    // Paging on from the first returns the second, once.
    let page = app
        .admin(Method::GET, "/user-events?count=1", None, Some(&owner))
        .await;
    let after = page.body["next_after"].as_i64().unwrap();
    let rest = app
        .admin(
            Method::GET,
            &format!("/user-events?after={after}"),
            None,
            Some(&owner),
        )
        .await;
    let rest = rest.body["events"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["user_id"], second);
}
