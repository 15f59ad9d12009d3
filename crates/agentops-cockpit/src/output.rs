//! Every file the CLI writes goes through [`OutputFile`]: written to a
//! temporary file in the same directory, then renamed over the target. A
//! rename replaces a symbolic link instead of following it, so a committed
//! `out/report.json -> /somewhere` is replaced, never written through, and a
//! reader never sees a half-written report.
//!
//! The one exception is a path named on the command line (`load --out`,
//! `--hdr-log`) that is, or links to, something other than a regular file
//! (`/dev/stdout`, a FIFO): that is written into directly, and its write
//! errors (`/dev/full`) are errors like any other.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::CliError;

/// Whether a symbolic link at the target may be followed to a device or FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A file the CLI names itself inside `--out DIR`: a link is always
    /// replaced.
    InDir,
    /// A file the user named: a device or FIFO (or a link to one) is
    /// written into; a link to a regular file is replaced.
    Named,
}

/// A file being written; nothing is visible at its path until
/// [`commit`](OutputFile::commit).
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Temp(tempfile::NamedTempFile),
    Direct(File),
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl OutputFile {
    /// Start writing `path`. Fails at once (exit 2, naming the path) when
    /// its directory does not exist or cannot be written: call it before a
    /// long run, not after.
    pub fn create(path: &Path, target: Target) -> Result<OutputFile, CliError> {
        let err = write_error(path);
        if target == Target::Named && is_special(path) {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(err)?;
            return Ok(OutputFile {
                path: path.to_path_buf(),
                kind: Kind::Direct(f),
            });
        }
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let prefix = format!(".{}.", name.as_deref().unwrap_or("out"));
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // `rw-r--r--` before the umask, as `File::create` gives (a
        // temporary file is otherwise private to its owner).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let temp = builder.tempfile_in(dir).map_err(err)?;
        Ok(OutputFile {
            path: path.to_path_buf(),
            kind: Kind::Temp(temp),
        })
    }

    /// The open file, for a writer that streams into it (`try_clone`).
    pub fn file(&self) -> &File {
        match &self.kind {
            Kind::Temp(t) => t.as_file(),
            Kind::Direct(f) => f,
        }
    }

    /// Append `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        let r = match &mut self.kind {
            Kind::Temp(t) => t.write_all(bytes),
            Kind::Direct(f) => f.write_all(bytes),
        };
        r.map_err(write_error(&self.path))
    }

    /// Flush and put the file in place (rename over the target, replacing
    /// a symbolic link rather than following it).
    pub fn commit(self) -> Result<(), CliError> {
        let err = write_error(&self.path);
        match self.kind {
            Kind::Direct(mut f) => f.flush().map_err(err),
            Kind::Temp(mut t) => {
                // On disk before it takes the name: a crash leaves the old
                // file or the whole new one, never an empty one.
                t.flush()
                    .and_then(|()| t.as_file().sync_all())
                    .map_err(write_error(&self.path))?;
                t.persist(&self.path).map(drop).map_err(|e| err(e.error))
            }
        }
    }
}

/// Write `bytes` to `path` in one go (see [`OutputFile`]).
pub fn write(path: &Path, bytes: &[u8], target: Target) -> Result<(), CliError> {
    let mut f = OutputFile::create(path, target)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Create `--out DIR` (and its parents) before a run, so a directory that
/// cannot be made fails at once, naming it.
pub fn out_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(write_error(dir))
}

/// Whether `--out PATH` of `load` names a directory: one that exists, or
/// a path written with a trailing `/`.
pub fn names_dir(path: &Path) -> bool {
    path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/')
}

/// A single result (`probe`, `load`): the chosen format on stdout and,
/// with `--out DIR`, `<name>.json` (always) and the chosen format as
/// `<name>.csv` / `<name>.txt` in DIR. `table` renders the terminal table,
/// in colour or not.
pub fn emit_result(
    value: &serde_json::Value,
    format: crate::cli::ResultFormat,
    out: Option<&Path>,
    name: &str,
    table: impl Fn(bool) -> String,
) -> Result<(), CliError> {
    use crate::cli::ResultFormat;
    let json = crate::error::to_json_pretty("the result", value)? + "\n";
    let text = |colour| match format {
        ResultFormat::Json => json.clone(),
        ResultFormat::Csv => crate::render::csv(value),
        ResultFormat::Table => table(colour),
    };
    if let Some(dir) = out {
        out_dir(dir)?;
        write(
            &dir.join(format!("{name}.json")),
            json.as_bytes(),
            Target::InDir,
        )?;
        let ext = match format {
            ResultFormat::Json => None,
            ResultFormat::Csv => Some("csv"),
            ResultFormat::Table => Some("txt"),
        };
        if let Some(ext) = ext {
            let file = dir.join(format!("{name}.{ext}"));
            write(&file, text(false).as_bytes(), Target::InDir)?;
        }
        crate::term::notice(format_args!("{name} written to {}", dir.display()));
    }
    crate::print_stdout(&text(crate::render::use_colour()))
}

