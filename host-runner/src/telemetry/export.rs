//! The span exporter: OTLP over http/protobuf (hyper with rustls) or grpc (tonic), wrapped so
//! that a collector that does not answer costs one warning in the log, not one per batch.
//!
//! The SDK's batch processor exports from a thread of its own, outside the Tokio runtime; the
//! HTTP client needs the runtime's reactor, so each export is run on the runtime and awaited
//! from that thread. (tonic's channel already works that way.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use tokio::runtime::Handle;

use super::settings::{Protocol, Target};

/// The OTLP exporter for `target`.
pub fn exporter(target: &Target, runtime: Handle) -> anyhow::Result<Reporting<opentelemetry_otlp::SpanExporter>> {
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let exporter = match target.protocol {
        Protocol::HttpProtobuf => builder
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(&target.endpoint)
            .with_http_client(OnRuntime { client: https_client(export_timeout()), runtime })
            .build(),
        Protocol::Grpc => {
            let builder = builder.with_tonic().with_endpoint(&target.endpoint);
            let builder = if target.endpoint.starts_with("https://") {
                builder.with_tls_config(opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_webpki_roots())
            } else {
                builder
            };
            builder.build()
        }
    }
    .with_context(|| format!("OpenTelemetry: cannot export to {}", target.endpoint))?;
    Ok(Reporting { inner: exporter, endpoint: target.endpoint.clone(), failing: AtomicBool::new(false) })
}

/// OTEL_EXPORTER_OTLP_TRACES_TIMEOUT / OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds), default 10 s,
/// which the exporter applies to its own clients but not to one it is given.
fn export_timeout() -> Duration {
    ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"]
        .iter()
        .find_map(|var| std::env::var(var).ok()?.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// hyper with rustls (ring, the web PKI's roots) for `https://`, plain for `http://`.
fn https_client(timeout: Duration) -> HyperClient<Connector> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
    HyperClient::new(connector, timeout, None)
}

/// Runs each request on the Tokio runtime (see the module's comment).
#[derive(Debug)]
struct OnRuntime {
    client: HyperClient<Connector>,
    runtime: Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime.spawn(async move { client.send_bytes(request).await }).await?
    }
}

/// Logs the first failed export and the first success after failures; the batch processor
/// itself drops spans silently while the collector is away.
#[derive(Debug)]
pub struct Reporting<E> {
    inner: E,
    endpoint: String,
    failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(endpoint = %self.endpoint, error = %e, spans, "OpenTelemetry: cannot export spans; dropping them until the collector answers");
            }
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(endpoint = %self.endpoint, "OpenTelemetry: exporting spans again");
            }
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};

    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::Layer as _;

    use super::Reporting;

    /// A collector that is down while `down` says so.
    #[derive(Debug, Default)]
    struct Collector {
        down: Arc<AtomicBool>,
    }

    impl SpanExporter for Collector {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            if self.down.load(Ordering::Relaxed) {
                Err(OTelSdkError::InternalFailure("connection refused".into()))
            } else {
                Ok(())
            }
        }
    }

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_unreachable_collector_is_reported_once_and_its_return_too() {
        let log = Log::default();
        let writer = log.clone();
        // Events only: a subscriber that wanted spans would enable them for the other tests.
        let log_layer = tracing_subscriber::fmt::layer().with_writer(move || writer.clone()).with_filter(super::super::Only::Events);
        let _logging = tracing::subscriber::set_default(tracing_subscriber::registry().with(log_layer));
        let down = Arc::new(AtomicBool::new(true));
        let exporter = Reporting { inner: Collector { down: down.clone() }, endpoint: "http://collector:4318/v1/traces".into(), failing: AtomicBool::new(false) };
        for _ in 0..3 {
            assert!(exporter.export(Vec::new()).await.is_err());
        }
        down.store(false, Ordering::Relaxed);
        for _ in 0..2 {
            assert!(exporter.export(Vec::new()).await.is_ok());
        }
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("cannot export spans").count(), 1, "{text}");
        assert_eq!(text.matches("exporting spans again").count(), 1, "{text}");
    }
}
