//! One rule for text that reaches Roster outside SCIM: no NUL character, in the path, the query
//! string, a form or a JSON body. Nothing Roster stores holds one, and PostgreSQL refuses one in a
//! parameter, so a NUL is refused here with 400 before any handler runs. SCIM requests answer the
//! same rule with SCIM errors (`scim::rules::check_no_nul`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::{middleware, web, HttpMessage, HttpResponse};
use futures_util::StreamExt;
use serde_json::Value;

/// The largest body any route outside SCIM takes (the user API's records); a longer one is 413.
const LARGEST_BODY: usize = 4 * 1024 * 1024;

/// Which part of a request held a NUL character.
fn nul_in_target(req: &ServiceRequest) -> Option<&'static str> {
    let path = req.uri().path();
    if path.contains("%00") || path.contains('\0') {
        return Some("the path");
    }
    pairs_hold_nul(req.query_string().as_bytes()).then_some("the query string")
}

fn pairs_hold_nul(encoded: &[u8]) -> bool {
    url::form_urlencoded::parse(encoded).any(|(k, v)| k.contains('\0') || v.contains('\0'))
}

fn json_holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_holds_nul),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains('\0') || json_holds_nul(v)),
        _ => false,
    }
}

/// Whether a body of this media type holds a NUL in a text value. A body that does not parse is
/// left to the extractor, which answers its own 400.
fn body_holds_nul(media: &str, body: &[u8]) -> bool {
    if body.contains(&0) {
        return true;
    }
    match media {
        "application/x-www-form-urlencoded" => pairs_hold_nul(body),
        m if m == "application/json" || m.ends_with("+json") => {
            serde_json::from_slice::<Value>(body).is_ok_and(|v| json_holds_nul(&v))
        }
        _ => false,
    }
}

/// The 400 in the shape the route's clients read: RFC 6749 on OAuth endpoints, a problem
/// document on the APIs, a plain page elsewhere.
fn refusal(path: &str, status: StatusCode, detail: String) -> HttpResponse {
    if path.starts_with("/oauth/") {
        return HttpResponse::build(status).json(serde_json::json!({
            "error": "invalid_request", "error_description": detail,
        }));
    }
    if path.starts_with("/admin/") || path.starts_with("/api/") {
        let problem = super::admin::Problem::new(status, detail);
        return actix_web::ResponseError::error_response(&problem);
    }
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(detail)
}

/// Middleware: refuses a request whose path, query string, form or JSON body holds a NUL.
pub async fn refuse_nul<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: middleware::Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if req.path().starts_with("/scim/") {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let refuse = |req: ServiceRequest, status: StatusCode, detail: String| {
        let response = refusal(req.path(), status, detail);
        Ok(req.into_response(response).map_into_right_body())
    };
    let nul = |part: &str| format!("{part} holds a NUL character, which Roster does not accept");
    if let Some(part) = nul_in_target(&req) {
        return refuse(req, StatusCode::BAD_REQUEST, nul(part));
    }
    let Some(media) = req
        .mime_type()
        .ok()
        .flatten()
        .map(|m| m.essence_str().to_owned())
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let too_large = || format!("the request body exceeds {LARGEST_BODY} bytes");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > LARGEST_BODY) {
        return refuse(req, StatusCode::PAYLOAD_TOO_LARGE, too_large());
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() > LARGEST_BODY {
            return refuse(req, StatusCode::PAYLOAD_TOO_LARGE, too_large());
        }
    }
    let body = body.freeze();
    let holds_nul = body_holds_nul(&media, &body);
    req.set_payload(Payload::from(body));
    if holds_nul {
        return refuse(req, StatusCode::BAD_REQUEST, nul("the request body"));
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_is_found_in_every_text_encoding() {
        let form = "application/x-www-form-urlencoded";
        assert!(body_holds_nul(form, b"email=a%00b&password=x"));
        assert!(body_holds_nul(form, b"a\0=b"));
        assert!(!body_holds_nul(form, b"email=a%2500b"));
        let json = "application/json";
        assert!(body_holds_nul(json, br#"{"display_name": "a\u0000b"}"#));
        assert!(body_holds_nul(json, br#"{"list": [{"a\u0000": 1}]}"#));
        assert!(!body_holds_nul(json, br#"{"display_name": "a\\u0000b"}"#));
        assert!(!body_holds_nul(json, b"{not json"));
        assert!(pairs_hold_nul(b"next=%00"));
        assert!(!pairs_hold_nul(b"next=%2F"));
    }
}
