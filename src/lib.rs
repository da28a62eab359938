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
pub mod cards;
pub mod auth;
pub mod export;
pub mod cli;
pub mod http;
pub mod demo;
pub mod district;
