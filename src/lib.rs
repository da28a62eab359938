//! gatepass: the checkpoint daemon of a closed-off community.
//!
//! `domain` is the pure core (passes, rules, decisions, the event chain);
//! everything else is a thin layer of I/O around it: `store` (all SQL),
//! `gate` (the operations on one data directory), `writer` (the single
//! writer thread with group commit), `http` (API and pages), `hw` (devices),
//! `cli` (commands).

pub mod auth;
pub mod bench;
pub mod cards;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod district;
pub mod domain;
pub mod export;
pub mod gate;
pub mod http;
pub mod hw;
pub mod hw_glue;
pub mod keys;
pub mod logging;
pub mod store;
pub mod web;
pub mod writer;
