//! gatepass: the checkpoint daemon of a closed-off community.
//!
//! `domain` is the pure core (passes, rules, decisions, the event chain);
//! everything else is a thin layer of I/O around it: `store` (all SQL),
//! `gate` (the operations on one data directory), `writer` (the single
//! writer thread with group commit), `scan` (deciding a scan from any
//! source), `http` (API and pages), `hw` (devices), `daemon` (start-up,
//! limits, signals, device glue), `cli` (commands).

// Guard rails (as kanidm does): outside tests, nothing in the crate may
// unwrap, expect, panic or index unchecked. Tests stay free to unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod auth;
pub mod bench;
pub mod cards;
pub mod cli;
pub mod clock;
pub mod config;
pub mod csv_cell;
pub mod daemon;
pub mod demo;
pub mod district;
pub mod domain;
pub mod export;
pub mod gate;
pub mod http;
pub mod hw;
pub mod keys;
pub mod ledger;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod paperwork;
pub mod scan;
pub mod store;
pub mod tls;
pub mod web;
pub mod writer;
pub mod xlsx;
