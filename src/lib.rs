//! gatepass: the checkpoint daemon of a closed-off community.
//!
//! `domain` is the pure core (passes, rules, decisions, the event chain);
//! everything else is a thin layer of I/O around it.

pub mod domain;
pub mod hw;
