use std::path::PathBuf;

/// Everything that can go wrong while scoring, storing or reading evidence.
/// Each variant names the input at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScoreError {
    /// The threshold is not a number in 0–100.
    #[error("threshold {0} is outside 0–100")]
    Threshold(f64),
    /// A pillar weight is negative or not a number, or all are zero.
    #[error("gate.weights.{pillar}: {message}")]
    Weight { pillar: String, message: String },
    /// `regression_percent` is not a positive number.
    #[error("gate.regression_percent must be a positive number, got {0}")]
    RegressionPercent(f64),
    /// `min_pipeline_threshold` is not a number in 0–100.
    #[error("gate.min_pipeline_threshold {0} is outside 0–100")]
    MinPipelineThreshold(f64),
    /// `regression_min_samples` is 0.
    #[error("gate.regression_min_samples must be at least 1")]
    RegressionMinSamples,
    /// A `[gate.regressions]` key or bound that the gate cannot hold.
    #[error("gate.regressions: {0}")]
    Regression(String),
    /// An out-of-scope declaration lacks a reason or an owner.
    #[error("gate.out_of_scope[{index}] (pillar `{pillar}`): `{field}` must not be empty")]
    OutOfScopeField {
        index: usize,
        pillar: &'static str,
        field: &'static str,
    },
    /// A pillar declared out of scope twice.
    #[error(
        "gate.out_of_scope[{index}]: pillar `{pillar}` is already declared out of scope by gate.out_of_scope[{first}]"
    )]
    OutOfScopeTwice {
        index: usize,
        first: usize,
        pillar: &'static str,
    },
    /// A waiver names a check id no pillar defines.
    #[error("waiver {index}: unknown check id `{check}` (known: {known})")]
    UnknownCheck {
        index: usize,
        check: String,
        known: String,
    },
    /// A waiver lacks a reason or an owner.
    #[error("waiver {index} for `{check}`: `{field}` must not be empty")]
    WaiverField {
        index: usize,
        check: String,
        field: &'static str,
    },
    /// A date that is not `YYYY-MM-DD`.
    #[error("`{0}` is not a date (expected YYYY-MM-DD)")]
    Date(String),
    /// A saved report that cannot be read: corrupted, or of another schema version.
    #[error("{path}: {source}")]
    Report {
        path: PathBuf,
        #[source]
        source: cockpit_core::ReportError,
    },
    /// A report to read is not a regular file (a directory, a FIFO, a device).
    #[error("{0}: not a regular file (a report is read only from a regular file)")]
    NotAFile(PathBuf),
    /// A report to read is larger than the bound.
    #[error("{path}: larger than {limit} bytes, the most a report may hold")]
    TooLarge { path: PathBuf, limit: u64 },
    /// A saved report holds a finding of a check no pillar of this build defines.
    #[error("{path}: findings[{index}]: unknown check id `{check}` (this build knows: {known})")]
    UnknownReportCheck {
        path: PathBuf,
        index: usize,
        check: String,
        known: String,
    },
    /// Reading or writing a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `--compare last` with no earlier run in the evidence lake.
    #[error("{0}: the evidence lake holds no earlier run to compare with")]
    NoEarlierRun(PathBuf),
    /// A renderer could not serialise its output.
    #[error(
        "{flag} {value}: not a check id or pillar (pillars: network, compute, state, cicd, observability; checks: `agentops-cockpit checks list`)"
    )]
    UnknownSelector { flag: &'static str, value: String },

    #[error("cannot render {format}: {message}")]
    Render {
        format: &'static str,
        message: String,
    },
}
