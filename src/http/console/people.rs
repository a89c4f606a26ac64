//! Bringing people in, in the console: invitations (invite by address, resend, revoke) and the
//! join requests of Microsoft 365 users whose tenant uses Roster (approve, reject).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::{when, CsrfForm};
use super::{layout, refusal, refused, respond, see_other, Visitor};
use crate::http::AppState;
use crate::office365::Office365Error;
use crate::office365::{InvitationPage, Invitee, JoinRequestPage, NewInvitations};

/// Answers a refused Microsoft 365 call with its page.
pub(super) fn o365_refused(v: &Visitor, e: Office365Error) -> HttpResponse {
    if let Office365Error::Org(e) = e {
        return refused(v, e);
    }
    let status = crate::http::microsoft::office365_status(&e);
    if status.is_server_error() {
        tracing::warn!(error = %e, "console Microsoft 365 call failed");
    }
    let message = match &e {
        Office365Error::Microsoft(m) => format!("Microsoft 365 did not answer as expected: {m}."),
        other => format!("{other}."),
    };
    refusal(v, status, &message)
}

#[derive(Debug, Deserialize)]
pub struct PeopleQuery {
    status: Option<String>,
    cursor: Option<String>,
    requests: Option<String>,
}

fn invitation_rows(v: &Visitor, page: &InvitationPage) -> Markup {
    html! {
        div.scroll { table.fold {
            thead { tr { th scope="col" { "Email" } th scope="col" { "Joins with" } th scope="col" { "Role" }
                th scope="col" { "Status" } th scope="col" { "Last sent" } th { span.visually-hidden { "Actions" } } } }
            tbody {
                @for i in &page.invitations {
                    tr {
                        td { (i.email) @if let Some(n) = &i.display_name { br; small { (n) } } }
                        td data-label="Joins with" { @if i.kind == "microsoft" { "Microsoft 365" } @else { "a password" } }
                        td data-label="Role" { (i.role) }
                        td data-label="Status" { span.status { (i.status) } }
                        td data-label="Last sent" { (when(&i.last_sent)) }
                        td.actions-cell {
                            @if i.status == "pending" || i.status == "expired" {
                                form method="post" action=(format!("/console/invitations/{}/resend", i.id)) {
                                    input type="hidden" name="csrf" value=(v.csrf);
                                    button type="submit" aria-label=(format!("Resend to {}", i.email)) { "Resend" }
                                }
                            }
                            @if i.status == "pending" {
                                form method="post" action=(format!("/console/invitations/{}/revoke", i.id))
                                    data-confirm=(format!("Revoke the invitation of {}? Its link stops working.", i.email)) {
                                    input type="hidden" name="csrf" value=(v.csrf);
                                    button.danger type="submit" aria-label=(format!("Revoke the invitation of {}", i.email)) { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        } }
    }
}

fn request_rows(v: &Visitor, page: &JoinRequestPage) -> Markup {
    html! {
        div.scroll { table.fold {
            thead { tr { th scope="col" { "Who" } th scope="col" { "Asked" } th scope="col" { "Status" } th { span.visually-hidden { "Decision" } } } }
            tbody {
                @for r in &page.requests {
                    tr {
                        td { (r.name.as_deref().unwrap_or("")) br; small { (r.email) } }
                        td data-label="Asked" { (when(&r.created)) }
                        td data-label="Status" { span.status { (r.status) } @if let Some(d) = &r.decided { br; small { (when(d)) } } }
                        td.actions-cell {
                            @if r.status == "pending" {
                                form method="post" action=(format!("/console/join-requests/{}/approve", r.id)) {
                                    input type="hidden" name="csrf" value=(v.csrf);
                                    button type="submit" aria-label=(format!("Approve {}", r.email)) { "Approve & Add" }
                                }
                                form method="post" action=(format!("/console/join-requests/{}/reject", r.id))
                                    data-confirm=(format!("Reject the request of {}?", r.email)) {
                                    input type="hidden" name="csrf" value=(v.csrf);
                                    button.danger type="submit" aria-label=(format!("Reject {}", r.email)) { "Reject" }
                                }
                            }
                        }
                    }
                }
            }
        } }
    }
}

async fn people_page(
    state: &AppState,
    v: &Visitor,
    q: PeopleQuery,
    status: StatusCode,
    message: Option<(bool, String)>,
) -> HttpResponse {
    let filter = q.status.filter(|s| !s.is_empty());
    let invitations = match state
        .office365
        .invitations(&v.actor, filter.clone(), q.cursor, 50)
        .await
    {
        Ok(p) => p,
        Err(e) => return o365_refused(v, e),
    };
    let requests_filter = q.requests.unwrap_or_else(|| "pending".into());
    let requests_status = Some(requests_filter.clone()).filter(|s| s != "any");
    let requests = match state
        .office365
        .join_requests(&v.actor, requests_status, None, 100)
        .await
    {
        Ok(p) => p,
        Err(e) => return o365_refused(v, e),
    };
    let next = invitations.next_cursor.as_deref().map(|c| {
        super::link(
            "/console/invitations",
            &[("cursor", Some(c)), ("status", filter.as_deref())],
        )
    });
    let content = html! {
        @if let Some((ok, m)) = &message {
            @if *ok { p.notice role="status" { (m) } } @else { p.error role="alert" { (m) } }
        }
        h2 { "Invite people" }
        form.stack method="post" action="/console/invitations" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Email addresses, one per line"
                textarea name="emails" rows="3" required {} }
            label { "They join with"
                select name="kind" {
                    option value="plain" { "a password they choose" }
                    option value="microsoft" { "their Microsoft 365 account" }
                }
            }
            label { "Role"
                select name="role" { option value="member" { "member" } option value="admin" { "admin" } }
            }
            button type="submit" { "Send invitations" }
        }
        p { "Users of your Microsoft 365 tenant can be picked from its directory on the "
            a href="/console/microsoft" { "Microsoft 365 page" } "." }
        h2 #requests { "Join requests" }
        form.filters method="get" action="/console/invitations" {
            label { "Show"
                select name="requests" {
                    @for (value, text) in [("pending", "pending"), ("approved", "approved"), ("rejected", "rejected"), ("any", "all")] {
                        option value=(value) selected[requests_filter == value] { (text) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if requests.requests.is_empty() { p { "No join request." } } @else { (request_rows(v, &requests)) }
        h2 { "Invitations" }
        form.filters method="get" action="/console/invitations" {
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for s in ["pending", "accepted", "expired", "revoked"] {
                        option value=(s) selected[filter.as_deref() == Some(s)] { (s) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if invitations.invitations.is_empty() { p { "No invitation." } } @else { (invitation_rows(v, &invitations)) }
        @if let Some(next) = next { p { a href=(next) rel="next" { "Next page" } } }
    };
    respond(
        status,
        layout(v, "Invitations", "/console/invitations", content),
    )
}

/// GET /console/invitations
pub async fn invitations(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<PeopleQuery>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    people_page(&state, &v, q.into_inner(), StatusCode::OK, None).await
}

fn first_page() -> PeopleQuery {
    PeopleQuery {
        status: None,
        cursor: None,
        requests: None,
    }
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    csrf: String,
    emails: String,
    kind: Option<String>,
    role: Option<String>,
}

/// The addresses of a textarea: one per line, or separated by commas or spaces.
fn addresses(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Invites `emails` (already split) and answers with the invitations page saying what happened.
pub(super) async fn invite(
    state: &AppState,
    v: &Visitor,
    emails: Vec<String>,
    kind: Option<String>,
    role: Option<String>,
) -> HttpResponse {
    let new = NewInvitations {
        invitees: emails
            .into_iter()
            .map(|email| Invitee {
                email,
                display_name: None,
                kind: kind.clone(),
            })
            .collect(),
        role,
        profile_id: None,
    };
    let results = match state.office365.invite(&v.actor, new).await {
        Ok(r) => r,
        Err(e @ (Office365Error::Invalid(_) | Office365Error::Forbidden(_))) => {
            let status = match e {
                Office365Error::Forbidden(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            let m = format!("No invitation was sent: {e}.");
            return people_page(state, v, first_page(), status, Some((false, m))).await;
        }
        Err(e) => return o365_refused(v, e),
    };
    let said = |outcome: &str| {
        results
            .iter()
            .filter(|r| r.outcome == outcome)
            .map(|r| r.email.as_str())
            .collect::<Vec<_>>()
    };
    let mut parts = Vec::new();
    for (outcome, text) in [
        ("invited", "Invited"),
        ("already_member", "Already members"),
        ("already_invited", "Already invited (resend from the list)"),
        (
            "in_another_org",
            "Have an account of another organization on this server",
        ),
    ] {
        let who = said(outcome);
        if !who.is_empty() {
            parts.push(format!("{text}: {}.", who.join(", ")));
        }
    }
    let message = Some((true, parts.join(" ")));
    people_page(state, v, first_page(), StatusCode::OK, message).await
}

/// POST /console/invitations
pub async fn create_invitations(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<InviteForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let form = form.into_inner();
    invite(&state, &v, addresses(&form.emails), form.kind, form.role).await
}

/// POST /console/invitations/{id}/resend and /revoke.
pub async fn change_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    let (id, what) = path.into_inner();
    let done = match what.as_str() {
        "resend" => state.office365.resend(&v.actor, &id).await,
        "revoke" => state.office365.revoke(&v.actor, &id).await,
        _ => return refusal(&v, StatusCode::NOT_FOUND, "There is no such action."),
    };
    match done {
        Ok(_) => see_other("/console/invitations"),
        Err(e) => o365_refused(&v, e),
    }
}

/// POST /console/join-requests/{id}/approve and /reject.
pub async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    let (id, what) = path.into_inner();
    let done = match what.as_str() {
        "approve" => state.office365.approve(&v.actor, &id).await,
        "reject" => state.office365.reject(&v.actor, &id).await,
        _ => return refusal(&v, StatusCode::NOT_FOUND, "There is no such action."),
    };
    let message = match done {
        Ok(r) if r.status == "approved" => format!("{} is now a member.", r.email),
        Ok(r) => format!("The request of {} was rejected.", r.email),
        Err(e) => return o365_refused(&v, e),
    };
    people_page(
        &state,
        &v,
        first_page(),
        StatusCode::OK,
        Some((true, message)),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::addresses;

    #[test]
    fn addresses_are_split_on_lines_commas_and_spaces() {
        assert_eq!(
            addresses("a@x.example\r\nb@x.example, c@x.example;d@x.example  \n"),
            ["a@x.example", "b@x.example", "c@x.example", "d@x.example"]
        );
        assert!(addresses(" \n ").is_empty());
    }
}
