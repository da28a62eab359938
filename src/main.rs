// The same guard rails as the library (src/lib.rs).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use clap::Parser;

fn main() {
    let cli = gatepass::cli::Cli::parse();
    if !cli.command.is_daemon() {
        // A one-shot command piped into `head` should end quietly when the
        // reader goes away, as other Unix tools do, instead of panicking in
        // println!. Daemons keep Rust's default (SIGPIPE ignored): a client
        // closing its socket must never kill the gate.
        // SAFETY: restoring the default disposition of one signal, before any
        // thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let code = match gatepass::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            gatepass::cli::exit::ERROR
        }
    };
    std::process::exit(code);
}
