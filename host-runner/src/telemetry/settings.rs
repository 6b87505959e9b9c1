//! The `OTEL_*` variables host-runner reads (the OpenTelemetry specification's names, so that
//! `spin up`, SpinKube and host-runner are configured alike), as `serve` options.

use clap::{Args, Command, ValueEnum};
use opentelemetry_sdk::trace::Sampler;

// OpenTelemetry's environment variables. (A doc comment here would become `serve`'s own
// description.) The SDK reads a few more by itself: see the endpoint's help.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "OpenTelemetry traces (off unless an OTLP endpoint is set)")]
pub struct TelemetryArgs {
    /// OTLP collector for traces, e.g. `http://otel-collector:4318` (http/protobuf: `/v1/traces`
    /// is appended) or `http://otel-collector:4317` (grpc). Empty: no traces. The SDK also reads
    /// OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    /// OTEL_BSP_EXPORT_TIMEOUT, OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT
    /// and OTEL_RESOURCE_ATTRIBUTES.
    #[arg(long = "otel-exporter-otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", default_value = "")]
    pub endpoint: String,
    /// The traces URL, used as it is (`http://otel-collector:4318/v1/traces`); wins over
    /// OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long = "otel-exporter-otlp-traces-endpoint", env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", default_value = "")]
    pub traces_endpoint: String,
    /// `http/protobuf` (default) or `grpc`.
    #[arg(long = "otel-exporter-otlp-protocol", env = "OTEL_EXPORTER_OTLP_PROTOCOL", value_enum)]
    pub protocol: Option<Protocol>,
    /// The protocol for traces; wins over OTEL_EXPORTER_OTLP_PROTOCOL.
    #[arg(long = "otel-exporter-otlp-traces-protocol", env = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", value_enum)]
    pub traces_protocol: Option<Protocol>,
    /// The `service.name` of the spans; empty: OTEL_RESOURCE_ATTRIBUTES' service.name, else
    /// `spincrud`.
    #[arg(long = "otel-service-name", env = "OTEL_SERVICE_NAME", default_value = "")]
    pub service_name: String,
    /// Which traces to record: `parentbased_always_on` (default: all, unless the caller's
    /// traceparent says not sampled), `parentbased_traceidratio` (OTEL_TRACES_SAMPLER_ARG of
    /// them), `always_on`, `always_off`, `traceidratio`, `parentbased_always_off`.
    #[arg(long = "otel-traces-sampler", env = "OTEL_TRACES_SAMPLER", value_enum, default_value = "parentbased_always_on")]
    pub sampler: SamplerName,
    /// The ratio of the `*traceidratio` samplers, 0 to 1 (default 1).
    #[arg(long = "otel-traces-sampler-arg", env = "OTEL_TRACES_SAMPLER_ARG")]
    pub sampler_arg: Option<f64>,
    /// `otlp` (default) or `none` (no traces).
    #[arg(long = "otel-traces-exporter", env = "OTEL_TRACES_EXPORTER", value_enum, default_value = "otlp")]
    pub traces_exporter: ExporterName,
    /// `true`: no traces, whatever else is set.
    #[arg(long = "otel-sdk-disabled", env = "OTEL_SDK_DISABLED", default_value = "false", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub sdk_disabled: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    #[value(name = "grpc")]
    Grpc,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[value(rename_all = "snake_case")]
pub enum SamplerName {
    AlwaysOn,
    AlwaysOff,
    Traceidratio,
    #[default]
    ParentbasedAlwaysOn,
    ParentbasedAlwaysOff,
    ParentbasedTraceidratio,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExporterName {
    #[default]
    Otlp,
    None,
}

/// Where and how spans are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoint: String,
    pub protocol: Protocol,
}

impl TelemetryArgs {
    /// Unsets the variables above that are set but empty: OpenTelemetry's specification treats
    /// an empty value as unset, where clap would refuse it (`OTEL_TRACES_SAMPLER=`). Call it
    /// before any thread starts.
    pub fn unset_empty_variables() {
        for arg in Self::augment_args(Command::new("serve")).get_arguments() {
            if let Some(name) = arg.get_env() {
                if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
                    std::env::remove_var(name);
                }
            }
        }
    }

