//! Operational endpoints: liveness, readiness, metrics.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::metrics::{render_counter, render_outbox};
use super::AppState;
use crate::security::constant_time_eq;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Ready when the database answers and its migrations are current.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.scim.ready().await {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable or migrations pending")
    }
}

/// Prometheus metrics. They name every connection, so they are not for everyone: with
/// `metrics_bind` set only that address serves them; with `metrics_token` set only a scraper
/// that presents it gets them; with neither, only a loopback client does.
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let on_metrics_address = state
        .metrics_addr
        .map(|a| req.app_config().local_addr() == a);
    let from_loopback = req.peer_addr().is_some_and(|p| p.ip().is_loopback());
    match crate::metrics::exposure(
        on_metrics_address,
        state.settings.metrics_token.is_some(),
        from_loopback,
    ) {
        crate::metrics::Exposure::Hidden(why) => {
            return HttpResponse::NotFound()
                .content_type("text/plain")
                .body(why)
        }
        crate::metrics::Exposure::Open | crate::metrics::Exposure::TokenRequired => {}
    }
    if let Some(expected) = &state.settings.metrics_token {
        let presented = super::auth::bearer(&req).unwrap_or_default();
        if !constant_time_eq(presented, &expected.0) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"roster-metrics\""))
                .content_type("text/plain")
                .body("a bearer token is required");
        }
    }
    let mut out = state.metrics.render();
    out.push_str(&render_counter(
        "roster_scim_operations_total",
        "SCIM writes by connection, operation and outcome (as the provisioning log records them).",
        &["connection_id", "operation", "outcome"],
        state.scim.operations(),
    ));
    out.push_str(&render_counter(
        "roster_oauth_grants_issued_total",
        "OAuth grants issued, by grant type.",
        &["grant_type"],
        &state.oauth.grants_issued,
    ));
    out.push_str(&render_counter(
        "roster_oauth_grants_revoked_total",
        "OAuth grants revoked, by who revoked them (reuse: Roster, on a replayed code or refresh token).",
        &["by"],
        &state.oauth.grants_revoked,
    ));
    match state.org.outbox_stats().await {
        Ok(stats) => out.push_str(&render_outbox(&stats)),
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the outbox"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}
