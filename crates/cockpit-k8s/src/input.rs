//! Finding and reading the input files: manifests, Cloud Run exports and
//! pipelines named by paths, directories and glob patterns.
//!
//! Every bound is enforced before anything is allocated or waited for:
//!
//! - Directories are walked with symbolic links followed, but a link to a
//!   directory already walked is not (a link back to an ancestor, `a -> .`,
//!   is a loop; two links to the same directory are walked once), and each
//!   file is kept once by its canonical path, whatever the number of ways to
//!   reach it.
//! - At most [`MAX_FILES`] files per directory, pattern or list of inputs,
//!   and [`MAX_ENTRIES`] entries visited per walk; more is
//!   [`K8sError::TooManyFiles`] naming the input.
//! - Only regular files are opened: a FIFO, a device (`/dev/zero`) or a
//!   socket is [`K8sError::NotRegularFile`], never opened, so it cannot block
//!   or stream without end (in a directory walk, such entries are left out
//!   and named in [`Resolved::skipped`]; the audit reports each as a skipped
//!   `CMP-MANIFEST` finding).
//! - At most [`MAX_FILE_BYTES`] per file and [`MAX_TOTAL_BYTES`] for all the
//!   files of one audit, checked on the file's metadata and again while
//!   reading (`take(limit + 1)`): more is [`K8sError::TooLarge`].

use std::collections::HashSet;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::K8sError;

/// Most files one directory, pattern or list of inputs may expand to.
pub const MAX_FILES: usize = 10_000;

/// Most directory entries one directory or pattern walk visits, so a tree
/// of millions of files that do not match is refused rather than walked.
pub const MAX_ENTRIES: usize = 100_000;

/// Largest input file read, bytes (16 MiB).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Largest sum of the sizes of the files one audit reads, bytes (256 MiB).
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;

/// Whether a path names a YAML file by its extension.
fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// What a file type is, for messages, when it is not a regular file.
pub(crate) fn irregular_kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> K8sError + '_ {
    move |source| K8sError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// The files found for one list of inputs, each kept once.
#[derive(Debug, Default)]
struct Found {
    files: Vec<PathBuf>,
    /// `*.yaml` / `*.yml` entries of walked directories that are not
    /// regular files, with what they are.
    skipped: Vec<(PathBuf, &'static str)>,
    canonical: HashSet<PathBuf>,
    bytes: u64,
}

impl Found {
    /// Keep `path` (a regular file, its metadata `meta`) unless it was
    /// already found by another way; `input` names what is expanded.
    fn add(&mut self, path: PathBuf, meta: &Metadata, input: &str) -> Result<(), K8sError> {
        if meta.len() > MAX_FILE_BYTES {
            return Err(K8sError::TooLarge {
                path,
                limit_bytes: MAX_FILE_BYTES,
            });
        }
        let canonical = std::fs::canonicalize(&path).map_err(read_error(&path))?;
        if !self.canonical.insert(canonical) {
            return Ok(());
        }
        if self.files.len() >= MAX_FILES {
            return Err(K8sError::TooManyFiles {
                input: input.to_string(),
                limit: MAX_FILES,
            });
        }
        self.bytes += meta.len();
        if self.bytes > MAX_TOTAL_BYTES {
            return Err(K8sError::TooLarge {
                path,
                limit_bytes: MAX_TOTAL_BYTES,
            });
        }
        self.files.push(path);
        Ok(())
    }

    /// Add a path named directly (or matched by a pattern): a directory is
    /// walked for `*.yaml` / `*.yml`; anything else must be a regular file.
    fn add_path(&mut self, path: &Path, input: &str) -> Result<(), K8sError> {
        let meta = std::fs::metadata(path).map_err(read_error(path))?;
        if meta.is_dir() {
            return self.add_dir(path, input);
        }
        if let Some(kind) = irregular_kind(&meta) {
            return Err(K8sError::NotRegularFile {
                path: path.to_path_buf(),
                kind,
            });
        }
        self.add(path.to_path_buf(), &meta, input)
    }

