//! Command-line definitions (clap). Parsing only: no behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "agentops-cockpit",
    version,
    about = "Audit, score and gate the infrastructure of AI agent services",
    long_about = "Measures the infrastructure an AI agent runs on — time to first token, \
retrieval latency, protocol, zones, cold starts, observability — and reports every figure \
with its method and sample count.\n\nExit codes: 0 success, 1 gate failed, 2 usage or \
configuration error, 3 could not reach what had to be measured, 130 interrupted (partial \
results are still written)."
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output (errors only).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colour in tables and logs: auto (only on a terminal, never with
    /// NO_COLOR), always, or never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, global = true)]
    pub color: ColorArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure one endpoint: HTTP phases, OpenAI-style SSE streaming, or gRPC.
    Probe(ProbeArgs),
    /// Run every configured check once and write the report.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The Sovereign Gate: score the evidence, print the approval matrix,
    /// exit 0 at score >= threshold, 1 below, 2 bad input, 3 could not measure.
    Certify(CertifyArgs),
    /// Load-test one endpoint: closed loop, open loop at a fixed rate, or a
    /// rate sweep; exit 1 when an --slo breaks. `load shard` runs one shard
    /// of a fanned-out run, `load merge` merges their results.
    Load(Box<LoadCmd>),
    /// Mission Control: probe every agent of the fleet on an interval, show
    /// the fleet live, raise Latency Regression alerts. With --once: one
    /// round, exit 0 healthy, 1 an alert firing or an agent down.
    Cockpit(CockpitArgs),
    /// Reasoning degradation: concurrent multi-turn sessions judged by
    /// exact canary recall (Reasoning Score, context collisions, trace
    /// integrity), per concurrency level; exit 1 when an --slo breaks.
    /// `simulate shard` runs one shard of a fanned-out simulation,
    /// `simulate merge` merges their results.
    Simulate(Box<SimulateCmd>),
    /// Shadow mode: the same prompts to production (v1) and a candidate
    /// (v2), side by side with significance; exit 1 when v2 regresses.
    Shadow(ShadowArgs),
    /// Print a shell completion script: `source <(agentops-cockpit completions bash)`.
    Completions {
        /// bash, zsh, fish, powershell (or elvish).
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff); `cargo xtask man` keeps docs/man current.
    #[command(hide = true)]
    Manpage,
    /// The check catalogue: list every check, or print one check's page.
    Checks {
        #[command(subcommand)]
        command: ChecksCommand,
    },
    /// Deploy an agent the way the checks want it (GKE Autopilot, Cloud Run).
    Deploy {
        #[command(subcommand)]
        command: DeployCommand,
    },
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// A single result's formats (`probe`, `load`): one on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultFormat {
    Table,
    Json,
    /// One header line and one row per figure (RFC 4180).
    Csv,
}

/// The Compute / CI/CD targets `audit report` and `certify` take on the
/// command line, added to the configuration's `[kubernetes]`.
#[derive(Debug, Args, Default)]
pub struct TargetArgs {
    /// Compute / CI/CD pillar, offline: manifest files, directories or globs
    /// (`deploy/**/*.yaml`; quote it so the shell does not expand it). Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub manifests: Vec<String>,
    /// Audit a live cluster: this kubeconfig context ($KUBECONFIG or ~/.kube/config).
    #[arg(long, value_name = "CTX")]
    pub kube_context: Option<String>,
    /// Namespace of the live audit (default: the context's namespace).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Cloud Run service exports (`gcloud run services describe S --format export`). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub cloud_run: Vec<String>,
    /// CI pipelines to check for the Sovereign Gate: files or directories
    /// (`.github/workflows`, `.gitlab-ci.yml`). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub pipelines: Vec<String>,
}

impl TargetArgs {
    /// Whether any Compute / CI/CD input was given on the command line.
    pub fn any(&self) -> bool {
        !self.manifests.is_empty()
            || self.kube_context.is_some()
            || self.namespace.is_some()
            || !self.cloud_run.is_empty()
            || !self.pipelines.is_empty()
    }
}

/// `--push-gateway`, shared by `certify`, `load` and `cockpit --once`.
#[derive(Debug, Args, Default)]
pub struct PushArgs {
    /// Push this run's figures to a Prometheus Pushgateway
    /// (http://host:9091), job `agentops_cockpit`, grouped by command.
    #[arg(long, value_name = "URL")]
    pub push_gateway: Option<url::Url>,
}

