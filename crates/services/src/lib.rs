//! Application services and the ports they own.
//!
//! The ports are narrow traits the services call to reach the outside world; each
//! adapter crate implements one of them, and `contract-tests` proves every
//! implementation of a port behaves the same. Services never see SDK types.

pub mod audit;
pub mod governance;
pub mod ports;
pub mod routing;
