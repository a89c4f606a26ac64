//! HTTP: routing, extractors, middleware. The only module that speaks actix-web.

mod account_sync;
mod admin;
mod auth;
mod bulk;
mod console;
mod contact_lists;
mod crm;
mod crm_typed;
mod discovery;
pub mod error;
mod exchange;
mod input;
mod invitations;
mod metrics;
mod microsoft;
mod oauth;
mod ops;
mod page;
mod scim;
mod session;
mod sign_in;
mod sync;
mod token_cache;

use std::net::TcpListener;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpRequest, HttpServer};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder, TracingLogger};

use crate::config::Settings;
use crate::oauth::OAuthService;
use crate::office365::Office365Service;
use crate::org::OrgService;
use crate::provisioning::ScimService;
use crate::scim::schema::ResourceKind;

pub use auth::ScimPrincipal;

/// Everything a handler needs, shared by the workers of one server.
pub struct AppState {
    pub settings: Settings,
    pub scim: ScimService,
    pub org: OrgService,
    pub oauth: OAuthService,
    pub office365: Office365Service,
    pub crm: crate::crm::CrmService,
    pub sync: crate::sync::SyncService,
    pub exchange: crate::exchange::ExchangeService,
    pub metrics: metrics::Metrics,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    token_cache: token_cache::TokenCache,
    /// Sign-in attempts per email address.
    sign_in_limiter: DefaultKeyedRateLimiter<String>,
    /// Attempts at a password or client secret per client address; None when turned off.
    client_limiter: Option<DefaultKeyedRateLimiter<std::net::IpAddr>>,
    /// The proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<ipnet::IpNet>,
    /// What one SCIM request may write.
    scim_limits: crate::scim::rules::Limits,
    /// The bound `metrics_bind` address, which serves `/metrics` only.
    metrics_addr: Option<std::net::SocketAddr>,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: Settings,
        scim_limits: crate::scim::rules::Limits,
        scim: ScimService,
        org: OrgService,
        oauth: OAuthService,
        office365: Office365Service,
        crm: crate::crm::CrmService,
        sync: crate::sync::SyncService,
        exchange: crate::exchange::ExchangeService,
    ) -> Self {
        let limiter = NonZeroU32::new(settings.rate_limit_per_second).map(|rate| {
            let burst = NonZeroU32::new(settings.rate_limit_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let token_cache =
            token_cache::TokenCache::new(Duration::from_secs(settings.token_cache_seconds));
        let attempts =
            NonZeroU32::new(settings.sign_in_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        let client_limiter = NonZeroU32::new(settings.sign_in_attempts_per_client_per_minute)
            .map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        // `validate` refused anything else before the server started.
        let trusted_proxies = settings.trusted_proxy_nets().unwrap_or_default();
        AppState {
            scim_limits,
            settings,
            scim,
            org,
            oauth,
            crm,
            sync,
            exchange,
            office365,
            metrics: metrics::Metrics::default(),
            limiter,
            token_cache,
            sign_in_limiter: RateLimiter::keyed(Quota::per_minute(attempts)),
            client_limiter,
            trusted_proxies,
            metrics_addr: None,
        }
    }

    /// The address a request's client has (see [`crate::security::client_address`]).
    fn client_of(&self, req: &HttpRequest) -> Option<std::net::IpAddr> {
        let peer = req.peer_addr()?.ip();
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        Some(crate::security::client_address(
            peer,
            &forwarded,
            &self.trusted_proxies,
        ))
    }

    /// Whether this client may try another password or client secret now; else how long it
    /// waits. Guards the sign-in forms, `POST /admin/v1/sessions` and the OAuth token endpoint,
    /// so one client cannot spray many addresses.
    fn client_allowed(&self, req: &HttpRequest) -> Result<(), Throttled> {
        let (Some(limiter), Some(client)) = (&self.client_limiter, self.client_of(req)) else {
            return Ok(());
        };
        limiter
            .check_key(&client)
            .map_err(|n| Throttled::until(&n, "from this address"))
    }

    /// Whether another sign-in attempt with `email` is allowed now: per client first, then per
    /// email address.
    fn sign_in_allowed(&self, req: &HttpRequest, email: &str) -> Result<(), Throttled> {
        self.client_allowed(req)?;
        self.sign_in_limiter
            .check_key(&email.trim().to_lowercase())
            .map_err(|n| Throttled::until(&n, "for this email address"))
    }
}

/// The page that answers a throttled sign-in form: 429 with `Retry-After`.
pub(crate) fn throttled_page(throttled: Throttled) -> actix_web::HttpResponse {
    let page = page::html(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            page::escape(&throttled.message())
        ),
        None,
    );
    throttled.answer(page)
}

/// A refused attempt: when to try again, and what was counted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throttled {
    pub retry_after: u64,
    pub what: &'static str,
}

impl Throttled {
    fn until(
        not_until: &governor::NotUntil<governor::clock::QuantaInstant>,
        what: &'static str,
    ) -> Self {
        let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
        // Whole seconds, rounded up: a client that waits that long is let in.
        let wait = not_until.wait_time_from(now).as_millis().div_ceil(1000);
        Throttled {
            retry_after: u64::try_from(wait).unwrap_or(60).max(1),
            what,
        }
    }

    /// `response` as the answer to a refused attempt: 429 with `Retry-After`.
    pub fn answer(&self, mut response: actix_web::HttpResponse) -> actix_web::HttpResponse {
        *response.status_mut() = actix_web::http::StatusCode::TOO_MANY_REQUESTS;
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(self.retry_after),
        );
        response
    }

    /// What a person reads.
    pub fn message(&self) -> String {
        format!(
            "Too many sign-in attempts {}; try again in {} seconds.",
            self.what, self.retry_after
        )
    }
}