#[derive(Debug, Subcommand)]
pub enum ChecksCommand {
    /// Every check: id, pillar, severity, title and its page's address.
    List {
        #[arg(long, value_enum, default_value_t = ChecksFormat::Table)]
        format: ChecksFormat,
    },
    /// Print a check's page (what it measures, the verdicts, the fix).
    Explain {
        /// A check id, e.g. CIC-IMAGE (case-insensitive).
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChecksFormat {
    Table,
    Json,
}

/// `--include` / `--exclude`, shared by `audit report` and `certify`.
#[derive(Debug, Args, Default)]
pub struct SelectArgs {
    /// Keep only these checks: a check id (CIC-IMAGE) or a pillar
    /// (network, compute, state, cicd, observability); repeatable.
    #[arg(long, value_name = "CHECK|PILLAR")]
    pub include: Vec<String>,
    /// Leave these checks out: a check id or a pillar; repeatable. A pillar
    /// left out entirely is out of scope for the gate.
    #[arg(long, value_name = "CHECK|PILLAR")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Run the checks and print/write the report.
    Report(AuditArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Http,
    Openai,
    Grpc,
    /// Redis / Memorystore: PING, and SET/GET on a key of the probe's own.
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HttpVersionArg {
    Auto,
    #[value(name = "1.1")]
    Http1,
    #[value(name = "2")]
    Http2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Markdown,
}

/// How each request is made and secured: shared by `probe` and `load`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// HTTP version: auto (ALPN on TLS, 1.1 on cleartext), 1.1, or 2 (h2c on cleartext).
    #[arg(long, value_enum, default_value_t = HttpVersionArg::Auto)]
    pub http_version: HttpVersionArg,
    /// Extra CA certificate bundle (PEM) to trust.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify TLS certificates (lab use only).
    #[arg(long)]
    pub insecure: bool,
    /// Model name sent with OpenAI requests.
    #[arg(long)]
    pub model: Option<String>,
    /// The user message sent with OpenAI / gRPC requests.
    #[arg(
        long,
        default_value = "Summarise the deployment checklist in three points."
    )]
    pub prompt: String,
    /// max_tokens for OpenAI / gRPC requests.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Extra request header "Name: value" (repeatable), e.g. -H
    /// "Authorization: Bearer $TOKEN". Values are never printed.
    #[arg(short = 'H', long, value_name = "NAME: VALUE")]
    pub header: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The endpoint: http(s)://… (a `/v1` base gets `/chat/completions` for openai), grpc(s)://host:port.
    pub url: String,
    /// What the endpoint speaks.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Http)]
    pub protocol: ProtocolArg,
    /// Measured samples (after warm-up).
    #[arg(short = 'n', long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub samples: u32,
    /// Requests in flight at once.
    #[arg(short = 'c', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Warm-up requests, excluded from the distributions.
    #[arg(long, default_value_t = 1)]
    pub warmup: u32,
    /// Per-request timeout (e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Deadline for the whole run; what was measured by then is reported.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub deadline: std::time::Duration,
    #[command(flatten)]
    pub request: RequestArgs,
    /// A system prompt sent with every request.
    #[arg(long)]
    pub system_prompt: Option<String>,
    /// Longest SSE line accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_line_bytes: usize,
    /// Also compare the first request on a new connection with requests on a warm one.
    #[arg(long)]
    pub compare_reuse: bool,
    /// Also compare TTFT with a repeated long system prompt against a fresh one (openai).
    #[arg(long)]
    pub compare_prefix: bool,
    /// table, json or csv; one on stdout.
    #[arg(long, value_enum, default_value_t = ResultFormat::Table)]
    pub format: ResultFormat,
    /// Directory to write probe.json (always) and the chosen format into.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The evidence lake's flags, shared by `audit report` and `certify`.
#[derive(Debug, Args)]
pub struct LakeArgs {
    /// Show what changed against an earlier run: a report.json, a run
    /// directory, or `last` (the latest run in the evidence lake).
    #[arg(long, value_name = "PATH|last")]
    pub compare: Option<String>,
    /// Do not store this run in the evidence lake ([gate] evidence_dir).
    #[arg(long)]
    pub no_evidence: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Configuration file. Without it, ./cockpit.toml is used if present, else
    /// the embedded reference testbed is started and audited.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Audit the embedded reference testbed, whatever the configuration says.
    #[arg(long, conflicts_with = "config")]
    pub testbed: bool,
    /// Output formats for stdout (repeatable); with --out each is also written as a file.
    #[arg(long, value_enum, default_values_t = [ReportFormat::Table])]
    pub format: Vec<ReportFormat>,
    /// Directory to write report.json (always) and the chosen formats into.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// State pillar: SCAN at most N session keys under [stm] key_prefix and
    /// report how many lack a TTL, and their sizes (never KEYS, never values).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub sample_sessions: Option<u32>,
    /// State pillar, for a Redis you own: restart the [stm] server (DEBUG
    /// RESTART) and report whether a marker survived and how long it was down.
    #[arg(long)]
    pub disruptive: bool,
    /// Adversarial watchtower: send the prompt-injection corpus to every
    /// agent with a `canary` and fail WTC-LEAK when an answer holds it.
    #[arg(long)]
    pub watchtower: bool,
    #[command(flatten)]
    pub targets: TargetArgs,
}

#[derive(Debug, Args)]
pub struct CockpitArgs {
    /// Configuration file ([[agents]], [[retrieval]], [cockpit]). Without
    /// it, ./cockpit.toml is used if present, else an embedded demo fleet of
    /// testbed agents (fast, slow, flapping) is started and watched.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Probe interval (overrides [cockpit] interval; default 15s).
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<std::time::Duration>,
    /// Rolling window of every figure and alert rule (overrides [cockpit] window; default 5m).
    #[arg(long, value_parser = parse_duration)]
    pub window: Option<std::time::Duration>,
    /// One probe round, print the snapshot, exit: 0 healthy, 1 an alert
    /// firing or an agent down, 2 bad input.
    #[arg(long, conflicts_with_all = ["serve", "serve_public"])]
    pub once: bool,
    /// table, or json (the /api/v1/fleet document; one per line per interval
    /// without --once).
    #[arg(long, value_enum, default_value_t = ProbeFormat::Table)]
    pub format: ProbeFormat,
    /// Keep each interval's report in the evidence lake ([gate] evidence_dir),
    /// in the report schema: `certify --from` and `--compare` read it.
    #[arg(long)]
    pub record: bool,
    /// Serve the web dashboard, /metrics, /api/v1/fleet and /healthz on this
    /// address (loopback unless --serve-public).
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<std::net::SocketAddr>,
    /// Allow --serve on an address other than loopback.
    #[arg(long, requires = "serve")]
    pub serve_public: bool,
    /// With --once: push the round's figures to a Prometheus Pushgateway.
    #[arg(long, value_name = "URL", requires = "once")]
    pub push_gateway: Option<url::Url>,
    /// Run the adversarial watchtower in the hub (as [cockpit] watchtower =
    /// true): every hub interval, prompt-injection attempts go to each agent
    /// with a `canary`.
    #[arg(long)]
    pub watchtower: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum CertifyFormat {
    Table,
    Json,
    Markdown,
    Junit,
    Sarif,
    Html,
    Badge,
}

impl CertifyFormat {
    pub fn format(self) -> cockpit_score::Format {
        use cockpit_score::Format;
        match self {
            CertifyFormat::Table => Format::Table,
            CertifyFormat::Json => Format::Json,
            CertifyFormat::Markdown => Format::Markdown,
            CertifyFormat::Junit => Format::Junit,
            CertifyFormat::Sarif => Format::Sarif,
            CertifyFormat::Html => Format::Html,
            CertifyFormat::Badge => Format::Badge,
        }
    }
}

#[derive(Debug, Args)]
pub struct CertifyArgs {
    /// Configuration file (its [gate] table is the policy). Without it,
    /// ./cockpit.toml is used if present, else the embedded testbed is audited.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Certify the embedded reference testbed.
    #[arg(long, conflicts_with_all = ["config", "from"])]
    pub testbed: bool,
    /// Re-score a saved report (report.json or certification.json) without probing.
    #[arg(long, value_name = "REPORT.json")]
    pub from: Option<PathBuf>,
    /// The passing score, 0–100 (overrides [gate] threshold; default 90).
    #[arg(long, value_parser = parse_threshold, allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    /// Output formats (repeatable). Without --out they go to stdout; with
    /// --out each is written as a file and only `table` is printed.
    #[arg(long, value_enum, default_values_t = [CertifyFormat::Table])]
    pub format: Vec<CertifyFormat>,
    /// Directory to write report.json and the chosen formats into.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// An SLO held against the evidence, e.g. `ttft:p(95)<800ms` (repeatable;
    /// added to [gate] slos). Metrics: ttft, retrieval, connect_rtt,
    /// store_ping, cold_start. A breach fails the gate.
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<cockpit_score::GateSlo>,
    #[command(flatten)]
    pub targets: TargetArgs,
    #[command(flatten)]
    pub push: PushArgs,
    /// Adversarial watchtower, as in `audit report`: send the
    /// prompt-injection corpus to every agent with a `canary`; a leak fails
    /// WTC-LEAK (critical) and so the gate.
    #[arg(long, conflicts_with = "from")]
    pub watchtower: bool,
}

/// A threshold: a number in 0–100.
pub fn parse_threshold(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number (expected 0–100)"))?;
    cockpit_score::validate_threshold(v).map_err(|e| e.to_string())?;
    Ok(v)
}

/// `load URL …`, its fan-out (`--workers K --local`), or `load shard` /
/// `load merge`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct LoadCmd {
    #[command(subcommand)]
    pub command: Option<crate::fanout::LoadSub>,
    #[command(flatten)]
    pub args: LoadArgs,
    #[command(flatten)]
    pub fanout: crate::fanout::FanOutArgs,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The endpoint: http(s)://… (a `/v1` base gets `/chat/completions` for openai), grpc(s)://host:port.
    #[arg(required = true)]
    pub url: Option<String>,
    /// What the endpoint speaks.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Http)]
    pub protocol: ProtocolArg,
    /// Connections (closed loop: requests in flight; open loop: the most in flight at once).
    #[arg(short = 'c', long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: u32,
    /// Run length (default 10s; a sweep lasts its steps).
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Closed loop: stop after this many requests (the duration still bounds the run).
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Open loop at N requests per second, or a sweep A:B:STEP (with --step).
    #[arg(long)]
    pub rate: Option<String>,
    /// How long each sweep step lasts.
    #[arg(long, value_parser = parse_duration)]
    pub step: Option<std::time::Duration>,
    /// Poisson arrivals (exponential gaps) instead of evenly spaced ones.
    #[arg(long)]
    pub poisson: bool,
    /// Seed of the open-loop schedule (printed when drawn); the same seed repeats it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (default: one per CPU this process may run on).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// A service-level objective, k6 style (repeatable): 'p(99)<250ms', 'errors<0.1%', 'ttft:p(95)<800ms'.
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<cockpit_probe::load::LoadSlo>,
    /// HTTP method (protocol http).
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request body (protocol http), sent as application/json.
    #[arg(long)]
    pub body: Option<String>,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Length of the per-interval series (and of the HdrHistogram log's intervals).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// table, json or csv; one on stdout.
    #[arg(long, value_enum, default_value_t = ResultFormat::Table)]
    pub format: ResultFormat,
    /// A directory (existing, or written with a trailing `/`): load.json and
    /// the chosen format are written into it. Any other path: the JSON
    /// report is written to that file. Partial results on Ctrl-C.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub push: PushArgs,
    /// Write the per-interval latency histograms as an HdrHistogram interval log.
    #[arg(long)]
    pub hdr_log: Option<PathBuf>,
    /// No progress display on stderr (it is shown only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct ShadowArgs {
    /// Production (v1): an OpenAI-compatible endpoint, http(s)://… (a `/v1` base gets `/chat/completions`).
    pub url_v1: String,
    /// The candidate (v2), likewise.
    pub url_v2: String,
    /// Prompts sent to each deployment.
    #[arg(short = 'n', long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub samples: u32,
    /// Send each prompt to both at once instead of one after the other.
    #[arg(long)]
    pub mirror: bool,
    /// A prompt (repeatable; cycled in order). Default: a built-in list of eight.
    #[arg(long = "prompt", value_name = "TEXT")]
    pub prompts: Vec<String>,
    /// Model name sent with each request.
    #[arg(long)]
    pub model: Option<String>,
    /// max_tokens sent with each request.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Seed of the bootstrap's resampling (the same seed gives the same intervals).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Bootstrap resamples (100–100000).
    #[arg(long, default_value_t = 2000)]
    pub resamples: u32,
    /// SHD-TTFT fails when v2's TTFT is slower by more than this percentage, significantly.
    #[arg(long, default_value_t = 10.0)]
    pub ttft_regression_pct: f64,
    /// Extra request header "Name: value" (repeatable), sent to both. Values are never printed.
    #[arg(short = 'H', long, value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// Extra CA certificate bundle (PEM) to trust.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify TLS certificates (lab use only).
    #[arg(long)]
    pub insecure: bool,
    #[arg(long, value_enum, default_value_t = ProbeFormat::Table)]
    pub format: ProbeFormat,
}

/// The longest duration any flag takes: 7 days. Longer values are
/// refused when the arguments are parsed (exit 2, naming the flag).
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// `30s`, `500ms`, `1.5s`, `2m`, `1h`, a bare number of seconds, or a
/// humantime duration (`1h 30m`, `2min`); positive and at most
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let too_long = || format!("`{s}` is longer than the limit of 7 days");
    let d = match seconds(s) {
        Some(v) if !v.is_finite() || v <= 0.0 => {
            return Err(format!("`{s}` must be a positive duration"));
        }
        Some(v) if v > MAX_DURATION.as_secs_f64() => return Err(too_long()),
        Some(v) => std::time::Duration::from_secs_f64(v),
        None => humantime::parse_duration(s).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(),
            e => format!("`{s}` is not a duration ({e}; e.g. 30s, 500ms, 2m)"),
        })?,
    };
    if d.is_zero() {
        return Err(format!("`{s}` must be a positive duration"));
    }
    if d > MAX_DURATION {
        return Err(too_long());
    }
    Ok(d)
}

