//! Identifier generation, as a port, so generated ids are predictable in tests.

use std::sync::atomic::{AtomicU64, Ordering};

pub trait IdGenerator: Send + Sync {
    /// A new id, unique within this generator. Production ids sort by creation time.
    fn next_id(&self) -> String;
}

/// UUIDv7: time-ordered, so ids used in sort keys list in creation order.
pub struct UuidV7Ids;

impl IdGenerator for UuidV7Ids {
    fn next_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

/// `prefix-000001`, `prefix-000002`, …: deterministic and still sortable.
pub struct SequentialIds {
    prefix: String,
    next: AtomicU64,
}

impl SequentialIds {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into(), next: AtomicU64::new(1) }
    }
}

impl IdGenerator for SequentialIds {
    fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n:06}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_are_deterministic_and_sorted() {
        let ids = SequentialIds::new("req");
        let a: Vec<String> = (0..3).map(|_| ids.next_id()).collect();
        assert_eq!(a, ["req-000001", "req-000002", "req-000003"]);
    }

    #[test]
    fn uuid_v7_ids_are_unique_and_time_ordered() {
        let a = UuidV7Ids.next_id();
        let b = UuidV7Ids.next_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!(a[..13] <= b[..13], "{a} then {b}");
    }
}