    /// Every `*.yaml` / `*.yml` regular file below `dir`, sorted.
    fn add_dir(&mut self, dir: &Path, input: &str) -> Result<(), K8sError> {
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        walk(dir, None, input, &mut |path, meta| {
            if !is_yaml(path) {
                return Ok(());
            }
            match irregular_kind(meta) {
                Some(kind) => skipped.push((path.to_path_buf(), kind)),
                None => found.push((path.to_path_buf(), meta.clone())),
            }
            Ok(())
        })?;
        self.skipped.extend(skipped);
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, meta) in found {
            self.add(path, &meta, input)?;
        }
        Ok(())
    }
}

/// Walk `root` following symbolic links, except a link to a directory
/// already walked (so loops end), calling `visit` on every entry that is not a directory
/// (regular or not: the caller decides). Visits at most [`MAX_ENTRIES`].
fn walk(
    root: &Path,
    max_depth: Option<usize>,
    input: &str,
    visit: &mut dyn FnMut(&Path, &Metadata) -> Result<(), K8sError>,
) -> Result<(), K8sError> {
    let mut dirs_seen: HashSet<PathBuf> = HashSet::new();
    let mut walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name();
    if let Some(d) = max_depth {
        walker = walker.max_depth(d);
    }
    let mut entries = 0usize;
    let iter = walker.into_iter().filter_entry(|e| {
        if !e.file_type().is_dir() {
            return true;
        }
        // A link to a directory already walked (a loop back to an ancestor,
        // a second link to the same place) is not followed; a real
        // directory always is, so `d/v2` is walked even when `d/current ->
        // v2` came first.
        let first = std::fs::canonicalize(e.path()).is_ok_and(|c| dirs_seen.insert(c));
        first || !e.path_is_symlink()
    });
    for entry in iter {
        entries += 1;
        if entries > MAX_ENTRIES {
            return Err(K8sError::TooManyFiles {
                input: input.to_string(),
                limit: MAX_ENTRIES,
            });
        }
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.loop_ancestor().is_some() => {
                tracing::debug!(path = %e.path().unwrap_or(root).display(), "symbolic link loop: not followed");
                continue;
            }
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("cannot walk the directory"));
                return Err(K8sError::Read { path, source });
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let meta = entry.metadata().map_err(|e| K8sError::Read {
            path: entry.path().to_path_buf(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("cannot read the metadata")),
        })?;
        visit(entry.path(), &meta)?;
    }
    Ok(())
}

/// Expand files and directories (directories: every `*.yaml` / `*.yml`
/// below, sorted, symbolic links followed without loops) into regular
/// files, each once.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, K8sError> {
    let mut found = Found::default();
    for p in paths {
        found.add_path(p, &p.display().to_string())?;
    }
    for (path, kind) in &found.skipped {
        tracing::warn!(path = %path.display(), "{kind}, not a regular file: not read");
    }
    Ok(found.files)
}