/// Starts the HTTP server on an already bound listener, speaking HTTPS with `tls`, and on the
/// `metrics_bind` listener when there is one (plain HTTP, `/metrics` only).
pub fn serve(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    mut state: AppState,
    tls: Option<rustls::ServerConfig>,
) -> std::io::Result<Server> {
    let workers = state.settings.workers;
    state.metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(middleware::from_fn(input::refuse_nul))
            .wrap(middleware::from_fn(metrics::track))
            .wrap(middleware::from_fn(common_headers))
            .wrap(TracingLogger::<RequestSpan>::new())
            .configure(routes)
    });
    let mut server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config)?,
        None => server.listen(listener)?,
    };
    if let Some(l) = metrics_listener {
        server = server.listen(l)?;
    }
    if let Some(w) = workers {
        server = server.workers(w);
    }
    Ok(server.run())
}

/// The root span of every request: method, route, target, status, the request id (a proxy's
/// `X-Request-Id` when it sends a plausible one, else a new UUID) and the org, filled in once
/// the bearer token is known.
struct RequestSpan;

/// The request id a request is logged and answered with.
#[derive(Clone)]
struct RequestTag(String);

/// A proxy's `X-Request-Id`, kept when it is 1 to 128 characters of letters, digits and
/// `-_.:/+=@`, so it can be logged and echoed as it came.
fn incoming_request_id(request: &actix_web::dev::ServiceRequest) -> Option<String> {
    let value = request.headers().get("x-request-id")?.to_str().ok()?;
    let plausible = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b));
    plausible.then(|| value.to_owned())
}

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        let id = incoming_request_id(request).unwrap_or_else(|| {
            request
                .extensions()
                .get::<RequestId>()
                .map(ToString::to_string)
                .unwrap_or_default()
        });
        let route = request.match_pattern();
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route.as_deref().unwrap_or("default"),
            http.target = %request.uri().path_and_query().map_or("", |p| p.as_str()),
            http.client_ip = %request.connection_info().realip_remote_addr().unwrap_or(""),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            request_id = %id,
            org_id = tracing::field::Empty,
        );
        request.extensions_mut().insert(RequestTag(id));
        span
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// What every answer carries: its request id and `X-Content-Type-Options: nosniff`. The
/// `metrics_bind` listener answers `/metrics` and nothing else.
async fn common_headers<B: actix_web::body::MessageBody + 'static>(
    req: actix_web::dev::ServiceRequest,
    next: middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<B>>, actix_web::Error> {
    use actix_web::http::header::{HeaderName, HeaderValue, X_CONTENT_TYPE_OPTIONS};
    use actix_web::HttpMessage;
    let id = req.extensions().get::<RequestTag>().map(|r| r.0.clone());
    let metrics_only = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.metrics_addr)
        .is_some_and(|addr| req.app_config().local_addr() == addr);
    let mut res = if metrics_only && req.path() != "/metrics" {
        let (http, _) = req.into_parts();
        let refused = actix_web::HttpResponse::NotFound()
            .content_type("text/plain")
            .body("this address serves /metrics only");
        actix_web::dev::ServiceResponse::new(http, refused).map_into_right_body()
    } else {
        next.call(req).await?.map_into_left_body()
    };
    let headers = res.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(v) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
    Ok(res)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/sign-in", web::get().to(sign_in::show))
        .route("/sign-in", web::post().to(sign_in::submit))
        .route(
            "/sign-in/password",
            web::post().to(sign_in::change_password),
        )
        .route("/auth/microsoft/start", web::get().to(microsoft::start))
        .route(
            "/auth/microsoft/callback",
            web::get().to(microsoft::callback),
        )
        .route(
            "/auth/microsoft/install",
            web::post().to(microsoft::install),
        )
        .route(
            "/auth/microsoft/associate",
            web::post().to(microsoft::associate),
        )
        .route("/auth/microsoft/consent", web::get().to(microsoft::consent))
        .route("/auth/microsoft/join", web::post().to(microsoft::join))
        .route("/terms", web::get().to(microsoft::terms))
        .route("/terms", web::post().to(microsoft::accept_terms))
        .route(
            "/auth/microsoft/verify-email",
            web::post().to(microsoft::send_email_proof),
        )
        .route(
            "/auth/microsoft/verify-email",
            web::get().to(microsoft::prove_email),
        )
        .route(
            "/auth/microsoft/join-request",
            web::post().to(microsoft::join_request),
        )
        .route("/invitations/{secret}", web::get().to(invitations::show))
        .route("/invitations/{secret}", web::post().to(invitations::accept))
        .route(
            "/invitations/{secret}/associate",
            web::post().to(invitations::associate),
        )
        .route(
            "/invitations/{secret}/microsoft",
            web::get().to(invitations::microsoft),
        )
        .route("/join-requests/{id}", web::get().to(invitations::review))
        .route(
            "/join-requests/{id}/approve",
            web::post().to(|s, r, p, f| invitations::decide(s, r, p, f, true)),
        )
        .route(
            "/join-requests/{id}/reject",
            web::post().to(|s, r, p, f| invitations::decide(s, r, p, f, false)),
        )
        .route("/account", web::get().to(microsoft::account))
        .route(
            "/account/microsoft/enable",
            web::post().to(|s, r, f| microsoft::switch(s, r, f, true)),
        )
        .route(
            "/account/microsoft/disable",
            web::post().to(|s, r, f| microsoft::switch(s, r, f, false)),
        )
        .route("/account/api-token", web::post().to(microsoft::api_token))
        .route(
            "/account/microsoft/connect",
            web::get().to(microsoft::connect_mailbox),
        )
        .route(
            "/account/microsoft/disconnect",
            web::post().to(microsoft::disconnect_mailbox),
        )
        .route("/account/sync/{module}", web::post().to(account_sync::act))
        .route("/sign-out", web::post().to(microsoft::sign_out))
        .configure(admin::routes)
        .configure(crm::routes)
        .configure(console::routes)
        .configure(oauth::routes)
        .service(
            web::scope("/scim/v2/{connection}")
                .configure(|c| resource_routes(c, ResourceKind::User))
                .configure(|c| resource_routes(c, ResourceKind::Group))
                .service(
                    web::resource("/.search")
                        .route(web::post().to(|s, p, r, b| scim::search(s, p, r, b, None))),
                )
                .service(
                    web::resource("/Bulk")
                        .route(web::post().to(bulk::bulk))
                        .default_service(web::to(discovery::method_not_allowed)),
                )
                .service(web::resource(["/Me", "/Me/{rest:.*}"]).to(scim::me))
                .service(
                    web::resource("/ServiceProviderConfig")
                        .route(web::get().to(discovery::service_provider_config))
                        .default_service(web::to(discovery::method_not_allowed)),
                )
                .service(
                    web::resource("/ResourceTypes")
                        .route(web::get().to(discovery::resource_types))
                        .default_service(web::to(discovery::method_not_allowed)),
                )
                .service(
                    web::resource("/ResourceTypes/{id}")
                        .route(web::get().to(discovery::resource_type))
                        .default_service(web::to(discovery::method_not_allowed)),
                )
                .service(
                    web::resource("/Schemas")
                        .route(web::get().to(discovery::schemas))
                        .default_service(web::to(discovery::method_not_allowed)),
                )
                .service(
                    web::resource("/Schemas/{id}")
                        .route(web::get().to(discovery::schema))
                        .default_service(web::to(discovery::method_not_allowed)),
                )
                .default_service(web::to(discovery::not_found)),
        );
}

