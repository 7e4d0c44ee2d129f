//! Reading CUR 2.0: the rules that need no I/O (usage-type decoding, units).

pub mod usage_type;
pub mod attribution;
pub mod facts;
pub mod views;
pub mod source;
pub mod delivery;
