//! host-runner: a thin shell over spincrud's core and its store adapters.

mod cli;
mod import;
mod metrics;
mod migrate;
mod probe;
mod server;
mod stores;
mod wasm;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};
use stores::Stores;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Probe { url, timeout } = &cli.command {
        // No log lines and no thread pool: a probe runs often, and says only what failed.
        std::process::exit(probe::run(url, *timeout));
    }
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .with_writer(std::io::stdout)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => server::serve(args).await,
            Command::Migrate(args) => {
                let stores = Stores::open(&args.settings()).await?;
                migrate::apply_with_retry(&stores.sql).await?;
                stores.close().await;
                Ok(())
            }
            Command::Import { what, stores } => {
                let stores = Stores::open(&stores.settings()).await?;
                migrate::apply_with_retry(&stores.sql).await?;
                let result = import::run(what, &stores).await;
                stores.close().await;
                result
            }
            Command::Probe { .. } => unreachable!("handled before the runtime starts"),
        }
    })
}
