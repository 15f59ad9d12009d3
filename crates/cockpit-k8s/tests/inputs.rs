//! Hostile inputs on the file system: symbolic-link loops, FIFOs, devices,
//! directories named like files, files over the size bound. Each must end
//! (a generous hang guard, not a timing), audit every file once, and name
//! the input it refuses.
#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use cockpit_core::{Finding, Status};
use cockpit_k8s::checks::gate::GateRules;
use cockpit_k8s::{
    K8sConfig, K8sError, MAX_FILE_BYTES, audit, audit_manifests, audit_pipelines, resolve_globs,
};
use tokio_util::sync::CancellationToken;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")).join(p)
}

/// Run `f` on a thread; panic if it has not returned after a minute (a
/// hang guard: a blocked open or an endless walk never returns).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the call did not return: it blocked or looped")
}

/// `root/d` holding the bad-agent manifest, a pipeline, and links back to
/// itself (`a -> .`, `b -> .`) and to its parent (`sub/up -> ..`).
fn looped(root: &Path) -> PathBuf {
    let d = root.join("d");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::copy(fixture("manifests/bad/agent.yaml"), d.join("agent.yaml")).unwrap();
    std::fs::copy(
        fixture("workflows/ungated/deploy.yml"),
        d.join("sub/deploy.yml"),
    )
    .unwrap();
    symlink(".", d.join("a")).unwrap();
    symlink(".", d.join("b")).unwrap();
    symlink("..", d.join("sub/up")).unwrap();
    symlink("agent.yaml", d.join("same.yaml")).unwrap();
    d
}

fn ids(fs: &[Finding]) -> Vec<String> {
    let mut v: Vec<String> = fs
        .iter()
        .map(|f| format!("{} {}", f.check_id, f.subject.as_deref().unwrap_or("-")))
        .collect();
    v.sort();
    v
}

#[test]
fn symlink_loops_end_and_audit_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = looped(dir.path());
    let clean = audit_manifests(
        &[fixture("manifests/bad/agent.yaml")],
        &K8sConfig::default(),
    )
    .unwrap()
    .outcome
    .findings;

    let d2 = d.clone();
    let walked = bounded(move || audit_manifests(&[d2], &K8sConfig::default()).unwrap());
    // The manifest once (through `a`, `b`, `same.yaml` and `sub/up` alike),
    // plus the pipeline file read as YAML (a document no check reads).
    let manifests: Vec<Finding> = walked
        .outcome
        .findings
        .into_iter()
        .filter(|f| !f.summary.contains("deploy.yml"))
        .collect();
    assert_eq!(ids(&manifests), ids(&clean));

    for pattern in [
        "**/*.yaml",
        "**/agent.yaml",
        "*.yaml",
        "./*.yaml",
        "sub//../*.yaml",
    ] {
        let p = format!("{}/{pattern}", d.display());
        let files = bounded(move || resolve_globs(&[p]).unwrap());
        assert_eq!(files.len(), 1, "{pattern}: {files:?}");
    }

    let d3 = d.clone();
    let gates = bounded(move || audit_pipelines(&[d3], &GateRules::default()).unwrap());
    let gate: Vec<&Finding> = gates
        .outcome
        .findings
        .iter()
        .filter(|f| f.check_id.as_str() == "CIC-GATE" && f.status == Status::Fail)
        .collect();
    assert_eq!(gate.len(), 2, "one per deploy step of the one workflow");
}

#[test]
fn links_to_the_same_directory_are_walked_once() {
    // Not a loop, but a fan-out: 12 levels of two links each would be 4,096
    // paths to the same file.
    let dir = tempfile::tempdir().unwrap();
    let mut level = dir.path().join("l0");
    std::fs::create_dir(&level).unwrap();
    std::fs::write(level.join("x.yaml"), "a: 1\n").unwrap();
    for i in 1..=12 {
        let next = dir.path().join(format!("l{i}"));
        std::fs::create_dir(&next).unwrap();
        symlink(&level, next.join("left")).unwrap();
        symlink(&level, next.join("right")).unwrap();
        level = next;
    }
    let files = bounded(move || cockpit_k8s::input::expand_paths(&[level]).unwrap());
    assert_eq!(files.len(), 1, "{files:?}");
}

#[test]
fn only_regular_files_are_read_and_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    for (path, kind) in [
        (fifo.clone(), "a FIFO"),
        (PathBuf::from("/dev/zero"), "a character device"),
        (PathBuf::from("/dev/null"), "a character device"),
    ] {
        let p = path.clone();
        let e = bounded(move || audit_manifests(&[p], &K8sConfig::default()).unwrap_err());
        assert!(
            matches!(e, K8sError::NotRegularFile { .. }),
            "{}: {e}",
            path.display()
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains(kind),
            "{msg}"
        );
        let p = path.clone();
        let e = bounded(move || audit_pipelines(&[p], &GateRules::default()).unwrap_err());
        assert!(matches!(e, K8sError::NotRegularFile { .. }), "{e}");
        let pattern = path.display().to_string();
        let e = bounded(move || resolve_globs(&[pattern]).unwrap_err());
        assert!(matches!(e, K8sError::NotRegularFile { .. }), "{e}");
    }
    // In a directory walk, the FIFO is skipped and the real file read.
    std::fs::copy(
        fixture("manifests/good/agent.yaml"),
        dir.path().join("agent.yaml"),
    )
    .unwrap();
    let d = dir.path().to_path_buf();
    let a = bounded(move || audit_manifests(&[d], &K8sConfig::default()).unwrap());
    assert!(a.documents > 0);
}