fn id_of(req: &HttpRequest) -> String {
    req.match_info().get("id").unwrap_or_default().to_owned()
}

fn resource_routes(cfg: &mut web::ServiceConfig, kind: ResourceKind) {
    let base = format!("/{}", kind.endpoint());
    cfg.service(
        web::resource(base.clone())
            .route(web::get().to(move |s, p, r| scim::list(s, p, r, kind)))
            .route(web::post().to(move |s, p, r, b| scim::create(s, p, r, b, kind)))
            .default_service(web::to(discovery::method_not_allowed)),
    )
    .service(
        web::resource(format!("{base}/.search"))
            .route(web::post().to(move |s, p, r, b| scim::search(s, p, r, b, Some(kind)))),
    )
    .service(
        web::resource(format!("{base}/{{id}}"))
            .route(web::get().to(move |s, p, r: HttpRequest| {
                let id = id_of(&r);
                scim::get(s, p, r, id, kind)
            }))
            .route(web::put().to(move |s, p, r: HttpRequest, b| {
                let id = id_of(&r);
                scim::update(s, p, r, b, id, kind)
            }))
            .route(web::patch().to(move |s, p, r: HttpRequest, b| {
                let id = id_of(&r);
                scim::update(s, p, r, b, id, kind)
            }))
            .route(web::delete().to(move |s, p, r: HttpRequest| {
                let id = id_of(&r);
                scim::delete(s, p, r, id, kind)
            }))
            .default_service(web::to(discovery::method_not_allowed)),
    );
}
