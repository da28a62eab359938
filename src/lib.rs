//! gatepass: the checkpoint daemon of a closed-off community.
//!
//! `domain` is the pure core (passes, rules, decisions, the event chain);
//! everything else is a thin layer of I/O around it.

pub mod domain;
pub mod clock;
pub mod config;
pub mod gate;
pub mod keys;
pub mod store;
