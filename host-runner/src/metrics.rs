//! Prometheus metrics: request counts and latencies per route, store pool gauges, and the wasm
//! engine's per-component figures (requests, latency, instantiation time, instances in use,
//! traps, timeouts, memory-cap hits).

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::stores::Stores;

/// Latency buckets, in seconds: sub-millisecond to the shutdown timeout.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Instantiation buckets, in seconds: tens of microseconds (a pooled, copy-on-write instance)
/// to a second.
const INSTANTIATION_BUCKETS: &[f64] = &[0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1.0];

/// How often recorded latencies are folded into the histograms.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the recorder, and a task that folds recorded latencies into the histograms every few
/// seconds: the exporter keeps every sample until then, and does it by itself only when scraped,
/// so a server that is never scraped would keep them all (memory that grows with every request).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("http_request_duration_seconds".into()), BUCKETS)?
        .set_buckets_for_metric(Matcher::Full("wasm_component_duration_seconds".into()), BUCKETS)?
        .set_buckets_for_metric(Matcher::Full("wasm_instantiation_duration_seconds".into()), INSTANTIATION_BUCKETS)?
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

/// Why a component's request failed, as `wasm_component_failures_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmFailure {
    /// The instance trapped (or could not be made).
    Trap,
    /// The deadline (`--wasm-timeout`) passed.
    Timeout,
    /// The instance asked for more memory than `--wasm-memory-limit-mb` allows.
    MemoryLimit,
    /// Every instance slot was in use (`--wasm-max-instances`).
    PoolExhausted,
    /// The component set an error, no response, or a broken body.
    NoResponse,
}

impl WasmFailure {
    const ALL: [WasmFailure; 5] = [WasmFailure::Trap, WasmFailure::Timeout, WasmFailure::MemoryLimit, WasmFailure::PoolExhausted, WasmFailure::NoResponse];

    pub fn name(self) -> &'static str {
        match self {
            WasmFailure::Trap => "trap",
            WasmFailure::Timeout => "timeout",
            WasmFailure::MemoryLimit => "memory_limit",
            WasmFailure::PoolExhausted => "pool_exhausted",
            WasmFailure::NoResponse => "no_response",
        }
    }
}

/// The wasm engine's metrics for one component, registered when it is loaded so that a
/// request only updates atomics (and looks up its status's counter).
pub struct ComponentMetrics {
    component: String,
    duration: Histogram,
    instantiation: Histogram,
    in_use: Gauge,
    failures: [Counter; 5],
    memory_grows: Counter,
}

impl ComponentMetrics {
    pub fn register(component: &str) -> ComponentMetrics {
        let label = || ("component", component.to_owned());
        ComponentMetrics {
            component: component.to_owned(),
            duration: metrics::histogram!("wasm_component_duration_seconds", &[label()]),
            instantiation: metrics::histogram!("wasm_instantiation_duration_seconds", &[label()]),
            in_use: metrics::gauge!("wasm_instances_in_use", &[label()]),
            failures: WasmFailure::ALL.map(|f| metrics::counter!("wasm_component_failures_total", &[label(), ("kind", f.name().to_owned())])),
            memory_grows: metrics::counter!("wasm_memory_grows_total", &[label()]),
        }
    }

    /// An instance is being made; it counts as in use until the guard is dropped.
    pub fn instance(&self) -> InstanceInUse {
        self.in_use.increment(1.0);
        InstanceInUse(self.in_use.clone())
    }

    pub fn instantiated(&self, elapsed: Duration) {
        self.instantiation.record(elapsed.as_secs_f64());
    }

    /// An instance's memory grew `n` times past its initial size while it served (each growth
    /// costs Spin far more than a larger start would: the components are sized not to grow).
    pub fn memory_grew(&self, n: u64) {
        self.memory_grows.increment(n);
    }

    /// A request the component answered (or failed), from routing to its response's last byte.
    pub fn finished(&self, status: u16, elapsed: Duration, failure: Option<WasmFailure>) {
        metrics::counter!("wasm_component_requests_total", "component" => self.component.clone(), "status" => status.to_string()).increment(1);
        self.duration.record(elapsed.as_secs_f64());
        if let Some(failure) = failure {
            self.failures[WasmFailure::ALL.iter().position(|f| *f == failure).unwrap_or(0)].increment(1);
        }
    }
}

/// Keeps `wasm_instances_in_use` raised while an instance lives.
pub struct InstanceInUse(Gauge);

impl Drop for InstanceInUse {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The instance pool's size (`--wasm-max-instances`), beside `wasm_instances_in_use`.
pub fn wasm_instance_slots(slots: u32) {
    metrics::gauge!("wasm_instances_max").set(f64::from(slots));
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
