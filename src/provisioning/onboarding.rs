//! One-time passwords for users a connection creates (AZ-4): when the connection delivers them
//! and the user's email is on one of the org's verified domains, the new user gets an account
//! with a generated password that must be changed at first sign-in, and the password goes by
//! mail to the user or to the org's admins.

use serde_json::{Map, Value};

use super::profiles::ProfileMapper;
use crate::mail::Mailer;
use crate::org::{insert_account, NewAccount};
use crate::storage::accounts as account_store;
use crate::storage::mail as domain_store;
use crate::storage::{AnyConnection, StorageResult};

/// Who receives a new user's one-time password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    User,
    Admins,
}

impl Delivery {
    /// The stored setting: `none`, `user` or `admins`.
    pub fn parse(setting: &str) -> Option<Self> {
        match setting {
            "user" => Some(Delivery::User),
            "admins" => Some(Delivery::Admins),
            _ => None,
        }
    }
}

pub const DELIVERY_SETTINGS: &[&str] = &["none", "user", "admins"];

/// A one-time password made before the write's transaction (hashing takes tens of
/// milliseconds, which the transaction must not wait for).
pub struct Prepared {
    pub email: String,
    pub password: String,
    pub hash: String,
    pub delivery: Delivery,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("email", &self.email)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

/// The address a new user's one-time password is for: the profile's email, else a userName
/// that is an address.
pub fn user_email(
    mapper: &ProfileMapper,
    conn: &mut AnyConnection,
    connection_id: &str,
    doc: &Map<String, Value>,
) -> StorageResult<Option<(String, Delivery)>> {
    let Some(rules) = mapper.rules_of(conn, connection_id)? else {
        return Ok(None);
    };
    let Some(delivery) = rules.delivery else {
        return Ok(None);
    };
    let email = rules
        .mapping
        .apply(doc)
        .remove("email")
        .or_else(|| {
            doc.get("userName")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .filter(|e| e.contains('@'));
    Ok(email.map(|e| (e, delivery)))
}

/// Whether the address is on a domain the org verified.
pub fn on_verified_domain(
    conn: &mut AnyConnection,
    org_id: &str,
    email: &str,
) -> StorageResult<bool> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(false);
    };
    domain_store::is_verified(
        conn,
        org_id,
        &domain.trim().trim_end_matches('.').to_ascii_lowercase(),
    )
}

/// Inside the create transaction: the account and the mails. An address that already has an
/// account gets nothing new.
pub fn onboard(
    conn: &mut AnyConnection,
    mailer: &Mailer,
    org_id: &str,
    user_id: &str,
    sign_in_url: &str,
    otp: &Prepared,
) -> StorageResult<()> {
    if account_store::find_account_by_email(conn, &otp.email.to_lowercase())?.is_some() {
        tracing::info!(
            user_id,
            "no one-time password: the address already has an account"
        );
        return Ok(());
    }
    let new = NewAccount {
        email: otp.email.clone(),
        password: String::new(),
        display_name: None,
        role: Some("member".into()),
        profile_id: None,
        must_change_password: Some(true),
        user_id: None,
    };
    let account = match insert_account(conn, org_id, &new, otp.hash.clone()) {
        Ok(a) => a,
        Err(e) => {
            // An address the account rules refuse is skipped, not a failed provisioning.
            tracing::warn!(user_id, error = %e, "no one-time password: the account could not be made");
            return Ok(());
        }
    };
    // Linked once the write has made the user (this runs before its profile exists).
    account_store::update_account(
        conn,
        &account.id,
        &account_store::AccountChangeset {
            user_id: Some(Some(user_id.to_owned())),
            ..Default::default()
        },
    )?;
    let sign_in = format!(
        "Sign in at {sign_in_url} with the email address {email} and this one-time password:\n\n    {password}\n\nYou will be asked to choose your own password.",
        email = otp.email,
        password = otp.password
    );
    match otp.delivery {
        Delivery::User => mailer.enqueue(
            conn,
            org_id,
            "one_time_password",
            &otp.email,
            "Your Roster account",
            &format!("An account was created for you in Roster.\n\n{sign_in}\n"),
        )?,
        Delivery::Admins => {
            let admins: Vec<String> = account_store::list_accounts(conn, org_id)?
                .into_iter()
                .filter(|a| (a.role == "owner" || a.role == "admin") && !a.disabled)
                .map(|a| a.email)
                .collect();
            for admin in admins {
                mailer.enqueue(
                    conn,
                    org_id,
                    "one_time_password",
                    &admin,
                    &format!("One-time password for {}", otp.email),
                    &format!(
                        "A Roster account was created for {email}. Pass this on to them.\n\n{sign_in}\n",
                        email = otp.email
                    ),
                )?;
            }
        }
    }
    Ok(())
}
