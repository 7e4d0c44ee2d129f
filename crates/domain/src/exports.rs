//! Tables that leave the system as files (FOCUS, chargeback): typed columns
//! and rows, with no file format. One writer per format (`crates/exports`)
//! turns any table into Parquet or CSV, so every export is written the same
//! way: decimals exact, times in UTC, empty cells null.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    /// An exact decimal (money, quantities, unit prices).
    Decimal,
    /// An instant, in UTC.
    Time,
}

/// One cell; `None` is null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(Option<String>),
    Decimal(Option<Decimal>),
    Time(Option<DateTime<Utc>>),
}

impl Value {
    pub fn column_type(&self) -> ColumnType {
        match self {
            Value::Text(_) => ColumnType::Text,
            Value::Decimal(_) => ColumnType::Decimal,
            Value::Time(_) => ColumnType::Time,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<(&'static str, ColumnType)>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// A column's position, by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| *n == name)
    }

    /// Every row has one cell per column, of the column's type: what a
    /// writer relies on (checked in tests of every table built).
    pub fn is_well_formed(&self) -> bool {
        self.rows.iter().all(|r| r.len() == self.columns.len() && r.iter().zip(&self.columns).all(|(v, (_, t))| v.column_type() == *t))
    }
}
