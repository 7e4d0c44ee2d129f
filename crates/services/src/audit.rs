//! Writing the governance record: an audit record is a store item put in the same
//! transaction as the change it describes, so neither can exist without the other.

use domain::AuditRecord;

use crate::ports::store::{Attributes, Condition, ItemData, ItemKey, WriteOp};

/// The partition holding an entity's history, in time order.
pub fn audit_partition(kind: &str, id: &str) -> String {
    format!("AUDIT#{kind}#{id}")
}

/// The transaction operation that appends `record`. `unique` (an id from the
/// IdGenerator) keeps two records at the same instant apart; the put is
/// must-not-exist, so a record can never overwrite another.
pub fn append_op(record: &AuditRecord, unique: &str) -> Result<WriteOp, serde_json::Error> {
    let attrs = match serde_json::to_value(record)? {
        serde_json::Value::Object(map) => map,
        _ => Attributes::new(),
    };
    let key = ItemKey::new(
        audit_partition(&record.entity.kind, &record.entity.id),
        format!("{}#{unique}", record.at.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
    );
    Ok(WriteOp::Put { item: ItemData::new(key, attrs), condition: Condition::MustNotExist })
}

/// Reads a stored audit item back.
pub fn from_attrs(attrs: &Attributes) -> Result<AuditRecord, serde_json::Error> {
    serde_json::from_value(serde_json::Value::Object(attrs.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use domain::{Actor, EntityRef, Persona, UserId};

    #[test]
    fn audit_records_round_trip_and_sort_by_time() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let rec = |t: &str| AuditRecord {
            entity: EntityRef::new("business_request", "r-1"),
            action: "approve".into(),
            from_state: Some("Submitted".into()),
            to_state: Some("Approved".into()),
            actor: Actor::new(UserId::parse("fl@example.com").unwrap(), Persona::FinOpsLead, vec![]),
            at: at(t),
            rationale: Some("fits the budget".into()),
            correlation_id: "c-1".into(),
        };
        let early = append_op(&rec("2026-01-05T09:00:00Z"), "id-2").unwrap();
        let late = append_op(&rec("2026-01-05T10:00:00Z"), "id-1").unwrap();
        assert!(early.key().sk < late.key().sk);
        assert_eq!(early.key().pk, "AUDIT#business_request#r-1");
        let WriteOp::Put { item, condition } = early else { panic!("a put") };
        assert_eq!(condition, Condition::MustNotExist);
        assert_eq!(from_attrs(&item.attrs).unwrap(), rec("2026-01-05T09:00:00Z"));
    }
}
