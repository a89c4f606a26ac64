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

#[cfg(test)]
mod tests {
    use super::*;

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
