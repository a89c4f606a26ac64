//! One EWS endpoint as one account reaches it: basic authentication (`DOMAIN\user` or the
//! address), optionally acting for another mailbox by impersonation (`ExchangeImpersonation`
//! header), one SOAP request per operation. What Exchange answers is sorted into the sync
//! engine's failures: `ErrorServerBusy` waits its `BackOffMilliseconds` (a whole-request fault,
//! retried while the total wait fits) or is `Throttled` (one item), `ErrorInvalidSyncStateData`
//! starts a new round, a stale `ChangeKey` is a failed precondition, a refused impersonation or
//! mailbox is forbidden, a refused password unauthorized.

use std::time::Duration;

use super::soap::{envelope, Op};
use super::xml::Element;
use crate::connectors::collection::{RemoteError, RemoteResult};

/// Largest answer read (a page of 512 changes, ten whole items).
const MAX_ANSWER: usize = 32 * 1024 * 1024;
/// How long a busy server is waited for when it does not say.
const DEFAULT_BACK_OFF: Duration = Duration::from_secs(5);

/// How to reach one mailbox.
#[derive(Clone)]
pub struct EwsAccess {
    /// `https://host/EWS/Exchange.asmx`.
    pub url: String,
    /// `DOMAIN\user`, or the account's address.
    pub login: String,
    pub password: String,
    /// The mailbox acted for by impersonation (None: the login's own mailbox).
    pub mailbox: Option<String>,
    /// The longest total wait for a busy server within one call.
    pub max_wait: Duration,
}

impl std::fmt::Debug for EwsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsAccess")
            .field("url", &self.url)
            .field("login", &self.login)
            .field("password", &"***")
            .field("mailbox", &self.mailbox)
            .finish()
    }
}

/// The login basic authentication sends: `DOMAIN\\user` when a domain is given (the user name
/// being the part of an address before `@`), else the user name or address as given.
pub fn login(user: &str, domain: Option<&str>) -> String {
    match domain.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => {
            let name = user.split('@').next().unwrap_or(user);
            format!("{d}\\{name}")
        }
        None => user.to_owned(),
    }
}

#[derive(Clone)]
pub struct Ews {
    http: reqwest::Client,
    access: EwsAccess,
}

/// A response message's failure as the engine reads it.
pub fn classify(code: &str, message: &str, back_off: Option<Duration>) -> RemoteError {
    let what = if message.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {message}")
    };
    match code {
        "ErrorServerBusy" => RemoteError::Throttled(back_off.unwrap_or(DEFAULT_BACK_OFF)),
        "ErrorInvalidSyncStateData" => RemoteError::CursorExpired,
        "ErrorItemNotFound" | "ErrorFolderNotFound" | "ErrorSyncFolderNotFound" => {
            RemoteError::NotFound
        }
        "ErrorIrresolvableConflict" | "ErrorChangeKeyRequiredForWriteOperations" => {
            RemoteError::PreconditionFailed
        }
        "ErrorImpersonateUserDenied"
        | "ErrorImpersonationDenied"
        | "ErrorAccessDenied"
        | "ErrorNonExistentMailbox"
        | "ErrorMailboxLogonFailed" => RemoteError::Forbidden(what),
        "ErrorTimeoutExpired"
        | "ErrorInternalServerError"
        | "ErrorInternalServerTransientError"
        | "ErrorMailboxStoreUnavailable"
        | "ErrorMailboxMoveInProgress"
        | "ErrorConnectionFailed" => RemoteError::Transient(what),
        _ => RemoteError::Invalid(what),
    }
}

/// The `BackOffMilliseconds` an error carries in its `MessageXml`.
fn back_off(e: &Element) -> Option<Duration> {
    fn walk(e: &Element) -> Option<Duration> {
        if e.name == "Value" && e.attr("Name") == Some("BackOffMilliseconds") {
            return e.text.trim().parse::<u64>().ok().map(Duration::from_millis);
        }
        e.children.iter().find_map(walk)
    }
    walk(e)
}

/// One response message: its element when it succeeded (a warning counts), else its failure.
pub fn message(m: &Element) -> RemoteResult<Element> {
    if m.attr("ResponseClass") == Some("Error") {
        let code = m.text_of("ResponseCode").unwrap_or("ErrorUnknown");
        let text = m.text_of("MessageText").unwrap_or_default();
        return Err(classify(code, text, back_off(m)));
    }
    Ok(m.clone())
}

/// A SOAP fault: its EWS response code (in `detail`) and text.
fn fault(root: &Element) -> Option<RemoteError> {
    let f = root.find("Fault")?;
    let code = f.find("ResponseCode").map(|c| c.text.trim().to_owned());
    let text = f
        .find("Message")
        .or_else(|| f.child("faultstring"))
        .map(|m| m.text.trim().to_owned())
        .unwrap_or_default();
    Some(match code {
        Some(code) => classify(&code, &text, back_off(f)),
        None => RemoteError::Transient(format!("Exchange answered a SOAP fault: {text}")),
    })
}

impl Ews {
    pub fn new(http: reqwest::Client, access: EwsAccess) -> Self {
        Ews { http, access }
    }

    pub fn mailbox(&self) -> Option<&str> {
        self.access.mailbox.as_deref()
    }

    /// Signs in once to the login's own mailbox (a `GetFolder` of its root): whether Exchange
    /// takes the credentials. A login without a mailbox of its own answers `Forbidden`.
    pub async fn sign_in(&self) -> RemoteResult<()> {
        use super::soap::{FolderRef, FolderRefs, Shape};
        let probe = Op::GetFolder {
            shape: Shape::ids(),
            folders: FolderRefs {
                folders: vec![FolderRef::Distinguished {
                    id: "msgfolderroot",
                }],
            },
        };
        self.one(&probe).await.map(|_| ())
    }

