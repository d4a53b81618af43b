//! The proxy's log, on stderr always and, when an OTLP endpoint is given,
//! exported with OpenTelemetry: the request spans as traces, and the
//! events (the decision log first of all) as log records, so that a fleet
//! of proxies reports to the collector its operator already runs.
//!
//! Only the project's own targets (`mcp_policy::*`) are exported. The
//! exporter speaks HTTP through reqwest, whose own events, exported, would
//! make more exports; and a dependency's internals are not the operator's
//! business.

use std::time::Duration;

use tracing::Level;

use clap::{Args, ValueEnum};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{LogExporter, Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// The service name resources carry when `OTEL_SERVICE_NAME` does not say.
const SERVICE_NAME: &str = "mcp-policy-proxy";

/// Exported spans and events come from these targets only.
const EXPORTED_TARGETS: &str = "mcp_policy";

/// How long the export may take at shutdown before it is given up.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Args, Debug, Clone)]
pub struct OtlpArgs {
    /// Export the request spans and the decision log with OpenTelemetry to
    /// this OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (`/v1/traces`
    /// and `/v1/logs` are appended). Headers come from
    /// OTEL_EXPORTER_OTLP_HEADERS, the service name from OTEL_SERVICE_NAME
    /// (default mcp-policy-proxy). Default: none, nothing exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The OTLP/HTTP encoding. Default: http/protobuf.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", value_enum)]
    pub otlp_protocol: Option<OtlpProtocol>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// Protocol buffers, what collectors expect by default.
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    /// JSON.
    #[value(name = "http/json")]
    HttpJson,
}

/// The exporters' providers, flushed and shut down by [`Telemetry::finish`].
#[derive(Debug)]
pub struct Telemetry {
    export: Option<(SdkTracerProvider, SdkLoggerProvider)>,
}

impl Telemetry {
    /// Installs the process's subscriber: stderr, plus OTLP export when an
    /// endpoint is given. Call it outside an async runtime: the exporters
    /// run on threads of their own, with reqwest's blocking client.
    pub fn install(endpoint: Option<&str>, protocol: OtlpProtocol) -> Result<Telemetry, String> {
        let stderr = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(true)
            // Request spans are for the export; on stderr they would only
            // prefix every line. INFO and above, as the log always was.
            .with_filter(filter_fn(|metadata| {
                !metadata.is_span() && *metadata.level() <= Level::INFO
            }));
        let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![stderr.boxed()];
        let mut export = None;
        if let Some(endpoint) = endpoint.filter(|e| !e.is_empty()) {
            let (tracer, logger) = providers(endpoint, protocol)?;
            let ours = || {
                filter_fn(|metadata| {
                    metadata.target().starts_with(EXPORTED_TARGETS)
                        && *metadata.level() <= Level::INFO
                })
            };
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer.tracer(SERVICE_NAME))
                    .with_filter(ours())
                    .boxed(),
            );
            layers.push(
                opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&logger)
                    .with_filter(ours())
                    .boxed(),
            );
            export = Some((tracer, logger));
        }
        tracing_subscriber::registry()
            .with(layers)
            .try_init()
            .map_err(|error| error.to_string())?;
        Ok(Telemetry { export })
    }

    /// Exports what is still batched, then stops the exporters. Call it
    /// outside an async runtime, as [`Telemetry::install`].
    pub fn finish(self) {
        let Some((tracer, logger)) = self.export else {
            return;
        };
        // Both at once: one after the other, a collector that never
        // answers would hold the exit for twice the bound.
        let logs = std::thread::spawn(move || logger.shutdown_with_timeout(FLUSH_TIMEOUT));
        if let Err(error) = tracer.shutdown_with_timeout(FLUSH_TIMEOUT) {
            eprintln!("warning: OpenTelemetry spans not all exported: {error}");
        }
        match logs.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: OpenTelemetry logs not all exported: {error}"),
            Err(_) => eprintln!("warning: OpenTelemetry logs not all exported"),
        }
    }
}

/// The batch providers for traces and logs, exporting to `endpoint`.
fn providers(
    endpoint: &str,
    protocol: OtlpProtocol,
) -> Result<(SdkTracerProvider, SdkLoggerProvider), String> {
    let base = endpoint.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!(
            "--otlp-endpoint `{endpoint}` must be an http:// or https:// URL"
        ));
    }
    let protocol = match protocol {
        OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
        OtlpProtocol::HttpJson => Protocol::HttpJson,
    };
    let bad = |error: opentelemetry_otlp::ExporterBuildError| {
        format!("--otlp-endpoint `{endpoint}`: {error}")
    };
    let spans = SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(format!("{base}/v1/traces"))
        .build()
        .map_err(bad)?;
    let logs = LogExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(format!("{base}/v1/logs"))
        .build()
        .map_err(bad)?;
    let resource = resource();
    let tracer = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(spans)
        .build();
    let logger = SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(logs)
        .build();
    Ok((tracer, logger))
}

/// The SDK's resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), named
/// after the proxy unless the environment names it.
fn resource() -> Resource {
    let builder = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder.with_service_name(SERVICE_NAME).build()
    }
}
