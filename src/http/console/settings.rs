//! A connection's settings on its console page: what a status change from the identity
//! provider does, who receives one-time passwords, and turning the connection off and on.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::{refused, see_other, then_to, Visitor};
use crate::http::AppState;
use crate::org::{ConnectionUpdate, ConnectionView, StatusPolicyPatch};
use crate::provisioning::profiles::StatusPolicy;

fn select(name: &str, label: &str, current: &str, options: &[(&str, &str)]) -> Markup {
    html! {
        label { (label)
            select name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[*value == current] { (text) }
                }
            }
        }
    }
}

fn lower<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The settings forms of a connection's page.
pub fn section(v: &Visitor, c: &ConnectionView, policy: &StatusPolicy) -> Markup {
    let base = format!("/console/connections/{}", c.id);
    html! {
        h2 { "When the identity provider changes a user's status" }
        form.stack method="post" action=(format!("{base}/status-policy")) {
            input type="hidden" name="csrf" value=(v.csrf);
            (select("on_deactivate", "Deactivated in the directory", &lower(&policy.on_deactivate),
                &[("deactivate", "deactivate the Roster user"), ("delete", "delete the Roster user"), ("ignore", "do nothing")]))
            (select("on_delete", "Deleted in the directory", &lower(&policy.on_delete),
                &[("delete", "delete the Roster user"), ("deactivate", "deactivate the Roster user")]))
            (select("on_reactivate", "Reactivated in the directory", &lower(&policy.on_reactivate),
                &[("reactivate", "reactivate the Roster user"), ("ignore", "leave it deactivated")]))
            button type="submit" { "Save status policy" }
        }
        h2 { "One-time passwords" }
        form.stack method="post" action=(format!("{base}/password-delivery")) {
            input type="hidden" name="csrf" value=(v.csrf);
            (select("password_delivery", "For users created on a verified domain, send the one-time password to", &c.password_delivery,
                &[("none", "nobody"), ("user", "the user"), ("admins", "the org's admins")]))
            button type="submit" { "Save" }
        }
        h2 { "Connection" }
        form method="post" action=(format!("{base}/switch"))
            data-confirm=[(!c.disabled).then(|| format!("Disable {}? Its tokens stop working at once.", c.name))] {
            input type="hidden" name="csrf" value=(v.csrf);
            @if c.disabled {
                input type="hidden" name="disabled" value="false";
                button type="submit" { "Enable connection" }
            } @else {
                input type="hidden" name="disabled" value="true";
                button.danger type="submit" { "Disable connection" }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    csrf: String,
    on_deactivate: String,
    on_delete: String,
    on_reactivate: String,
}

/// POST /console/connections/{id}/status-policy
pub async fn status_policy(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<PolicyForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let patch: Result<StatusPolicyPatch, _> = serde_json::from_value(json!({
        "on_deactivate": form.on_deactivate,
        "on_delete": form.on_delete,
        "on_reactivate": form.on_reactivate,
    }));
    let Ok(patch) = patch else {
        return refused(
            &v,
            crate::org::OrgError::Invalid("choose one of the offered actions".into()),
        );
    };
    then_to(
        &v,
        state.org.patch_status_policy(&v.actor, &id, patch).await,
        &format!("/console/connections/{id}"),
    )
}

#[derive(Debug, Deserialize)]
pub struct DeliveryForm {
    csrf: String,
    password_delivery: String,
}

/// POST /console/connections/{id}/password-delivery
pub async fn password_delivery(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<DeliveryForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let update = ConnectionUpdate {
        password_delivery: Some(form.password_delivery.clone()),
        ..ConnectionUpdate::default()
    };
    then_to(
        &v,
        state.org.update_connection(&v.actor, &id, update).await,
        &format!("/console/connections/{id}"),
    )
}

/// A switch: the CSRF token and the state to set.
#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    pub(super) csrf: String,
    pub(super) disabled: bool,
}

/// POST /console/connections/{id}/switch
pub async fn switch(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<SwitchForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let update = ConnectionUpdate {
        disabled: Some(form.disabled),
        ..ConnectionUpdate::default()
    };
    match state.org.update_connection(&v.actor, &id, update).await {
        Ok(view) => {
            if view.disabled {
                state.token_cache.forget(|g| g.connection_id == view.id);
            }
            see_other(&format!("/console/connections/{id}"))
        }
        Err(e) => refused(&v, e),
    }
}