/// Standard output carries one format per run: several `--format` need
/// `--out DIR`, where each is written as a file (stdout then keeps the
/// table, when it is one of them). Checked before anything runs.
pub fn one_on_stdout<F: std::fmt::Debug + PartialEq>(
    formats: &[F],
    out: Option<&Path>,
) -> Result<(), CliError> {
    let mut distinct: Vec<&F> = Vec::new();
    for f in formats {
        if !distinct.contains(&f) {
            distinct.push(f);
        }
    }
    if out.is_some() || distinct.len() < 2 {
        return Ok(());
    }
    let names: Vec<String> = distinct
        .iter()
        .map(|f| format!("{f:?}").to_lowercase())
        .collect();
    Err(CliError::Usage(format!(
        "--format {} would all go to standard output: choose one --format, or add --out DIR to write each as a file",
        names.join(", --format ")
    )))
}

/// The formats printed on stdout: the one chosen; with `--out DIR` and
/// several (each written as a file), the table alone when it is one of
/// them, else none. `table` tells which format is the table.
pub fn on_stdout<F: PartialEq + Copy>(formats: &[F], out: Option<&Path>, table: F) -> Vec<F> {
    let mut distinct: Vec<F> = Vec::new();
    for f in formats {
        if !distinct.contains(f) {
            distinct.push(*f);
        }
    }
    if out.is_none() || distinct.len() < 2 {
        return distinct;
    }
    distinct.into_iter().filter(|f| *f == table).collect()
}

/// Whether `path` is (or links to) something that is not a regular file or
/// a directory: a character device, a FIFO, a socket.
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_in_the_out_dir_is_replaced_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim.txt");
        std::fs::write(&victim, "keep").unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, out.join("report.json")).unwrap();
        write(&out.join("report.json"), b"{}", Target::InDir).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(
            std::fs::read_to_string(out.join("report.json")).unwrap(),
            "{}"
        );
        assert!(
            !std::fs::symlink_metadata(out.join("report.json"))
                .unwrap()
                .is_symlink()
        );
        // Nothing else is left in the directory.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    }

    #[test]
    fn one_format_on_stdout_unless_out() {
        #[derive(Debug, PartialEq, Clone, Copy)]
        enum F {
            Json,
            Sarif,
        }
        assert!(one_on_stdout(&[F::Json], None).is_ok());
        assert!(one_on_stdout(&[F::Json, F::Json], None).is_ok());
        assert!(one_on_stdout(&[F::Json, F::Sarif], Some(Path::new("out"))).is_ok());
        let e = one_on_stdout(&[F::Json, F::Sarif], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--format json, --format sarif"), "{e}");
        assert!(e.contains("--out DIR"), "{e}");
        let out = Some(Path::new("out"));
        assert_eq!(on_stdout(&[F::Json], out, F::Sarif), [F::Json]);
        assert_eq!(on_stdout(&[F::Json, F::Sarif], out, F::Sarif), [F::Sarif]);
        assert!(on_stdout(&[F::Json, F::Json], None, F::Sarif) == [F::Json]);
    }

    #[test]
    fn a_missing_directory_fails_before_anything_is_written() {
        let d = tempfile::tempdir().unwrap();
        let e = OutputFile::create(&d.path().join("no/such/dir/r.json"), Target::Named)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no/such/dir/r.json"), "{e}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_device_is_an_error() {
        let e = write(Path::new("/dev/full"), b"x", Target::Named).unwrap_err();
        assert!(e.to_string().contains("/dev/full"), "{e}");
        // In --out DIR, a link to a device is replaced, not written into.
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/full", d.path().join("r.json")).unwrap();
        write(&d.path().join("r.json"), b"x", Target::InDir).unwrap();
        assert_eq!(std::fs::read(d.path().join("r.json")).unwrap(), b"x");
    }
}