    /// Sends one operation; its response messages, one per item it named, in order.
    pub async fn call(&self, op: &Op) -> RemoteResult<Vec<RemoteResult<Element>>> {
        let body = envelope(op, self.access.mailbox.as_deref()).map_err(RemoteError::Invalid)?;
        let mut waited = Duration::ZERO;
        loop {
            match self.once(&body).await {
                Err(RemoteError::Throttled(d)) if waited + d <= self.access.max_wait => {
                    tracing::info!(
                        wait_ms = d.as_millis() as u64,
                        "Exchange is busy; waiting as it asks"
                    );
                    tokio::time::sleep(d).await;
                    waited += d;
                }
                other => return other,
            }
        }
    }

    /// Sends an operation that names one thing; its one message.
    pub async fn one(&self, op: &Op) -> RemoteResult<Element> {
        self.call(op).await?.into_iter().next().unwrap_or_else(|| {
            Err(RemoteError::Transient(
                "Exchange answered no response message".into(),
            ))
        })
    }

    async fn once(&self, body: &str) -> RemoteResult<Vec<RemoteResult<Element>>> {
        let res = self
            .http
            .post(&self.access.url)
            .basic_auth(&self.access.login, Some(&self.access.password))
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| RemoteError::Transient(e.to_string()))?;
        let status = res.status().as_u16();
        if status == 401 {
            return Err(RemoteError::Unauthorized(
                "Exchange refused the user name or password".into(),
            ));
        }
        if status == 403 {
            return Err(RemoteError::Forbidden(
                "Exchange refused access to EWS".into(),
            ));
        }
        if res
            .content_length()
            .is_some_and(|n| n as usize > MAX_ANSWER)
        {
            return Err(RemoteError::Transient(
                "Exchange's answer is too large".into(),
            ));
        }
        let bytes = res
            .bytes()
            .await
            .map_err(|e| RemoteError::Transient(e.to_string()))?;
        if bytes.len() > MAX_ANSWER {
            return Err(RemoteError::Transient(
                "Exchange's answer is too large".into(),
            ));
        }
        let text = String::from_utf8_lossy(&bytes);
        let root = match Element::parse(&text) {
            Ok(root) => root,
            Err(e) if status >= 500 => {
                return Err(RemoteError::Transient(format!(
                    "Exchange answered {status}: {e}"
                )))
            }
            Err(e) => {
                return Err(RemoteError::Transient(format!(
                    "Exchange's answer is not XML: {e}"
                )))
            }
        };
        if let Some(e) = fault(&root) {
            return Err(e);
        }
        if status >= 400 {
            return Err(RemoteError::Transient(format!(
                "Exchange answered {status}"
            )));
        }
        let messages = root.find("ResponseMessages").ok_or_else(|| {
            RemoteError::Transient("Exchange's answer has no response messages".into())
        })?;
        Ok(messages.children.iter().map(message).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_failures_are_sorted_for_the_engine() {
        let busy = Element::parse(
            r#"<m:X ResponseClass="Error"><m:MessageText>busy</m:MessageText><m:ResponseCode>ErrorServerBusy</m:ResponseCode><m:MessageXml><t:Value Name="BackOffMilliseconds">1500</t:Value></m:MessageXml></m:X>"#,
        )
        .unwrap();
        assert_eq!(
            message(&busy),
            Err(RemoteError::Throttled(Duration::from_millis(1500)))
        );
        let ok = Element::parse(
            r#"<m:X ResponseClass="Warning"><m:ResponseCode>ErrorSomething</m:ResponseCode></m:X>"#,
        )
        .unwrap();
        assert!(message(&ok).is_ok());
        assert_eq!(
            classify("ErrorInvalidSyncStateData", "", None),
            RemoteError::CursorExpired
        );
        assert_eq!(
            classify("ErrorIrresolvableConflict", "", None),
            RemoteError::PreconditionFailed
        );
        assert!(matches!(
            classify("ErrorImpersonateUserDenied", "no", None),
            RemoteError::Forbidden(_)
        ));
        assert!(
            matches!(classify("ErrorSchemaValidation", "bad", None), RemoteError::Invalid(m) if m.contains("bad"))
        );
        let f = Element::parse(r#"<s:Envelope><s:Body><s:Fault><faultcode>a:ErrorServerBusy</faultcode><faultstring>The server cannot service this request right now.</faultstring><detail><e:ResponseCode>ErrorServerBusy</e:ResponseCode><e:MessageXml><t:Value Name="BackOffMilliseconds">250</t:Value></e:MessageXml></detail></s:Fault></s:Body></s:Envelope>"#).unwrap();
        assert_eq!(
            fault(&f),
            Some(RemoteError::Throttled(Duration::from_millis(250)))
        );
        assert_eq!(login("ada", Some("CORP")), "CORP\\ada");
        assert_eq!(login("ada@corp.example", Some("CORP")), "CORP\\ada");
        assert_eq!(login("ada@example.com", Some(" ")), "ada@example.com");
        let shown = format!(
            "{:?}",
            EwsAccess {
                url: "u".into(),
                login: "l".into(),
                password: "hunter2".into(),
                mailbox: None,
                max_wait: Duration::ZERO
            }
        );
        assert!(!shown.contains("hunter2"));
    }
}
