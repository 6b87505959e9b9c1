//! OpenTelemetry traces, configured by the standard `OTEL_*` variables (as Spin is), and off
//! unless an OTLP endpoint is set.
//!
//! Spans are ordinary `tracing` spans with OpenTelemetry's field names (`otel.name`,
//! `otel.kind`, `http.route`, `db.system`, ...): the server span per request (`http`), a span
//! per store operation (`db`, called by the native engine's store adapters and by the wasm
//! engine's host interfaces), and the wasm engine's instantiation and execution spans. Only the
//! OpenTelemetry layer takes spans; the JSON log takes events only. So with telemetry off no
//! layer wants a span, every span callsite is disabled once, and creating one costs a cached
//! check: no allocation, no field formatted.
//!
//! With telemetry on, spans are handed to the SDK's batch processor (a bounded queue, drained
//! by its own thread) when they end: exporting never blocks a request, and an unreachable
//! collector costs a warning in the log (`export`) and dropped spans.

mod export;
mod settings;

pub mod db;
pub mod http;

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{FilterExt as _, Targets};
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

pub use settings::TelemetryArgs;

/// How long shutdown waits for the last spans to be exported.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// The running exporter, if any.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    /// What was configured, for the log line once logging is set up.
    summary: Option<String>,
}

impl Telemetry {
    pub fn off() -> Telemetry {
        Telemetry { provider: None, summary: None }
    }

    /// Starts the exporter that `args` configures, or nothing. Call it inside the Tokio
    /// runtime's context: the exporters' connections live on that runtime. `engine` becomes the
    /// resource attribute `spincrud.engine`.
    pub fn start(args: &TelemetryArgs, engine: &str) -> anyhow::Result<Telemetry> {
        let Some(target) = args.target()? else {
            return Ok(Telemetry::off());
        };
        let exporter = export::exporter(&target, tokio::runtime::Handle::current())?;
        let mut resource = Resource::builder()
            .with_attributes([KeyValue::new("service.version", env!("CARGO_PKG_VERSION")), KeyValue::new("spincrud.engine", engine.to_owned())]);
        let service_name = args.service_name();
        if let Some(name) = &service_name {
            resource = resource.with_service_name(name.clone());
        }
        let provider = SdkTracerProvider::builder()
            .with_resource(resource.build())
            .with_sampler(args.sampler())
            // OTEL_BSP_* configure the batches (queue size, delay, batch size, timeout).
            .with_batch_exporter(exporter)
            .build();
        let summary = format!("{} ({}), service {}", target.endpoint, target.protocol.name(), service_name.as_deref().unwrap_or("from OTEL_RESOURCE_ATTRIBUTES"));
        Ok(Telemetry { provider: Some(provider), summary: Some(summary) })
    }

    /// host-runner's subscriber: one JSON line per event on stdout (`filter`: RUST_LOG), and
    /// spans to OpenTelemetry when it exports.
    pub fn subscriber(&self, filter: EnvFilter) -> impl Subscriber + Send + Sync {
        let log = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stdout)
            .with_filter(filter.and(Only::Events));
        tracing_subscriber::registry().with(log).with(self.layer())
    }

    /// The layer that turns host-runner's spans into OpenTelemetry spans. Off, it is an empty
    /// layer behind a filter that wants nothing: a layer without a filter of its own (even an
    /// absent one) would make every span callsite "sometimes" enabled, and then enabled.
    fn layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let layer = self.provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("host-runner"))
                // Fewer attributes and no clock reads per poll: the request path stays cheap.
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
        });
        // host-runner's own spans only: not hyper's, h2's or sqlx's, and no events (the JSON
        // log has them).
        let wanted = match layer {
            Some(_) => Targets::new().with_target("host_runner", tracing::Level::INFO),
            None => Targets::new(),
        };
        layer.with_filter(wanted.and(Only::Spans))
    }

    /// Logs what is exported where (call once logging is set up).
    pub fn announce(&self) {
        if let Some(summary) = &self.summary {
            tracing::info!(exporter = %summary, "exporting OpenTelemetry traces");
        }
    }

    /// Exports what is still queued (bounded: a dead collector does not hold up the exit).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
                tracing::warn!(error = %e, "OpenTelemetry: the last spans may not have been exported");
            }
        }
    }
}

/// A filter that passes spans only (the OpenTelemetry layer) or events only (the JSON log: spans
/// are OpenTelemetry's, and the log line format stays what it is without them).
#[derive(Clone, Copy)]
enum Only {
    Spans,
    Events,
}

impl Only {
    fn wants(self, meta: &Metadata<'_>) -> bool {
        match self {
            Only::Spans => meta.is_span(),
            Only::Events => meta.is_event(),
        }
    }
}

impl<S> Filter<S> for Only {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if self.wants(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With telemetry off, no layer wants a span: creating one is a disabled-callsite check,
    /// while the log's events stay enabled. With telemetry on, host-runner's spans are recorded,
    /// other crates' are not. (One test: callsite interest is shared by every live subscriber,
    /// so these two must not run side by side.)
    #[test]
    fn spans_are_recorded_only_when_exporting() {
        tracing::subscriber::with_default(Telemetry::off().subscriber(EnvFilter::new("trace")), || {
            assert!(db::sql("sqlite", "SELECT 1").is_disabled());
            assert!(tracing::info_span!("anything").is_disabled());
            assert!(tracing::event_enabled!(tracing::Level::INFO));
        });
        let exporting = Telemetry { provider: Some(SdkTracerProvider::builder().build()), summary: None };
        tracing::subscriber::with_default(exporting.subscriber(EnvFilter::new("info")), || {
            assert!(!db::sql("sqlite", "SELECT 1").is_disabled());
            assert!(tracing::info_span!(target: "hyper::proto", "read").is_disabled());
            assert!(tracing::debug_span!("detail").is_disabled());
        });
    }
}
