//! Logs (text or JSON, with request ids) and Prometheus metrics.

use std::time::Duration;

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntGaugeVec, Opts, Registry, TextEncoder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` filters (default: info).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The metrics Medgrid exports at /metrics.
pub struct Metrics {
    registry: Registry,
    http: HistogramVec,
    commands: HistogramVec,
    lag: IntGaugeVec,
}

#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new_custom(Some("medgrid".into()), None)?;
        let http = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency"),
            &["method", "route", "status"],
        )?;
        let commands = HistogramVec::new(
            HistogramOpts::new("command_duration_seconds", "Command latency, write only").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            &["aggregate", "outcome"],
        )?;
        let lag = IntGaugeVec::new(
            Opts::new(
                "projection_lag_events",
                "Events not yet applied, per processor",
            ),
            &["processor"],
        )?;
        registry.register(Box::new(http.clone()))?;
        registry.register(Box::new(commands.clone()))?;
        registry.register(Box::new(lag.clone()))?;
        Ok(Self {
            registry,
            http,
            commands,
            lag,
        })
    }

    pub fn observe_http(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.http
            .with_label_values(&[method, route, &status.to_string()])
            .observe(took.as_secs_f64());
    }

    pub fn observe_command(&self, aggregate: &str, outcome: &str, took: Duration) {
        self.commands
            .with_label_values(&[aggregate, outcome])
            .observe(took.as_secs_f64());
    }

    pub fn set_lag(&self, processor: &str, events: i64) {
        self.lag.with_label_values(&[processor]).set(events);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
