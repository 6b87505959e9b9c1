//! host-runner: a thin shell over spincrud's core and its store adapters.

// The futures of a request nest deeply (core → store enum → adapter → its span): their layouts
// need more than the default 128 levels of queries.
#![recursion_limit = "256"]

mod cli;
mod import;
mod metrics;
mod migrate;
mod probe;
mod server;
mod stores;
mod telemetry;
mod wasm;

use clap::{Args as _, CommandFactory as _, FromArgMatches as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};
use stores::Stores;
use telemetry::{Telemetry, TelemetryArgs};

fn main() -> anyhow::Result<()> {
    let (cli, telemetry_args) = parse_command_line();
    if let Command::Probe { url, timeout } = &cli.command {
        // No log lines and no thread pool: a probe runs often, and says only what failed.
        std::process::exit(probe::run(url, *timeout));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Traces are for `serve`; the exporter's connections live on the runtime.
    let telemetry = match (&cli.command, &telemetry_args) {
        (Command::Serve(args), Some(otel)) => {
            let _context = runtime.enter();
            Telemetry::start(otel, &format!("{:?}", args.engine).to_lowercase())?
        }
        _ => Telemetry::off(),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    telemetry.subscriber(filter).init();
    telemetry.announce();
    let result = runtime.block_on(async {
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
    });
    // The runtime's workers still run: the last exports use them.
    telemetry.shutdown();
    result
}

/// The command line, with the OpenTelemetry options added to `serve`.
fn parse_command_line() -> (Cli, Option<TelemetryArgs>) {
    TelemetryArgs::unset_empty_variables();
    let command = Cli::command().mut_subcommand("serve", TelemetryArgs::augment_args);
    let matches = command.get_matches();
    let parsed = Cli::from_arg_matches(&matches).and_then(|cli| {
        let otel = matches.subcommand_matches("serve").map(TelemetryArgs::from_arg_matches).transpose()?;
        Ok((cli, otel))
    });
    parsed.unwrap_or_else(|e| e.exit())
}