/// A number of seconds written as a number with an optional unit `ms`,
/// `s`, `m` or `h` (fractions allowed); `None` for anything else.
fn seconds(s: &str) -> Option<f64> {
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    num.trim().parse::<f64>().ok().map(|v| v * mult)
}

/// A request header from its name and value, marked sensitive. Errors name
/// the header, never its value: a value is often a credential.
pub fn header(name: &str, value: &str) -> Result<(http::HeaderName, http::HeaderValue), String> {
    let name = http::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| "the header name is not a valid HTTP header name".to_string())?;
    let mut value = http::HeaderValue::from_str(value.trim()).map_err(|_| {
        format!(
            "the value of header `{name}` is not a valid HTTP header value (control characters?)"
        )
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Every `-H/--header "Name: value"`; an error names the header by its
/// position and name, never its value.
pub fn parse_headers(
    headers: &[String],
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, String> {
    headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let (k, v) = h.split_once(':').ok_or_else(|| {
                format!(
                    "--header #{}: expected \"Name: value\" (the value is not shown)",
                    i + 1
                )
            })?;
            header(k, v).map_err(|e| format!("--header #{}: {e}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("3").unwrap().as_secs(), 3);
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("1.5s").unwrap().as_millis(), 1500);
        assert_eq!(parse_duration("1h 30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("7days").unwrap(), MAX_DURATION);
    }

    #[test]
    fn huge_and_odd_durations_are_refused() {
        for s in [
            "1e300",
            "99999999999999999h",
            "18446744073709551616s",
            "8days",
            "604801",
            "inf",
            "NaN",
            "-1s",
            "1e300ms",
            "99999999999999999999999years",
            "",
        ] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }

    #[test]
    fn header_errors_never_show_the_value() {
        let ok = parse_headers(&["Authorization: Bearer abc".into()]).unwrap();
        assert_eq!(ok[0].0, "authorization");
        assert!(ok[0].1.is_sensitive());
        for bad in ["Bearer s3cr3t", "Auth orization: s3cr3t", "X: s3cr3t\u{7}"] {
            let e = parse_headers(&["A: b".into(), bad.into()]).unwrap_err();
            assert!(e.starts_with("--header #2"), "{e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn thresholds() {
        assert_eq!(parse_threshold("95").unwrap(), 95.0);
        assert_eq!(parse_threshold("0").unwrap(), 0.0);
        assert!(parse_threshold("100.5").is_err());
        assert!(parse_threshold("-1").is_err());
        assert!(parse_threshold("NaN").is_err());
        assert!(parse_threshold("high").is_err());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimFormat {
    Table,
    Json,
    Markdown,
}

/// `simulate [URL] …`, its fan-out (`--workers K --local`), or
/// `simulate shard` / `simulate merge`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimulateCmd {
    #[command(subcommand)]
    pub command: Option<crate::sim_fanout::SimSub>,
    #[command(flatten)]
    pub args: SimulateArgs,
    #[command(flatten)]
    pub fanout: crate::fanout::FanOutArgs,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The agent's OpenAI-compatible URL (a `/v1` base gets
    /// `/chat/completions`). Without it: the first openai agent of --config
    /// (or ./cockpit.toml), else the embedded reference testbed.
    pub url: Option<String>,
    /// Concurrent sessions (without --ramp).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sessions: u32,
    /// Turns per session: 1 plants the canary, then recall and filler turns.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(2..=64))]
    pub turns: u32,
    /// Concurrency levels FROM:TO:xK (geometric) or FROM:TO:+K, e.g. 1:256:x2.
    #[arg(long, value_name = "FROM:TO:STEP")]
    pub ramp: Option<cockpit_sim::Ramp>,
    /// Recall turns each level runs at least (more sessions when needed).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub min_recall_turns: u32,
    /// Carry sessions by this header holding the session id (agents with
    /// server-side memory) instead of sending the whole conversation.
    #[arg(long, value_name = "HEADER")]
    pub session_header: Option<String>,
    /// Read the agent's echoed trace context from this top-level field of
    /// its JSON chunks (a traceparent or a trace id) instead of the
    /// `traceparent` response header.
    #[arg(long, value_name = "FIELD")]
    pub trace_field: Option<String>,
    /// Read the agent's echoed session id from this top-level JSON field
    /// instead of the session header of the response.
    #[arg(long, value_name = "FIELD")]
    pub session_field: Option<String>,
    /// An objective judged at every level (repeatable): 'reasoning_score>0.99',
    /// 'collisions==0', 'trace_integrity>=0.99', 'errors<1%', 'ttft:p(95)<800ms'.
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<cockpit_sim::SimSlo>,
    /// Seed of the canaries, trace ids and filler: the same seed replays a run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Bound on each turn (the whole exchange).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Bound on the whole run.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub deadline: std::time::Duration,
    /// Model name sent (default: the configured agent's, else "default").
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, value_enum, default_value_t = SimFormat::Table)]
    pub format: SimFormat,
    /// Directory to write report.json (the Report), simulation.json (every
    /// level's figures) and report.md into (partial results on Ctrl-C).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Configuration file (its first openai agent is simulated when no URL is given).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// No progress display on stderr (it is shown only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Render [deploy] into hardened manifests (refused when our own checks
    /// would fail them); without --render, a server-side-apply dry run
    /// against the cluster with a diff; with --apply, certify first, refuse
    /// below the gate (exit 1), apply, watch the rollout and the
    /// LoadBalancer.
    Sovereign(DeployArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeployTarget {
    /// GKE (Autopilot-compatible): ServiceAccount, Deployment, HPA, PDB, LoadBalancer Service.
    Gke,
    /// Cloud Run: a Knative Service for `gcloud run services replace`.
    CloudRun,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Configuration file (its [deploy] section; [gate] for --apply).
    /// Without it, ./cockpit.toml is used if present, else the reference
    /// agent's deployment (a demo and fixture).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the agent runs.
    #[arg(long, value_enum)]
    pub target: DeployTarget,
    /// Write the manifests into DIR and change nothing.
    #[arg(long, value_name = "DIR", conflicts_with = "apply")]
    pub render: Option<PathBuf>,
    /// Apply for real (the default is a dry run): certify first and refuse
    /// below the gate.
    #[arg(long)]
    pub apply: bool,
    /// Hold the deploy to a saved report (report.json or certification.json)
    /// instead of measuring now.
    #[arg(long, value_name = "REPORT.json", requires = "apply")]
    pub from: Option<PathBuf>,
    /// The passing score, 0–100 (overrides [gate] threshold).
    #[arg(long, value_parser = parse_threshold, allow_negative_numbers = true, requires = "apply")]
    pub threshold: Option<f64>,
    /// Deploy even below the gate; needs --reason, recorded in the evidence lake.
    #[arg(long, requires_all = ["apply", "reason"])]
    pub force: bool,
    /// Why the gate is overridden (with --force).
    #[arg(long, requires = "force")]
    pub reason: Option<String>,
    /// Create the namespace when it does not exist (otherwise a missing
    /// namespace is an error).
    #[arg(long)]
    pub create_namespace: bool,
    /// kubeconfig context ($KUBECONFIG or ~/.kube/config; default: the current one).
    #[arg(long, value_name = "CTX")]
    pub kube_context: Option<String>,
    /// How long to wait for the rollout.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub rollout_timeout: std::time::Duration,
    /// How long to wait for the LoadBalancer's address.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub lb_timeout: std::time::Duration,
    /// Do not store the certification in the evidence lake ([gate] evidence_dir).
    #[arg(long)]
    pub no_evidence: bool,
}
