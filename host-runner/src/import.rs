//! `host-runner import`: bulk loads through the core's own validation and writes, with progress.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use spincrud_core::data::Records;
use spincrud_core::problem::ApiError;
use spincrud_core::resource::definitions::PASSENGERS;
use spincrud_core::resource::handlers::{insert_all, parse_csv};

use crate::cli::ImportCommand;
use crate::stores::Stores;

/// Rows per transaction: each batch is all-or-nothing, and the bar moves once per batch.
const BATCH: usize = 500;

pub async fn run(what: ImportCommand, stores: &Stores) -> anyhow::Result<()> {
    match what {
        ImportCommand::Data { file } => {
            let text = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let body: serde_json::Value = serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", file.display()))?;
            // Every record is checked before any is written.
            let records = Records::prepare(&body).map_err(explain)?;
            let bar = progress(records.len() as u64, "records");
            for batch in records.batches(BATCH) {
                batch.store(&stores.kv).await.map_err(|e| explain(e.into()))?;
                bar.inc(batch.len() as u64);
            }
            bar.finish_with_message("records loaded");
        }
        ImportCommand::Passengers { file } => {
            let text = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let rows = parse_csv(&PASSENGERS, &text).map_err(explain)?;
            let bar = progress(rows.len() as u64, "passengers");
            for batch in rows.chunks(BATCH) {
                insert_all(&stores.sql, &PASSENGERS, batch.to_vec(), true).await.map_err(explain)?;
                bar.inc(batch.len() as u64);
            }
            bar.finish_with_message("passengers imported");
        }
    }
    Ok(())
}

fn progress(len: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({eta})").expect("valid template"));
    bar.set_message(what);
    bar
}

/// Turns an API error into the same problem text a client would read.
fn explain(e: ApiError) -> anyhow::Error {
    let resp = e.into_response();
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap_or_default();
    match serde_json::to_string_pretty(&body) {
        Ok(text) => anyhow::anyhow!("import refused ({}):\n{text}", resp.status()),
        Err(_) => anyhow::anyhow!("import refused ({})", resp.status()),
    }
}

