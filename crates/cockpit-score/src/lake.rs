//! The evidence lake: every run's report, stored once, never overwritten.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use cockpit_core::{CheckId, Report};
use sha2::{Digest, Sha256};

use crate::ScoreError;

/// The file each run directory holds.
pub const REPORT_FILE: &str = "report.json";

/// The certification `certify` stores beside the report of a run it measured.
pub const CERTIFICATION_FILE: &str = "certification.json";

/// The largest report [`read_report`] reads: 64 MiB. A real report is a few
/// hundred KiB; a bigger file is refused before it is read, so neither a
/// huge file nor `/dev/zero` can exhaust memory.
pub const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;

/// A directory of runs: `<root>/<YYYYMMDDTHHMMSSZ>-<sha256[..12]>/report.json`.
///
/// ```
/// use cockpit_core::{CheckId, Report};
/// use cockpit_score::EvidenceLake;
/// let dir = tempfile::tempdir().unwrap();
/// let lake = EvidenceLake::new(dir.path().join("evidence"));
/// let report = Report::new("agentops-cockpit", "0.1.0", vec![]);
/// let first = lake.store(&report, &[]).unwrap();
/// let second = lake.store(&report, &[]).unwrap();
/// assert_ne!(first, second, "a run never overwrites another");
/// assert_eq!(lake.latest().unwrap(), Some(second.join("report.json")));
/// ```
#[derive(Debug, Clone)]
pub struct EvidenceLake {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ScoreError + '_ {
    move |source| ScoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl EvidenceLake {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        EvidenceLake { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Store a report (and `extra` files, name → text) in a new run
    /// directory; returns that directory. Existing runs are never touched:
    /// a name already taken gets a `-2`, `-3`… suffix, and files are created
    /// with create-new semantics.
    pub fn store(&self, report: &Report, extra: &[(&str, &str)]) -> Result<PathBuf, ScoreError> {
        let json = report.to_json_pretty().map_err(|e| ScoreError::Render {
            format: "json",
            message: e.to_string(),
        })?;
        let hash = hex(&Sha256::digest(json.as_bytes()));
        let stamp: String = report
            .generated_at
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let base = format!("{stamp}-{}", &hash[..12]);
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let mut n = 1;
        let dir = loop {
            let name = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let dir = self.root.join(name);
            match std::fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(io(&dir)(e)),
            }
        };
        write_new(&dir.join(REPORT_FILE), &json)?;
        for (name, text) in extra {
            write_new(&dir.join(name), text)?;
        }
        tracing::debug!(dir = %dir.display(), "stored run in the evidence lake");
        Ok(dir)
    }

    /// Every stored run's report, oldest first.
    pub fn runs(&self) -> Result<Vec<PathBuf>, ScoreError> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.root)(e)),
        };
        let mut runs: Vec<(std::time::SystemTime, String, PathBuf)> = Vec::new();
        for entry in rd {
            let entry = entry.map_err(io(&self.root))?;
            let report = entry.path().join(REPORT_FILE);
            if let Ok(meta) = report.metadata() {
                let t = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                runs.push((t, entry.file_name().to_string_lossy().into_owned(), report));
            }
        }
        // Names start with the report's timestamp (seconds); ties (two runs
        // in one second) are ordered by when the file was written.
        runs.sort_by(|a, b| {
            (&a.1[..a.1.len().min(16)], a.0, &a.1).cmp(&(&b.1[..b.1.len().min(16)], b.0, &b.1))
        });
        Ok(runs.into_iter().map(|(_, _, p)| p).collect())
    }

    /// The most recent run's report, if any.
    pub fn latest(&self) -> Result<Option<PathBuf>, ScoreError> {
        Ok(self.runs()?.pop())
    }

    /// `last` → the latest stored run; a directory → its `report.json`;
    /// anything else is taken as a report file.
    pub fn resolve(&self, spec: &str) -> Result<PathBuf, ScoreError> {
        if spec == "last" {
            return self
                .latest()?
                .ok_or_else(|| ScoreError::NoEarlierRun(self.root.clone()));
        }
        let p = PathBuf::from(spec);
        Ok(if p.is_dir() { p.join(REPORT_FILE) } else { p })
    }
}

/// Read a saved report: a Report, or a certification (its `report` is used).
/// Only a regular file of at most [`MAX_REPORT_BYTES`] is read (a FIFO or a
/// device is refused before it is opened). Corrupted files, other schema
/// versions and a `generated_at` that is not a timestamp are errors naming
/// the file.
pub fn read_report(path: &Path) -> Result<Report, ScoreError> {
    let bytes = read_bounded(path, MAX_REPORT_BYTES)?;
    parse_report(&bytes).map_err(|source| ScoreError::Report {
        path: path.to_path_buf(),
        source,
    })
}

/// Read a stored certification ([`CERTIFICATION_FILE`]) under the same
/// bounds as [`read_report`]: a regular file of at most
/// [`MAX_REPORT_BYTES`], its report of this schema's major version.
pub fn read_certification(path: &Path) -> Result<crate::Certification, ScoreError> {
    let bytes = read_bounded(path, MAX_REPORT_BYTES)?;
    let report_error = |source| ScoreError::Report {
        path: path.to_path_buf(),
        source,
    };
    let cert: crate::Certification = serde_json::from_slice(&bytes)
        .map_err(|e| report_error(cockpit_core::ReportError::Json(e)))?;
    Report::check_schema_version(Some(&serde_json::Value::from(
        cert.report.schema_version.as_str(),
    )))
    .map_err(report_error)?;
    Ok(cert)
}

