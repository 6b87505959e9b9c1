//! Prometheus metrics: request counts and latencies per route, and store pool gauges.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::stores::Stores;

/// Latency buckets, in seconds: sub-millisecond to the shutdown timeout.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often recorded latencies are folded into the histograms.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the recorder, and a task that folds recorded latencies into the histograms every few
/// seconds: the exporter keeps every sample until then, and does it by itself only when scraped,
/// so a server that is never scraped would keep them all (memory that grows with every request).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("http_request_duration_seconds".into()), BUCKETS)?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// A client connection was accepted.
pub fn connection_opened() {
    metrics::gauge!("http_connections_open").increment(1.0);
}

/// A client connection closed (finished, failed, or cut off at a deadline).
pub fn connection_closed() {
    metrics::gauge!("http_connections_open").decrement(1.0);
}

pub fn record_request(route: &'static str, method: &str, status: u16, elapsed: Duration) {
    let labels = [("route", route.to_string()), ("method", method.to_string()), ("status", status.to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
}

/// Renders the metrics, with the pool gauges read at scrape time.
pub fn render(handle: &PrometheusHandle, stores: &Stores) -> String {
    let (sql_size, sql_idle) = stores.sql.pool_state();
    let (kv_size, kv_idle) = stores.kv.pool_state();
    for (store, size, idle) in [("sql", sql_size, sql_idle), ("kv", kv_size, kv_idle)] {
        metrics::gauge!("store_pool_connections", "store" => store, "state" => "idle").set(idle as f64);
        metrics::gauge!("store_pool_connections", "store" => store, "state" => "in_use").set(size.saturating_sub(idle as u32) as f64);
    }
    for (store, down) in [("sql", stores.sql.is_down()), ("kv", stores.kv.is_down())] {
        metrics::gauge!("store_down", "store" => store).set(if down { 1.0 } else { 0.0 });
    }
    handle.render()
}
