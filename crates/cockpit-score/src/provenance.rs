//! Traceability: a hash of the effective configuration and the git
//! revision of the working directory, read without changing anything.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cockpit_core::GitRevision;
use sha2::{Digest, Sha256};

/// How long one `git` read may take before it is abandoned.
const GIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of git's output that is read (a commit or tree id, config names).
const MAX_GIT_OUTPUT: u64 = 64 * 1024;

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
///
/// The repository's own configuration is not trusted to run anything:
/// every call disables the fsmonitor hook, hooks, external diff and
/// textconv programs, pagers, prompts and the repository's filter drivers
/// (see [`git`]); each call is bounded by [`GIT_TIMEOUT`].
pub fn git_revision(dir: &Path) -> Option<GitRevision> {
    let ok = |(code, out): (i32, String)| (code == 0).then_some(out);
    let commit = ok(git(dir, &[], &["rev-parse", "--verify", "HEAD"])?)?;
    let tree = ok(git(dir, &[], &["rev-parse", "--verify", "HEAD^{tree}"])?)?;
    let filters = filter_overrides(dir)?;
    // Exit 0: no difference; 1: tracked files differ. Prints nothing.
    let (diff, _) = git(
        dir,
        &filters,
        &[
            "diff",
            "--quiet",
            "--no-ext-diff",
            "--no-textconv",
            "HEAD",
            "--",
        ],
    )?;
    let remote = git(dir, &[], &["config", "--get", "remote.origin.url"])
        .and_then(ok)
        .and_then(|u| remote_uri(&u));
    Some(GitRevision {
        commit,
        tree,
        dirty: diff != 0,
        remote,
    })
}

/// A remote's URL as a URI without user information: `https://host/path`
/// for git's scp-like `user@host:path`; `None` for a local path or what
/// does not parse.
///
/// ```
/// # use cockpit_score::remote_uri;
/// assert_eq!(remote_uri("https://x:tok@github.com/o/r.git").as_deref(), Some("https://github.com/o/r.git"));
/// assert_eq!(remote_uri("git@github.com:o/r.git").as_deref(), Some("https://github.com/o/r.git"));
/// assert_eq!(remote_uri("/srv/git/r.git"), None);
/// ```
pub fn remote_uri(remote: &str) -> Option<String> {
    let remote = remote.trim();
    let mut url = match url::Url::parse(remote) {
        Ok(u) if u.has_host() => u,
        Ok(_) => return None,
        Err(_) => {
            // scp-like: [user@]host:path (no scheme, no slash before the colon).
            let (host, path) = remote.split_once(':')?;
            let host = host.rsplit('@').next()?;
            if host.is_empty() || host.contains('/') || path.starts_with('/') {
                return None;
            }
            url::Url::parse(&format!("https://{host}/{path}")).ok()?
        }
    };
    url.set_username("").ok()?;
    url.set_password(None).ok()?;
    Some(url.to_string())
}

/// Settings that keep git from running a program named by the
/// repository's configuration. Given with `-c`, they win over every
/// configuration file.
const SAFE_CONFIG: [&str; 9] = [
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.untrackedCache=false",
    "core.pager=cat",
    "core.sshCommand=",
    "diff.external=",
    "credential.helper=",
    "protocol.allow=never",
    "core.alternateRefsCommand=",
];

/// `-c filter.<driver>.clean=` (and `smudge`, `process`) for every filter
/// driver the configuration declares, so comparing the work tree never
/// runs one. A file under such a filter may then read as dirty: a
/// conservative answer, never a program run. `None` when the
/// configuration cannot be read whole: then the work tree is not compared.
fn filter_overrides(dir: &Path) -> Option<Vec<String>> {
    let (code, out) = git(
        dir,
        &[],
        &[
            "config",
            "--name-only",
            "--get-regexp",
            r"^filter\..*\.(clean|smudge|process)$",
        ],
    )?;
    match code {
        0 => {}
        1 => return Some(Vec::new()), // no filter driver declared
        _ => return None,
    }
    let mut drivers: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("filter.")?.rsplit_once('.').map(|(d, _)| d))
        .collect();
    drivers.sort_unstable();
    drivers.dedup();
    let settings = drivers.into_iter().flat_map(|d| {
        ["clean=", "smudge=", "process=", "required=false"].map(|k| format!("filter.{d}.{k}"))
    });
    Some(settings.collect())
}

/// Exit code and (short) stdout of one git command, bounded by
/// [`GIT_TIMEOUT`], with [`SAFE_CONFIG`] and `extra` as `-c` settings,
/// no pager, no terminal prompt and no system configuration.
fn git(dir: &Path, extra: &[String], args: &[&str]) -> Option<(i32, String)> {
    let mut cmd = Command::new("git");
    cmd.arg("--no-pager").arg("--no-optional-locks");
    for c in SAFE_CONFIG
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        cmd.arg("-c").arg(c);
    }
    let mut child = cmd
        .args(args)
        .current_dir(dir)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env_remove("GIT_EXTERNAL_DIFF")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .env_remove("GIT_SSH_COMMAND")
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
                child
                    .stdout
                    .take()?
                    .take(MAX_GIT_OUTPUT + 1)
                    .read_to_string(&mut out)
                    .ok()?;
                if out.len() as u64 > MAX_GIT_OUTPUT {
                    return None; // not what these commands print: refuse it whole
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn sh(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("git runs")
            .success();
        assert!(ok, "git {args:?}");
    }

    /// A repository whose configuration names programs that write a
    /// marker file when run: the fsmonitor hook, a clean filter on every
    /// file, an external diff, a pager and hooks.
    fn hostile_repo() -> (tempfile::TempDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let marker = tmp.path().join("ran");
        let script = tmp.path().join("evil.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$0 $*\" >> '{}'\ncat\n", marker.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        sh(&repo, &["init", "-q"]);
        std::fs::write(repo.join("a.txt"), "one\n").unwrap();
        sh(&repo, &["add", "a.txt"]);
        sh(
            &repo,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                "one",
            ],
        );
        let s = script.display().to_string();
        for (k, v) in [
            ("core.fsmonitor", s.as_str()),
            ("filter.evil.clean", s.as_str()),
            ("filter.evil.process", s.as_str()),
            ("diff.external", s.as_str()),
            ("core.pager", s.as_str()),
        ] {
            sh(&repo, &["config", k, v]);
        }
        std::fs::write(
            repo.join(".git/info/attributes"),
            "* filter=evil diff=evil\n",
        )
        .unwrap();
        sh(&repo, &["config", "diff.evil.textconv", &s]);
        (tmp, marker)
    }

    #[test]
    fn runs_no_program_the_repository_configures() {
        let (tmp, marker) = hostile_repo();
        let repo = tmp.path().join("repo");
        let clean = git_revision(&repo).expect("a revision");
        assert_eq!(clean.commit.len(), 40);
        assert!(!clean.dirty, "the committed content is unchanged");
        // Touch the file so git must look at its content.
        std::fs::write(repo.join("a.txt"), "two\n").unwrap();
        let dirty = git_revision(&repo).expect("a revision");
        assert!(dirty.dirty);
        assert_eq!(dirty.commit, clean.commit);
        assert!(
            !marker.exists(),
            "git ran a configured program: {}",
            std::fs::read_to_string(&marker).unwrap_or_default()
        );
    }

    #[test]
    fn outside_a_repository_there_is_no_revision() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(git_revision(tmp.path()), None);
    }
}
