//! The signed-in person's contacts and mails in the console: their contacts, each contact's
//! page with its related mails (the mails naming one of its addresses), every synced mail
//! newest first, and one mail with its headers, attachments and sanitised body, marked read or
//! unread from its page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::Value;

use super::pages::when;
use super::record_parts::{add_form, contact_name, failed, older, PageParams};
use super::{layout, refusal, respond, see_other};
use crate::crm::mail::{Mail, MailAddress};
use crate::crm::{Kind, RecordView};
use crate::http::AppState;

const PAGE: i64 = 50;

fn mail_of(r: &RecordView) -> Option<Mail> {
    serde_json::from_value(r.fields.clone()).ok()
}

fn who(a: &MailAddress) -> String {
    match &a.name {
        Some(n) => format!("{n} <{}>", a.address),
        None => a.address.clone(),
    }
}

fn people(list: &[MailAddress]) -> String {
    list.iter().map(who).collect::<Vec<_>>().join(", ")
}

/// A subject as a list shows it: at most 120 characters.
fn short(subject: Option<&str>) -> String {
    match subject.map(str::trim).filter(|s| !s.is_empty()) {
        None => "(no subject)".into(),
        Some(s) if s.chars().count() > 120 => {
            format!("{}…", s.chars().take(119).collect::<String>())
        }
        Some(s) => s.to_owned(),
    }
}

/// How a record came to be, as a person reads it.
fn origin(source: &str) -> &'static str {
    match source {
        "sync" => "brought in by a sync",
        "import" => "imported",
        _ => "written in Roster",
    }
}

fn size(bytes: i64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{} KB", b / 1024),
        b => format!("{b} bytes"),
    }
}

