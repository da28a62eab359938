use clap::Parser;

fn main() {
    let cli = gatepass::cli::Cli::parse();
    let code = match gatepass::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            gatepass::cli::exit::ERROR
        }
    };
    std::process::exit(code);
}
