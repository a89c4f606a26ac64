//! What every HTML page Roster serves shares: one look, escaping, and headers that keep it from
//! being framed, cached or leaking its URL.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

pub fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

/// The start of an HTML answer that cannot be framed, cached or leak its URL through a
/// Referer to another site, under the content security policy `csp`. `same-origin` rather than
/// `no-referrer`: under `no-referrer` browsers send `Origin: null` with the page's own form
/// posts (Fetch, "serialize a request origin"), and the sign-in forms tell their own posts from
/// other sites' by that header.
pub fn guarded(status: StatusCode, csp: &str) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp.to_owned()));
    b
}

/// An HTML page that cannot be framed, cached or leak its URL through a Referer.
pub fn html(
    status: StatusCode,
    title: &str,
    body: &str,
    form_target: Option<&str>,
) -> HttpResponse {
    let form_action = match form_target {
        Some(origin) => format!("form-action 'self' {origin}"),
        None => "form-action 'self'".into(),
    };
    guarded(
        status,
        &format!("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; {form_action}"),
    )
    .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\"><title>{title} · Roster</title>\
             <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f}}\
             label{{display:block;margin:.8rem 0}}input[type=email],input[type=password],input[type=text]{{width:100%;padding:.5rem;box-sizing:border-box}}\
             button{{padding:.5rem 1.2rem;margin:.25rem .5rem .25rem 0}}.error{{color:#b00020}}dt{{font-weight:600}}</style>\
             </head><body><h1>{title}</h1>{body}</body></html>",
            title = escape(title)
        ))
}

/// `2026-11-28T14:18:31.414Z` as `2026-11-28 14:18 UTC`, what a page shows until its script
/// puts the time in the reader's time zone.
pub fn utc_minute(t: &str) -> String {
    match (t.get(..10), t.get(11..16)) {
        (Some(d), Some(hm)) => format!("{d} {hm} UTC"),
        _ => t.to_owned(),
    }
}