/// Whether a path component holds glob syntax.
fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Split a pattern into the directory to walk (its components before the
/// first one with glob syntax) and how deep below it to look (`None`: any
/// depth, for `**`).
fn walk_root(pattern: &str) -> (PathBuf, Option<usize>) {
    let mut root = PathBuf::new();
    let mut rest: Vec<&str> = Vec::new();
    for c in Path::new(pattern).components() {
        let s = c.as_os_str().to_str().unwrap_or("");
        if rest.is_empty() && !has_meta(s) {
            root.push(c);
        } else {
            rest.push(s);
        }
    }
    let depth = if rest.contains(&"**") || rest.iter().any(|s| s.contains("**")) {
        None
    } else {
        Some(rest.len())
    };
    (root, depth)
}

/// The paths one pattern matches, sorted: walked from its literal prefix
/// with links followed and loops not entered, each matched against the
/// whole pattern (`*` stays within a path component, `**` crosses them).
fn matches(pattern: &str) -> Result<Vec<PathBuf>, K8sError> {
    // Matched in the form the walk produces paths: `a//b` and `a/./b` are `a/b`.
    let normalized: PathBuf = Path::new(pattern).components().collect();
    let text = normalized.to_str().unwrap_or(pattern);
    let compiled = glob::Pattern::new(text).map_err(|e| K8sError::Pattern {
        pattern: pattern.to_string(),
        message: e.msg.to_string(),
    })?;
    let (root, depth) = walk_root(pattern);
    if depth == Some(0) {
        // No glob syntax: the path itself, if it exists.
        return Ok(if root.exists() {
            vec![root]
        } else {
            Vec::new()
        });
    }
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let relative = root.as_os_str().is_empty();
    let start = if relative { Path::new(".") } else { &root };
    if !start.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    walk(start, depth, pattern, &mut |path, _| {
        // `./x.yaml` is matched (and named) as `x.yaml`, as a shell would.
        let path = if relative {
            path.strip_prefix(".").unwrap_or(path)
        } else {
            path
        };
        if compiled.matches_path_with(path, opts) {
            out.push(path.to_path_buf());
        }
        Ok(())
    })?;
    Ok(out)
}

/// Expand glob patterns (`deploy/**/*.yaml`), files and directories into
/// regular files, each once (by canonical path), in the order given and
/// sorted within each pattern. A pattern that matches nothing is
/// [`K8sError::NoMatch`] naming it; symbolic links are followed, loops are
/// not entered; the bounds of the [module](self) apply.
pub fn resolve_globs(patterns: &[String]) -> Result<Vec<PathBuf>, K8sError> {
    resolve(patterns).map(|r| r.files)
}

/// What [`resolve`] found: the files to read, and the entries of walked
/// directories that were left out because they are not regular files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub files: Vec<PathBuf>,
    /// `(path, what it is)`, e.g. `(d/pipe.yaml, "a FIFO")`.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// [`resolve_globs`], also naming what directory walks left out.
pub fn resolve(patterns: &[String]) -> Result<Resolved, K8sError> {
    let mut found = Found::default();
    for pattern in patterns {
        let paths = matches(pattern)?;
        if paths.is_empty() {
            return Err(K8sError::NoMatch {
                pattern: pattern.clone(),
            });
        }
        for p in paths {
            found.add_path(&p, pattern)?;
        }
    }
    Ok(Resolved {
        files: found.files,
        skipped: found.skipped,
    })
}

/// Read one input file as text: only a regular file (checked before it is
/// opened, and opened non-blocking so a file swapped for a FIFO in between
/// cannot block), at most [`MAX_FILE_BYTES`], valid UTF-8.
pub fn read_file(path: &Path) -> Result<String, K8sError> {
    let regular = |meta: &Metadata| match irregular_kind(meta) {
        Some(kind) => Err(K8sError::NotRegularFile {
            path: path.to_path_buf(),
            kind,
        }),
        None => Ok(()),
    };
    regular(&std::fs::metadata(path).map_err(read_error(path))?)?;
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file: File = opts.open(path).map_err(read_error(path))?;
    let meta = file.metadata().map_err(read_error(path))?;
    regular(&meta)?;
    let too_large = || K8sError::TooLarge {
        path: path.to_path_buf(),
        limit_bytes: MAX_FILE_BYTES,
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(read_error(path))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    String::from_utf8(buf).map_err(|e| K8sError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_roots() {
        assert_eq!(
            walk_root("deploy/**/*.yaml"),
            (PathBuf::from("deploy"), None)
        );
        assert_eq!(walk_root("d/*.yaml"), (PathBuf::from("d"), Some(1)));
        assert_eq!(walk_root("*/x.yml"), (PathBuf::new(), Some(2)));
        assert_eq!(
            walk_root("/a/b.yaml"),
            (PathBuf::from("/a/b.yaml"), Some(0))
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_end_and_each_file_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("x.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.join("sub/y.yml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink(".", d.join("a")).unwrap();
        std::os::unix::fs::symlink(".", d.join("b")).unwrap();
        std::os::unix::fs::symlink("..", d.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("x.yaml", d.join("link.yaml")).unwrap();
        let files = expand_paths(std::slice::from_ref(&d)).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        let pattern = format!("{}/**/*.y*ml", d.display());
        let files = resolve_globs(&[pattern.clone(), pattern]).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
    }

    #[cfg(unix)]
    #[test]
    fn too_many_files_names_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("many");
        std::fs::create_dir(&d).unwrap();
        for i in 0..=MAX_FILES {
            std::fs::write(d.join(format!("{i}.yaml")), "").unwrap();
        }
        let e = expand_paths(std::slice::from_ref(&d)).unwrap_err();
        assert!(matches!(e, K8sError::TooManyFiles { .. }), "{e}");
        assert!(e.to_string().contains(&d.display().to_string()), "{e}");
    }
}
