//! One-time passwords for users a connection creates (AZ-4): when the connection delivers them
//! and the user's email is on one of the org's verified domains, the new user gets an account
//! with a generated password that must be changed at first sign-in, and the password goes by
//! mail to the user or to the org's admins.

use serde_json::{Map, Value};

use super::now;
use super::profiles::ProfileMapper;
use crate::mail::{Mailer, SealedBody};
use crate::storage::accounts::{self as account_store, AccountRow};
use crate::storage::mail as domain_store;
use crate::storage::{AnyConnection, StorageResult};

/// Who receives a new user's one-time password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    User,
    Admins,
}

impl Delivery {
    /// The outbox kind of the mail: one addressed to the user is readable by no one else.
    pub fn mail_kind(self) -> &'static str {
        match self {
            Delivery::User => crate::mail::ONE_TIME_PASSWORD_KIND,
            Delivery::Admins => "one_time_password_for_admins",
        }
    }

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

/// A one-time password made before the write's transaction: hashing takes tens of
/// milliseconds and sealing the mail is crypto too; the transaction waits for neither.
pub struct Prepared {
    pub email: String,
    pub hash: String,
    pub delivery: Delivery,
    pub subject: String,
    /// The mail, which holds the password, sealed.
    pub body: SealedBody,
    /// When the password stops working.
    pub expires: String,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("email", &self.email)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

/// The subject and text of the mail carrying `password` for `email`.
pub fn mail_text(
    delivery: Delivery,
    email: &str,
    password: &str,
    sign_in_url: &str,
    hours: u64,
) -> (String, String) {
    let sign_in = format!(
        "Sign in at {sign_in_url} with the email address {email} and this one-time password:\n\n    {password}\n\nYou will be asked to choose your own password. The one-time password works for {hours} hours."
    );
    match delivery {
        Delivery::User => (
            "Your Roster account".into(),
            format!("An account was created for you in Roster.\n\n{sign_in}\n"),
        ),
        Delivery::Admins => (
            format!("One-time password for {email}"),
            format!(
                "A Roster account was created for {email}. Pass this on to them.\n\n{sign_in}\n"
            ),
        ),
    }
}

/// The path of the sign-in page with `email` filled in.
pub fn sign_in_path(email: &str) -> String {
    let query = serde_urlencoded::to_string([("email", email)]).unwrap_or_default();
    format!("/sign-in?{query}")
}

/// The address a new user's one-time password is for (the profile's email, else a userName
/// that is an address) and who receives it, when the connection delivers them.
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

/// Inside the create transaction: the account (a member with the Standard profile, linked to
/// the user, who must choose a new password) and the mails. An address that already has an
/// account gets nothing.
pub fn onboard(
    conn: &mut AnyConnection,
    mailer: &Mailer,
    org_id: &str,
    user_id: &str,
    otp: &Prepared,
) -> StorageResult<()> {
    let at = now();
    let account = AccountRow {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org_id.to_owned(),
        email: otp.email.clone(),
        email_norm: otp.email.to_lowercase(),
        display_name: None,
        password_hash: otp.hash.clone(),
        role: "member".into(),
        profile_id: format!("{org_id}:standard"),
        disabled: false,
        must_change_password: true,
        created: at.clone(),
        updated: at,
        user_id: Some(user_id.to_owned()),
        password_expires: Some(otp.expires.clone()),
    };
    if !account_store::insert_account_if_new(conn, &account)? {
        tracing::info!(
            user_id,
            "no one-time password: the address already has an account"
        );
        return Ok(());
    }
    let recipients = match otp.delivery {
        Delivery::User => vec![otp.email.clone()],
        Delivery::Admins => account_store::admin_emails(conn, org_id)?,
    };
    for to in recipients {
        mailer.enqueue(
            conn,
            org_id,
            otp.delivery.mail_kind(),
            &to,
            &otp.subject,
            &otp.body,
        )?;
    }
    Ok(())
}