    /// The export target, or `None` when traces are off.
    pub fn target(&self) -> anyhow::Result<Option<Target>> {
        if self.sdk_disabled || self.traces_exporter == ExporterName::None {
            return Ok(None);
        }
        let protocol = self.traces_protocol.or(self.protocol).unwrap_or_default();
        let (traces, general) = (self.traces_endpoint.trim(), self.endpoint.trim());
        let endpoint = if !traces.is_empty() {
            traces.to_owned()
        } else if general.is_empty() {
            return Ok(None);
        } else if protocol == Protocol::HttpProtobuf {
            // The specification: the signal's path is appended to the base URL.
            format!("{}/v1/traces", general.trim_end_matches('/'))
        } else {
            general.to_owned()
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            anyhow::bail!("OpenTelemetry: the OTLP endpoint `{endpoint}` must start with http:// or https://");
        }
        Ok(Some(Target { endpoint, protocol }))
    }

    /// The service name to set, or `None` to leave it to OTEL_RESOURCE_ATTRIBUTES.
    pub fn service_name(&self) -> Option<String> {
        let name = self.service_name.trim();
        if !name.is_empty() {
            return Some(name.to_owned());
        }
        let attributes = std::env::var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
        let named = attributes.split(',').any(|kv| kv.split_once('=').is_some_and(|(k, _)| k.trim() == "service.name"));
        (!named).then(|| "spincrud".to_owned())
    }

    pub fn sampler(&self) -> Sampler {
        let ratio = self.sampler_arg.filter(|r| (0.0..=1.0).contains(r)).unwrap_or(1.0);
        match self.sampler {
            SamplerName::AlwaysOn => Sampler::AlwaysOn,
            SamplerName::AlwaysOff => Sampler::AlwaysOff,
            SamplerName::Traceidratio => Sampler::TraceIdRatioBased(ratio),
            SamplerName::ParentbasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            SamplerName::ParentbasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            SamplerName::ParentbasedTraceidratio => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(endpoint: &str, traces_endpoint: &str, protocol: Option<Protocol>) -> TelemetryArgs {
        TelemetryArgs { endpoint: endpoint.into(), traces_endpoint: traces_endpoint.into(), protocol, ..Default::default() }
    }

    #[test]
    fn endpoints_resolve_as_the_specification_says() {
        assert_eq!(args("", "", None).target().unwrap(), None);
        let t = args("http://c:4318/", "", None).target().unwrap().unwrap();
        assert_eq!((t.endpoint.as_str(), t.protocol), ("http://c:4318/v1/traces", Protocol::HttpProtobuf));
        let t = args("http://c:4317", "", Some(Protocol::Grpc)).target().unwrap().unwrap();
        assert_eq!(t.endpoint, "http://c:4317");
        let t = args("http://c:4318", "http://t:9/custom", None).target().unwrap().unwrap();
        assert_eq!(t.endpoint, "http://t:9/custom");
        assert!(args("c:4318", "", None).target().is_err());
        let off = TelemetryArgs { sdk_disabled: true, ..args("http://c:4318", "", None) };
        assert_eq!(off.target().unwrap(), None);
        let none = TelemetryArgs { traces_exporter: ExporterName::None, ..args("http://c:4318", "", None) };
        assert_eq!(none.target().unwrap(), None);
    }

    #[test]
    fn the_service_is_spincrud_unless_named() {
        assert_eq!(TelemetryArgs { service_name: "api".into(), ..Default::default() }.service_name().as_deref(), Some("api"));
        if std::env::var_os("OTEL_RESOURCE_ATTRIBUTES").is_none() {
            assert_eq!(TelemetryArgs::default().service_name().as_deref(), Some("spincrud"));
        }
    }
}
