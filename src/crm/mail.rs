//! Mails in Roster's store (SY-6's mail sync, the seed's "related list"): headers, the text
//! body, the HTML body sanitised with `ammonia`, and attachment names and sizes (never their
//! content). A mail's content is fixed once stored; only whether it was read changes. MIME is
//! read with `mail-parser` and written with `lettre`'s builder. Pure: no I/O.

use serde::{Deserialize, Serialize};

use super::fields::Invalid;

/// The folders a mail sits in.
pub const FOLDERS: [&str; 2] = ["inbox", "sent"];
/// Longest text or HTML body kept, in bytes; a longer one is cut at a character boundary.
pub const MAX_BODY: usize = 256 * 1024;
/// The fields a written mail may change; the rest is its content.
pub const MUTABLE: [&str; 1] = ["is_read"];

fn invalid<T>(m: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(m.into()))
}

/// A sender or recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailAddress {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An attachment's name and size; Roster does not keep its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub name: String,
    /// Bytes.
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    /// inbox (received) or sent.
    pub folder: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<MailAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<MailAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<MailAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<MailAddress>,
    /// When it was sent (received, for the inbox), as an RFC 3339 UTC time.
    pub date: String,
    /// The `Message-ID` header, without angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Sanitised: no scripts, no event handlers, no remote forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub is_read: bool,
}

/// An RFC 3339 time as Roster stores a mail's date (UTC, seconds).
pub fn utc(s: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
}