#[test]
fn a_directory_named_like_a_file_is_walked() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.yaml");
    std::fs::create_dir(&x).unwrap();
    let a = audit_manifests(std::slice::from_ref(&x), &K8sConfig::default()).unwrap();
    assert_eq!((a.documents, a.outcome.findings.len()), (0, 0));
    std::fs::copy(fixture("manifests/good/agent.yaml"), x.join("agent.yaml")).unwrap();
    let a = audit_manifests(&[x], &K8sConfig::default()).unwrap();
    assert!(a.documents > 0);
}

#[test]
fn files_over_the_size_bound_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    // Sparse: no disk space used.
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_FILE_BYTES + 1).unwrap();
    let at_limit = dir.path().join("limit.yaml");
    std::fs::File::create(&at_limit)
        .unwrap()
        .set_len(MAX_FILE_BYTES)
        .unwrap();
    for paths in [vec![big.clone()], vec![dir.path().to_path_buf()]] {
        let e = audit_manifests(&paths, &K8sConfig::default()).unwrap_err();
        match &e {
            K8sError::TooLarge { path, limit_bytes } => {
                assert_eq!(path, &big);
                assert_eq!(*limit_bytes, MAX_FILE_BYTES);
            }
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("big.yaml"), "{e}");
    }
    let e = audit_pipelines(std::slice::from_ref(&big), &GateRules::default()).unwrap_err();
    assert!(matches!(e, K8sError::TooLarge { .. }), "{e}");
    // Exactly at the bound is read (16 MiB of NUL bytes: one document that
    // is not a Kubernetes object).
    let a = audit_manifests(&[at_limit], &K8sConfig::default()).unwrap();
    assert!(
        a.outcome
            .findings
            .iter()
            .all(|f| f.check_id.as_str() == "CMP-MANIFEST")
    );
}

#[tokio::test]
async fn the_audit_turns_bad_inputs_into_findings_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(MAX_FILE_BYTES + 1)
        .unwrap();
    let d = looped(dir.path());
    for (cfg, needle) in [
        (
            K8sConfig {
                manifests: vec![big.display().to_string()],
                ..K8sConfig::default()
            },
            "big.yaml: larger than",
        ),
        (
            K8sConfig {
                pipelines: vec!["/dev/zero".into()],
                ..K8sConfig::default()
            },
            "/dev/zero: not a regular file",
        ),
        (
            K8sConfig {
                cloud_run: vec![format!("{}/nothing-*.yaml", dir.path().display())],
                ..K8sConfig::default()
            },
            "matches no file",
        ),
    ] {
        let a = audit(&cfg, &CancellationToken::new()).await;
        let f = &a.outcome.findings;
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].status, Status::Error);
        assert_eq!(f[0].check_id.as_str(), "CMP-MANIFEST");
        assert!(f[0].summary.contains(needle), "{}", f[0].summary);
        assert_eq!(a.outcome.subjects, 0);
    }
    // And the looped directory, through the entry point, once.
    let cfg = K8sConfig {
        manifests: vec![format!("{}/**/*.yaml", d.display())],
        ..K8sConfig::default()
    };
    let a = audit(&cfg, &CancellationToken::new()).await;
    let clean = audit_manifests(
        &[fixture("manifests/bad/agent.yaml")],
        &K8sConfig::default(),
    )
    .unwrap()
    .outcome
    .findings;
    assert_eq!(ids(&a.outcome.findings), ids(&clean));
    assert!(!a.outcome.interrupted);
}

#[test]
fn a_real_directory_is_walked_even_after_a_link_to_it() {
    // `current -> v2` sorts before `v2`: patterns naming `v2` still match.
    let dir = tempfile::tempdir().unwrap();
    let deploy = dir.path().join("deploy");
    std::fs::create_dir_all(deploy.join("v2")).unwrap();
    std::fs::copy(
        fixture("manifests/good/agent.yaml"),
        deploy.join("v2/agent.yaml"),
    )
    .unwrap();
    symlink("v2", deploy.join("current")).unwrap();
    for pattern in [
        "*/v2/*.yaml",
        "**/v2/*.yaml",
        "deploy/**/agent.yaml",
        "deploy/current/*.yaml",
    ] {
        let root = dir.path().to_path_buf();
        let p = format!("{}/{pattern}", root.display());
        let files = bounded(move || resolve_globs(&[p]).unwrap());
        assert_eq!(files.len(), 1, "{pattern}: {files:?}");
    }
    let files = cockpit_k8s::input::expand_paths(&[deploy]).unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
}
