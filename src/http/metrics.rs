//! `/metrics` in the Prometheus text format: request counts and latencies by route and status
//! (kept here, per application), the services' counters (SCIM writes, OAuth grants) and the
//! outbox read from the database at each scrape.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use super::AppState;
use crate::metrics::Counter;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut series) = self.series.lock() else {
            return;
        };
        let s = series
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self) -> String {
        let Ok(series) = self.series.lock() else {
            return String::new();
        };
        let mut out = String::from("# HELP roster_http_requests_total HTTP requests by method, route and status.\n# TYPE roster_http_requests_total counter\n");
        for ((m, r, st), s) in series.iter() {
            out.push_str(&format!(
                "roster_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {}\n",
                s.count
            ));
        }
        out.push_str("# HELP roster_http_request_duration_seconds HTTP request latency.\n# TYPE roster_http_request_duration_seconds histogram\n");
        for ((m, r, st), s) in series.iter() {
            let labels = format!("method=\"{m}\",route=\"{r}\",status=\"{st}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "roster_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}\n",
                    s.buckets[i]
                ));
            }
            out.push_str(&format!(
                "roster_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n",
                s.count
            ));
            out.push_str(&format!(
                "roster_http_request_duration_seconds_sum{{{labels}}} {}\n",
                s.sum
            ));
            out.push_str(&format!(
                "roster_http_request_duration_seconds_count{{{labels}}} {}\n",
                s.count
            ));
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(names: &[&str], values: &[String]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A counter's series under `name`.
pub fn render_counter(name: &str, help: &str, names: &[&str], counter: &Counter) -> String {
    let mut out = format!("# HELP {name} {help}\n# TYPE {name} counter\n");
    for (values, n) in counter.snapshot() {
        out.push_str(&format!("{name}{{{}}} {n}\n", labels(names, &values)));
    }
    out
}

/// Unsent mail by status and the age of the oldest, from `(status, count, oldest created)`.
pub fn render_outbox(stats: &[(String, i64, Option<String>)]) -> String {
    let now = chrono::Utc::now();
    let mut out = String::from(
        "# HELP roster_outbox_mails Mail not yet sent, by status.\n# TYPE roster_outbox_mails gauge\n",
    );
    for status in ["pending", "sending", "failed"] {
        let n = stats.iter().find(|s| s.0 == status).map_or(0, |s| s.1);
        out.push_str(&format!("roster_outbox_mails{{status=\"{status}\"}} {n}\n"));
    }
    out.push_str("# HELP roster_outbox_oldest_age_seconds Age of the oldest mail not yet sent, by status.\n# TYPE roster_outbox_oldest_age_seconds gauge\n");
    for (status, _, oldest) in stats {
        let age = oldest
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(0, |t| {
                (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0)
            });
        out.push_str(&format!(
            "roster_outbox_oldest_age_seconds{{status=\"{}\"}} {age}\n",
            escape(status)
        ));
    }
    out
}

/// Middleware: labels by the matched route pattern, so ids do not explode cardinality.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(state) = state {
        state.metrics.observe(
            &method,
            &route,
            res.status().as_u16(),
            start.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}
