//! `oam-apiserver-double [--port N]`: runs the API server double in the foreground and
//! prints its URL, for manual use and load drivers.

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => {
                port = args
                    .next()
                    .context("--port needs a value")?
                    .parse()
                    .context("--port must be a number")?;
            }
            "-h" | "--help" => {
                println!("usage: oam-apiserver-double [--port N]");
                return Ok(());
            }
            other => {
                anyhow::bail!("unknown argument {other:?}; usage: oam-apiserver-double [--port N]")
            }
        }
    }
    let server = oam_apiserver_double::ApiServer::start_on(port)
        .context("starting the API server double")?;
    println!("{}", server.url());
    // Serve until killed.
    loop {
        std::thread::park();
    }
}
