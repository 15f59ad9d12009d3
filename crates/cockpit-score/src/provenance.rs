//! Traceability: a hash of the effective configuration and the git
//! revision of the working directory, read without changing anything.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cockpit_core::GitRevision;
use sha2::{Digest, Sha256};

/// How long one `git` read may take before it is abandoned.
const GIT_TIMEOUT: Duration = Duration::from_secs(10);

/// SHA-256 (hex) of the effective configuration's canonical text.
///
/// ```
/// let a = cockpit_score::config_sha256("threshold = 90");
/// assert_eq!(a.len(), 64);
/// assert_ne!(a, cockpit_score::config_sha256("threshold = 95"));
/// ```
pub fn config_sha256(effective: &str) -> String {
    crate::lake::hex(&Sha256::digest(effective.as_bytes()))
}

/// The `HEAD` commit and tree of the repository `dir` is in, and whether
/// tracked files differ from it; `None` outside a repository or without
/// `git`. Read-only: `git rev-parse` and `git diff --quiet` with optional
/// locks off (so not even the index is refreshed).
pub fn git_revision(dir: &Path) -> Option<GitRevision> {
    let ok = |(code, out): (i32, String)| (code == 0).then_some(out);
    let commit = ok(git(dir, &["rev-parse", "--verify", "HEAD"])?)?;
    let tree = ok(git(dir, &["rev-parse", "--verify", "HEAD^{tree}"])?)?;
    // Exit 0: no difference; 1: tracked files differ. Prints nothing.
    let (diff, _) = git(dir, &["diff", "--quiet", "HEAD", "--"])?;
    Some(GitRevision {
        commit,
        tree,
        dirty: diff != 0,
    })
}

/// Exit code and (short) stdout of one git command, bounded by [`GIT_TIMEOUT`].
fn git(dir: &Path, args: &[&str]) -> Option<(i32, String)> {
    let mut child = Command::new("git")
        .arg("--no-optional-locks")
        .args(args)
        .current_dir(dir)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + GIT_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                use std::io::Read as _;
                let mut out = String::new();
                child.stdout.take()?.read_to_string(&mut out).ok()?;
                return Some((status.code()?, out.trim().to_string()));
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!(?args, "git did not answer in time; no revision recorded");
                return None;
            }
        }
    }
}
