//! The `oam-wasm` binary: parse the command line, start logging, hand over to
//! the library.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    // wasmtime and cranelift are chatty at debug level; keep them quiet
    // unless RUST_LOG asks for them by name.
    let cli = oam_wasm::cli::Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        oam_wasm::cli::LogFormat::Json => logs.json().init(),
        oam_wasm::cli::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match oam_wasm::cli::run(cli, &mut out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `oam-wasm render ... | head` is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
