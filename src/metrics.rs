//! Counters the services keep in process for `/metrics` (the HTTP layer renders them in the
//! Prometheus text format). One set per application, so two servers in one process do not mix.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// A counter with labels: one monotonically growing value per combination of label values.
#[derive(Debug, Default)]
pub struct Counter {
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl Counter {
    /// Adds one to the series of these label values (in the order the counter names them).
    pub fn add(&self, labels: &[&str]) {
        let key = labels.iter().map(|l| (*l).to_owned()).collect();
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        *values.entry(key).or_default() += 1;
    }

    /// Every series, in label order.
    pub fn snapshot(&self) -> Vec<(Vec<String>, u64)> {
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        values.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// Who may read `/metrics` on the address a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Served as it is.
    Open,
    /// Served to a scraper that presents `metrics_token`.
    TokenRequired,
    /// Not served here, and why.
    Hidden(&'static str),
}

/// The rule for `/metrics`: `on_metrics_address` is `None` without `metrics_bind`, else whether
/// the request came to that address. Metrics name every connection, so without a token and
/// without a separate address they are served to loopback clients only.
pub fn exposure(
    on_metrics_address: Option<bool>,
    token_set: bool,
    from_loopback: bool,
) -> Exposure {
    match (on_metrics_address, token_set, from_loopback) {
        (Some(false), _, _) => Exposure::Hidden("/metrics is served on the metrics_bind address"),
        (_, true, _) => Exposure::TokenRequired,
        (Some(true), false, _) | (None, false, true) => Exposure::Open,
        (None, false, false) => Exposure::Hidden(
            "/metrics answers loopback clients only: set metrics_token or metrics_bind",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_served_to_loopback_a_token_holder_or_on_their_own_address() {
        assert_eq!(exposure(None, false, true), Exposure::Open);
        assert!(matches!(exposure(None, false, false), Exposure::Hidden(_)));
        assert_eq!(exposure(None, true, false), Exposure::TokenRequired);
        assert_eq!(exposure(Some(true), false, false), Exposure::Open);
        assert_eq!(exposure(Some(true), true, false), Exposure::TokenRequired);
        assert!(matches!(
            exposure(Some(false), false, true),
            Exposure::Hidden(_)
        ));
        assert!(matches!(
            exposure(Some(false), true, true),
            Exposure::Hidden(_)
        ));
    }

    #[test]
    fn counts_per_label_combination() {
        let c = Counter::default();
        c.add(&["a", "x"]);
        c.add(&["a", "x"]);
        c.add(&["b", "x"]);
        assert_eq!(
            c.snapshot(),
            vec![
                (vec!["a".to_owned(), "x".to_owned()], 2),
                (vec!["b".to_owned(), "x".to_owned()], 1)
            ]
        );
    }
}