impl EvidenceLake {
    /// The stored runs that hold a certification, newest first, as
    /// (run directory, its certification file). Runs without one (audit
    /// reports, Mission Control records) are skipped.
    pub fn certified_runs(&self) -> Result<Vec<(PathBuf, PathBuf)>, ScoreError> {
        let mut out = Vec::new();
        for report in self.runs()?.into_iter().rev() {
            let Some(dir) = report.parent() else { continue };
            let cert = dir.join(CERTIFICATION_FILE);
            if cert.is_file() {
                out.push((dir.to_path_buf(), cert));
            }
        }
        Ok(out)
    }
}

/// A report, or a certification's `report`, parsed straight into its
/// types (no JSON tree: memory stays a small multiple of the file).
fn parse_report(bytes: &[u8]) -> Result<Report, cockpit_core::ReportError> {
    use serde::de::IgnoredAny;
    #[derive(serde::Deserialize)]
    struct Version {
        #[serde(default)]
        schema_version: Option<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(default)]
        certification_version: Option<IgnoredAny>,
        #[serde(default)]
        report: Option<Version>,
    }
    #[derive(serde::Deserialize)]
    struct Whole {
        report: Report,
    }
    let kind: Kind = serde_json::from_slice(bytes)?;
    match kind {
        Kind {
            certification_version: Some(_),
            report: Some(inner),
        } => {
            Report::check_schema_version(inner.schema_version.as_ref())?;
            serde_json::from_slice::<Whole>(bytes)?.report.checked()
        }
        _ => Report::from_json_slice(bytes),
    }
}

/// The whole of a regular file of at most `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ScoreError> {
    // `metadata` follows symlinks and opens nothing: a FIFO is refused
    // here, before an `open` that would block on it.
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if !meta.is_file() {
        return Err(ScoreError::NotAFile(path.to_path_buf()));
    }
    let too_large = || ScoreError::TooLarge {
        path: path.to_path_buf(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(io(path))?;
    // The file may have grown since: read at most one byte past the bound.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Refuse a report holding a finding of a check this build does not
/// define (`known`: every pillar's catalogue): the gate cannot weigh what it
/// does not know, so it fails closed with an error naming the id.
pub fn refuse_unknown_checks(
    report: &Report,
    path: &Path,
    known: &[CheckId],
) -> Result<(), ScoreError> {
    let Some((index, f)) = report
        .findings
        .iter()
        .enumerate()
        .find(|(_, f)| !known.contains(&f.check_id))
    else {
        return Ok(());
    };
    Err(ScoreError::UnknownReportCheck {
        path: path.to_path_buf(),
        index,
        check: f.check_id.as_str().chars().take(64).collect(),
        known: crate::policy::id_list(known),
    })
}

fn write_new(path: &Path, text: &str) -> Result<(), ScoreError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_report_and_a_certification_alike() {
        let dir = tempfile::tempdir().unwrap();
        let report = Report::new("agentops-cockpit", "0.1.0", vec![]);
        let plain = dir.path().join("report.json");
        std::fs::write(&plain, report.to_json_pretty().unwrap()).unwrap();
        assert_eq!(read_report(&plain).unwrap(), report);
        let cert = crate::certify(&report, &crate::GatePolicy::default(), crate::Date::today());
        let json = crate::Format::Json.render(&cert, false).unwrap();
        let certified = dir.path().join("certification.json");
        std::fs::write(&certified, &json).unwrap();
        assert_eq!(read_report(&certified).unwrap(), report);
        // The certification's report is held to the same version rule.
        let v2 = json.replacen(
            "\"schema_version\": \"1.1\"",
            "\"schema_version\": \"2.0\"",
            1,
        );
        assert_ne!(v2, json);
        std::fs::write(&certified, v2).unwrap();
        let e = read_report(&certified).unwrap_err().to_string();
        assert!(e.contains("certification.json") && e.contains("2.0"), "{e}");
        let e = read_certification(&certified).unwrap_err().to_string();
        assert!(e.contains("certification.json") && e.contains("2.0"), "{e}");
    }

    #[test]
    fn certified_runs_are_listed_newest_first_with_their_certification() {
        let dir = tempfile::tempdir().unwrap();
        let lake = EvidenceLake::new(dir.path());
        let report = Report::new("agentops-cockpit", "0.1.0", vec![]);
        let cert = crate::certify(&report, &crate::GatePolicy::default(), crate::Date::today());
        let json = crate::Format::Json.render(&cert, false).unwrap();
        let first = lake.store(&report, &[(CERTIFICATION_FILE, &json)]).unwrap();
        lake.store(&report, &[]).unwrap();
        let second = lake.store(&report, &[(CERTIFICATION_FILE, &json)]).unwrap();
        let runs = lake.certified_runs().unwrap();
        let dirs: Vec<_> = runs.iter().map(|(d, _)| d.clone()).collect();
        assert_eq!(dirs, [second, first]);
        assert_eq!(read_certification(&runs[0].1).unwrap(), cert);
    }
}