/// A table of mails, newest first, each linking to its page.
fn mail_table(records: &[RecordView]) -> Markup {
    html! {
        div.scroll {
            table.mails {
                thead { tr {
                    th scope="col" { "Date" } th.opt scope="col" { "Folder" } th scope="col" { "From" }
                    th.opt scope="col" { "To" } th scope="col" { "Subject" } th.opt scope="col" { "Attachments" }
                } }
                tbody {
                    @for r in records {
                        @if let Some(m) = mail_of(r) {
                            tr.unread[!m.is_read] {
                                td { (when(&m.date)) }
                                td.opt { @if m.folder == "sent" { "Sent" } @else { "Inbox" } }
                                td.wrap { (m.from.as_ref().map(|a| a.name.clone().unwrap_or_else(|| a.address.clone())).unwrap_or_default()) }
                                td.wrap.opt { (people(&m.to)) }
                                td.wrap { a href=(format!("/console/me/mails/{}", r.id)) { (short(m.subject.as_deref())) } }
                                td.opt { @if !m.attachments.is_empty() { (m.attachments.len()) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// GET /console/me/mails
pub async fn mails(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<PageParams>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let page = match state
        .crm
        .newest(&v.actor, Kind::Mail, q.into_inner().cursor, PAGE)
        .await
    {
        Ok(p) => p,
        Err(e) => return failed(&v, e),
    };
    let content = html! {
        p { "The mails of your Inbox and Sent Items that the Exchange sync brought in, and the ones you recorded in Roster, newest first. Unread ones are in bold." }
        @if page.records.is_empty() {
            p { "No mails yet. " a href="/console/me/exchange" { "Turn on mails in your Exchange sync" } " to bring them in." }
        } @else {
            (mail_table(&page.records))
        }
        (older("/console/me/mails", &page, "Older mails"))
    };
    respond(
        StatusCode::OK,
        layout(&v, "Mails", "/console/me/mails", content),
    )
}

/// GET /console/me/mails/{id}
pub async fn mail(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let record = match state.crm.get(&v.actor, Kind::Mail, &id).await {
        Ok(r) => r,
        Err(e) => return failed(&v, e),
    };
    let Some(m) = mail_of(&record) else {
        return refusal(
            &v,
            StatusCode::NOT_FOUND,
            "There is no such record of yours.",
        );
    };
    let subject = m
        .subject
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "(no subject)".into());
    let content = html! {
        dl.facts {
            dt { "From" } dd { (m.from.as_ref().map(who).unwrap_or_default()) }
            dt { "To" } dd { (people(&m.to)) }
            @if !m.cc.is_empty() { dt { "Cc" } dd { (people(&m.cc)) } }
            @if !m.bcc.is_empty() { dt { "Bcc" } dd { (people(&m.bcc)) } }
            dt { "Date" } dd { (when(&m.date)) }
            dt { "Folder" } dd { @if m.folder == "sent" { "Sent Items" } @else { "Inbox" } }
            @if !m.attachments.is_empty() {
                dt { "Attachments" }
                dd { ul.plain { @for a in &m.attachments { li { (a.name) " (" (size(a.size)) ")" } } } }
            }
        }
        form.inline method="post" action=(format!("/console/me/mails/{}/read", record.id)) {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="version" value=(record.version);
            input type="hidden" name="read" value=(if m.is_read { "false" } else { "true" });
            button type="submit" { @if m.is_read { "Mark as unread" } @else { "Mark as read" } }
        }
        @match (&m.html, &m.text) {
            // Sanitised when stored (no scripts, handlers, styles or forms); remote images are
            // not loaded (the console's Content-Security-Policy).
            (Some(h), _) => div.mail-body { (PreEscaped(h)) },
            (None, Some(t)) => pre.mail-text { (t) },
            (None, None) => p { "This mail has no text." },
        }
        p { a href="/console/me/mails" { "All mails" } }
    };
    respond(
        StatusCode::OK,
        layout(&v, &subject, "/console/me/mails", content),
    )
}

#[derive(Debug, Deserialize)]
pub struct ReadForm {
    csrf: String,
    version: i64,
    read: bool,
}

/// POST /console/me/mails/{id}/read: only while the mail is still at the version the page
/// showed.
pub async fn mark_read(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<ReadForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let record = match state.crm.get(&v.actor, Kind::Mail, &id).await {
        Ok(r) => r,
        Err(e) => return failed(&v, e),
    };
    let mut fields = record.fields.clone();
    fields["is_read"] = Value::Bool(form.read);
    match state
        .crm
        .update(&v.actor, Kind::Mail, &id, fields, Some(form.version))
        .await
    {
        Ok(_) => see_other(&format!("/console/me/mails/{id}")),
        Err(e) => failed(&v, e),
    }
}

/// GET /console/me/contacts
pub async fn contacts(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<PageParams>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let page = match state
        .crm
        .newest(&v.actor, Kind::Contact, q.into_inner().cursor, PAGE)
        .await
    {
        Ok(p) => p,
        Err(e) => return failed(&v, e),
    };
    let content = html! {
        p { "Your contacts, the most recently changed first. Each contact's page lists the mails that name one of its addresses. "
            a href="/console/me/contact-lists" { "Contact lists" } }
        @if page.records.is_empty() { p { "You have no contacts yet." } } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Company" } th scope="col" { "Changed" } } }
                    tbody {
                        @for r in &page.records {
                            tr {
                                td.wrap { a href=(format!("/console/me/contacts/{}", r.id)) { (contact_name(&r.fields)) } }
                                td.wrap { (r.fields["emails"][0]["address"].as_str().unwrap_or("")) }
                                td.wrap { (r.fields["company"].as_str().unwrap_or("")) }
                                td { (when(&r.updated)) }
                            }
                        }
                    }
                }
            }
        }
        (older("/console/me/contacts", &page, "More contacts"))
    };
    respond(
        StatusCode::OK,
        layout(&v, "Contacts", "/console/me/contacts", content),
    )
}

/// GET /console/me/contacts/{id}: the contact and its related mails.
pub async fn contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let record = match state.crm.get(&v.actor, Kind::Contact, &id).await {
        Ok(r) => r,
        Err(e) => return failed(&v, e),
    };
    let related = match state
        .crm
        .related_mails(&v.actor, &id, q.into_inner().cursor, PAGE)
        .await
    {
        Ok(p) => p,
        Err(e) => return failed(&v, e),
    };
    let lists = match state.crm.contact_lists(&v.actor).await {
        Ok(l) => l,
        Err(e) => return failed(&v, e),
    };
    let f = &record.fields;
    let list = |k: &str, field: &str| -> Vec<String> {
        f[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[field].as_str().map(str::to_owned))
            .collect()
    };
    let content = html! {
        dl.facts {
            @for (label, key) in [("Company", "company"), ("Job title", "job_title"), ("Birthday", "birthday")] {
                @if let Some(val) = f[key].as_str() { dt { (label) } dd { (val) } }
            }
            dt { "Email" } dd { (list("emails", "address").join(", ")) }
            @let phones = list("phones", "number");
            @if !phones.is_empty() { dt { "Phone" } dd { (phones.join(", ")) } }
            dt { "Origin" } dd { (origin(&record.source)) }
        }
        (add_form(&v, &record.id, &lists))
        h2 { "Mails" }
        @if related.records.is_empty() {
            p { "No mail names this contact's addresses." }
        } @else {
            (mail_table(&related.records))
        }
        (older(&format!("/console/me/contacts/{}", record.id), &related, "Older mails"))
        p { a href="/console/me/contacts" { "All contacts" } }
    };
    respond(
        StatusCode::OK,
        layout(&v, &contact_name(f), "/console/me/contacts", content),
    )
}