/// HTML as Roster keeps it: `ammonia`'s defaults (no scripts, styles, event handlers or forms;
/// links get `rel="noopener noreferrer"`).
pub fn sanitize(html: &str) -> String {
    ammonia::clean(html)
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Mail {
    pub fn check(&mut self) -> Result<(), Invalid> {
        if !FOLDERS.contains(&self.folder.as_str()) {
            return invalid("folder is inbox or sent");
        }
        self.date = utc(&self.date)
            .ok_or_else(|| Invalid("date is an RFC 3339 time, e.g. 2027-01-15T09:30:00Z".into()))?;
        if self
            .subject
            .as_ref()
            .is_some_and(|s| s.chars().count() > 998)
        {
            return invalid("subject has more than 998 characters");
        }
        let recipients = self.to.len() + self.cc.len() + self.bcc.len();
        if recipients > 500 {
            return invalid("a mail has at most 500 recipients");
        }
        for a in self
            .from
            .iter_mut()
            .chain(&mut self.to)
            .chain(&mut self.cc)
            .chain(&mut self.bcc)
        {
            a.address = a.address.trim().to_owned();
            if a.address.is_empty() || a.address.len() > 320 {
                return invalid(format!("'{}' is not an address", a.address));
            }
            a.name = a
                .name
                .take()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty());
            if a.name.as_ref().is_some_and(|n| n.chars().count() > 256) {
                return invalid("a name has at most 256 characters");
            }
        }
        for (name, body) in [("text", &self.text), ("html", &self.html)] {
            if body.as_ref().is_some_and(|b| b.len() > MAX_BODY) {
                return invalid(format!("{name} has more than {MAX_BODY} bytes"));
            }
        }
        if self.attachments.len() > 250 {
            return invalid("a mail has at most 250 attachments");
        }
        if self.attachments.iter().any(|a| a.size < 0) {
            return invalid("an attachment's size is 0 or more bytes");
        }
        if let Some(html) = &self.html {
            self.html = Some(sanitize(html));
        }
        Ok(())
    }

    /// Where it sorts: its date as a UTC local time, like the other kinds' sort keys.
    pub fn sort_key(&self) -> String {
        self.date.trim_end_matches('Z').to_owned()
    }

    /// Every address it names (from, to, cc, bcc), lower-cased, once each.
    pub fn addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .from
            .iter()
            .chain(&self.to)
            .chain(&self.cc)
            .chain(&self.bcc)
            .map(|a| a.address.trim().to_lowercase())
            .filter(|a| !a.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The addresses a stored mail's fields name (for the related-list index).
pub fn addresses_of(data: &str) -> Vec<String> {
    serde_json::from_str::<Mail>(data)
        .map(|m| m.addresses())
        .unwrap_or_default()
}

/// Whether `new` changes only what a stored mail may change.
pub fn same_content(old: &serde_json::Value, new: &serde_json::Value) -> bool {
    let strip = |v: &serde_json::Value| {
        let mut m = v.as_object().cloned().unwrap_or_default();
        for k in MUTABLE {
            m.remove(k);
        }
        m
    };
    strip(old) == strip(new)
}

fn addr(a: &mail_parser::Addr) -> Option<MailAddress> {
    let address = a.address()?.trim();
    (!address.is_empty()).then(|| MailAddress {
        address: address.to_owned(),
        name: a
            .name()
            .map(str::trim)
            .filter(|n| !n.is_empty() && *n != address)
            .map(str::to_owned),
    })
}

fn list(a: Option<&mail_parser::Address>) -> Vec<MailAddress> {
    a.map(|a| a.iter().filter_map(addr).collect())
        .unwrap_or_default()
}

/// Roster's mail fields for a MIME message, in `folder`; `received` is the date when the
/// message has none. None when it is not a message.
pub fn from_mime(raw: &[u8], folder: &str, received: Option<&str>) -> Option<Mail> {
    use mail_parser::MimeHeaders;
    let m = mail_parser::MessageParser::default().parse(raw)?;
    let date = m
        .date()
        .map(|d| d.to_rfc3339())
        .and_then(|d| utc(&d))
        .or_else(|| received.and_then(utc))?;
    let html = m
        .html_part(0)
        .filter(|p| matches!(p.body, mail_parser::PartType::Html(_)))
        .and_then(|_| m.body_html(0))
        .map(|h| cut(&h, MAX_BODY).to_owned());
    // Text with plain line ends, as the other sources give it.
    let text = m
        .body_text(0)
        .map(|t| t.replace("\r\n", "\n"))
        .map(|t| cut(t.trim_end(), MAX_BODY).to_owned())
        .filter(|t| !t.is_empty());
    let attachments = m
        .attachments()
        .map(|p| Attachment {
            name: p
                .attachment_name()
                .map(str::to_owned)
                .unwrap_or_else(|| "attachment".into()),
            size: p.len() as i64,
            content_type: p.content_type().map(|c| match c.subtype() {
                Some(sub) => format!("{}/{}", c.ctype(), sub),
                None => c.ctype().to_owned(),
            }),
        })
        .collect();
    let in_reply_to = m.in_reply_to().as_text().map(str::to_owned);
    Some(Mail {
        folder: folder.to_owned(),
        subject: m.subject().map(str::to_owned),
        from: m.from().and_then(|a| a.first()).and_then(addr),
        to: list(m.to()),
        cc: list(m.cc()),
        bcc: list(m.bcc()),
        date,
        message_id: m.message_id().map(str::to_owned),
        in_reply_to,
        text,
        // Sanitised when stored (`Mail::check`), once.
        html,
        attachments,
        is_read: false,
    })
}

fn mailbox(a: &MailAddress) -> Result<lettre::message::Mailbox, String> {
    let email = a
        .address
        .parse()
        .map_err(|_| format!("'{}' is not an address a mail can carry", a.address))?;
    Ok(lettre::message::Mailbox::new(a.name.clone(), email))
}

/// A MIME message for a mail's fields, to save in a mailbox (never to send). Attachments are
/// not carried: Roster keeps only their names and sizes.
pub fn to_mime(mail: &Mail) -> Result<Vec<u8>, String> {
    use lettre::message::{header::ContentType, MultiPart, SinglePart};
    let from = mail
        .from
        .as_ref()
        .ok_or("a mail without a sender cannot be saved in a mailbox")?;
    let mut b = lettre::Message::builder()
        .from(mailbox(from)?)
        .subject(mail.subject.clone().unwrap_or_default());
    for a in &mail.to {
        b = b.to(mailbox(a)?);
    }
    for a in &mail.cc {
        b = b.cc(mailbox(a)?);
    }
    for a in &mail.bcc {
        b = b.bcc(mailbox(a)?);
    }
    let date = chrono::DateTime::parse_from_rfc3339(&mail.date)
        .map_err(|_| "the mail's date is not an RFC 3339 time")?;
    b = b.date(std::time::SystemTime::from(date));
    if let Some(id) = &mail.message_id {
        b = b.message_id(Some(format!("<{id}>")));
    }
    if let Some(id) = &mail.in_reply_to {
        b = b.in_reply_to(format!("<{id}>"));
    }
    let text = || SinglePart::plain(mail.text.clone().unwrap_or_default());
    let message = match &mail.html {
        Some(html) => b.multipart(
            MultiPart::alternative().singlepart(text()).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
        ),
        None => b.singlepart(text()),
    };
    // A mail without recipients is a valid saved item; lettre asks for an envelope, so the
    // sender stands in (the envelope is not part of the saved message).
    let message = match message {
        Err(lettre::error::Error::MissingTo) => {
            return to_mime(&Mail {
                bcc: vec![from.clone()],
                ..mail.clone()
            })
        }
        other => other.map_err(|e| e.to_string())?,
    };
    Ok(message.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            folder: "sent".into(),
            subject: Some("Quarterly review — agenda".into()),
            from: Some(MailAddress {
                address: "ada@example.com".into(),
                name: Some("Ada Lovelace".into()),
            }),
            to: vec![MailAddress {
                address: "charles@example.org".into(),
                name: None,
            }],
            cc: vec![MailAddress {
                address: "Mary@Example.org".into(),
                name: Some("Mary".into()),
            }],
            bcc: Vec::new(),
            date: "2027-01-15T09:30:00Z".into(),
            message_id: Some("abc.123@example.com".into()),
            in_reply_to: Some("prev.1@example.org".into()),
            text: Some("Hello Charles,\nsee you at ten.".into()),
            html: Some("<p>Hello Charles,<br>see you at <b>ten</b>.</p>".into()),
            attachments: Vec::new(),
            is_read: true,
        }
    }

    #[test]
    fn a_mail_goes_to_mime_and_comes_back_the_same() {
        let m = mail();
        let raw = to_mime(&m).unwrap();
        let back = from_mime(&raw, "sent", None).unwrap();
        assert_eq!(back.subject, m.subject);
        assert_eq!(back.from, m.from);
        assert_eq!(back.to, m.to);
        assert_eq!(back.cc, m.cc);
        assert_eq!(back.date, m.date);
        assert_eq!(back.message_id, m.message_id);
        assert_eq!(back.in_reply_to, m.in_reply_to);
        assert_eq!(back.text, m.text);
        assert_eq!(back.html, m.html);
        let plain = Mail {
            html: None,
            to: Vec::new(),
            cc: Vec::new(),
            ..m
        };
        let back = from_mime(&to_mime(&plain).unwrap(), "inbox", None).unwrap();
        assert_eq!((back.html, back.text), (None, plain.text));
    }

    #[test]
    fn mime_gives_attachments_by_name_and_size_and_html_is_sanitised() {
        let raw = "From: \"Bob\" <bob@example.net>\r\nTo: ada@example.com\r\nSubject: =?UTF-8?Q?Caf=C3=A9?=\r\n\
            Date: Fri, 15 Jan 2027 10:30:00 +0100\r\nMessage-ID: <m1@example.net>\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
            <p onclick=\"x()\">Hi<script>alert(1)</script></p>\r\n--b1\r\nContent-Type: application/pdf\r\n\
            Content-Disposition: attachment; filename=\"plan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            JVBERi0xLjQK\r\n--b1--\r\n";
        let mut m = from_mime(raw.as_bytes(), "inbox", None).unwrap();
        m.check().unwrap();
        assert_eq!(m.subject.as_deref(), Some("Café"));
        assert_eq!(m.date, "2027-01-15T09:30:00Z");
        assert_eq!(m.from.as_ref().unwrap().name.as_deref(), Some("Bob"));
        assert_eq!(m.html.as_deref(), Some("<p>Hi</p>"));
        assert_eq!(m.text.as_deref(), Some("Hi"));
        assert_eq!(
            m.attachments,
            vec![Attachment {
                name: "plan.pdf".into(),
                size: 9,
                content_type: Some("application/pdf".into()),
            }]
        );
        assert_eq!(m.message_id.as_deref(), Some("m1@example.net"));
        assert_eq!(
            m.addresses(),
            vec!["ada@example.com".to_string(), "bob@example.net".to_string()]
        );
    }

    #[test]
    fn a_mail_is_checked_and_only_its_read_flag_may_change() {
        let mut m = mail();
        m.html = Some(
            "<a href=\"https://x.example\" onmouseover=\"y()\">x</a><script>z</script>".into(),
        );
        m.date = "2027-01-15T10:30:00+01:00".into();
        m.check().unwrap();
        assert_eq!(m.date, "2027-01-15T09:30:00Z");
        assert_eq!(m.sort_key(), "2027-01-15T09:30:00");
        assert!(!m.html.as_deref().unwrap().contains("script"));
        assert!(!m.html.as_deref().unwrap().contains("onmouseover"));
        let mut bad = mail();
        bad.folder = "drafts".into();
        assert!(bad.check().is_err());
        let mut bad = mail();
        bad.date = "yesterday".into();
        assert!(bad.check().is_err());
        let old = serde_json::to_value(mail()).unwrap();
        let mut read = old.clone();
        read["is_read"] = false.into();
        assert!(same_content(&old, &read));
        read["subject"] = "changed".into();
        assert!(!same_content(&old, &read));
        assert_eq!(cut("héllo", 2), "h");
    }
}
