//! What ships, checked where it cannot be run: the GitHub Action
//! (`action.yml`), the release workflow, the Dockerfile, the `dist` profile
//! and the crates' metadata are parsed and held to what GitHub, Docker and
//! crates.io require; the man page in docs/man is the one the CLI generates
//! now; every shell's completions come from the CLI. Registry pushes and
//! image builds need credentials and a daemon: README "Install" says how
//! they run (.github/workflows/release.yml).

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_saphyr::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

fn toml_file(rel: &str) -> toml::Table {
    read(rel)
        .parse()
        .unwrap_or_else(|e| panic!("{rel} is not TOML: {e}"))
}

/// The project URL: one place, the workspace's `repository`.
fn project_url() -> String {
    let ws = toml_file("Cargo.toml");
    ws["workspace"]["package"]["repository"]
        .as_str()
        .expect("workspace.package.repository")
        .to_string()
}

/// `owner/name` of the project URL (the action's `uses:` name).
fn project_repo() -> String {
    project_url()
        .strip_prefix("https://github.com/")
        .expect("a GitHub project URL")
        .to_string()
}

/// Every `${{ … }}` expression in a text.
fn expressions(text: &str) -> Vec<String> {
    text.split("${{")
        .skip(1)
        .filter_map(|s| s.split_once("}}").map(|(e, _)| e.trim().to_string()))
        .collect()
}

#[test]
fn the_action_is_a_composite_action_github_accepts() {
    let a = yaml("action.yml");
    for key in ["name", "description"] {
        assert!(
            a[key].as_str().is_some_and(|s| !s.is_empty()),
            "action.yml: {key}"
        );
    }
    assert_eq!(a["runs"]["using"], "composite");
    let steps = a["runs"]["steps"].as_array().expect("runs.steps");
    let inputs = a["inputs"].as_object().expect("inputs");
    for (name, input) in inputs {
        assert!(
            input["description"].is_string(),
            "input {name}: description"
        );
    }
    let mut ids = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let has_run = s.get("run").is_some();
        let has_uses = s.get("uses").is_some();
        assert!(has_run ^ has_uses, "step {i}: exactly one of run / uses");
        // A composite action's run step must name its shell.
        if has_run {
            assert!(s["shell"].is_string(), "step {i}: run without shell");
        }
        if let Some(id) = s.get("id").and_then(Value::as_str) {
            ids.push(id.to_string());
        }
    }
    // Every input and step output referred to exists.
    let text = read("action.yml");
    for e in expressions(&text) {
        if let Some(rest) = e.split("inputs.").nth(1) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            assert!(
                inputs.contains_key(&name),
                "action.yml: ${{{{ {e} }}}}: no input {name}"
            );
        }
        if let Some(rest) = e.strip_prefix("steps.") {
            let id = rest.split('.').next().unwrap_or_default();
            assert!(ids.iter().any(|i| i == id), "action.yml: no step {id}");
        }
    }
    // It installs the released archive (checksum verified), runs certify,
    // uploads the SARIF certify writes.
    assert!(text.contains("sha256sum --check"), "checksum check");
    assert!(text.contains(&project_repo()), "downloads from the project");
    assert!(text.contains("agentops-cockpit certify"));
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@"))
        })
        .expect("an upload-sarif step");
    assert_eq!(
        upload["with"]["sarif_file"],
        "${{ inputs.out }}/report.sarif"
    );
    assert!(text.contains("--format sarif"));
}

#[test]
fn the_ci_example_uses_the_action() {
    let w = yaml("examples/ci/github-actions.yml");
    let steps = w["jobs"]["certify"]["steps"]
        .as_array()
        .expect("certify steps");
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    let own = format!("{}@", project_repo());
    assert!(uses.iter().any(|u| u.starts_with(&own)), "{uses:?}");
    assert_eq!(w["permissions"]["security-events"], "write");
}

#[test]
fn the_release_workflow_builds_every_target_with_checksums() {
    let w = yaml(".github/workflows/release.yml");
    assert!(
        w["on"]["push"]["tags"][0]
            .as_str()
            .is_some_and(|t| t.starts_with('v'))
    );
    let include = w["jobs"]["archives"]["strategy"]["matrix"]["include"]
        .as_array()
        .expect("a target matrix");
    let targets: Vec<&str> = include
        .iter()
        .filter_map(|t| t["target"].as_str())
        .collect();
    for t in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "aarch64-apple-darwin",
    ] {
        assert!(targets.contains(&t), "{t} not built: {targets:?}");
    }
    let text = read(".github/workflows/release.yml");
    assert!(text.contains("cargo xtask dist --target ${{ matrix.target }}"));
    assert!(text.contains("SHA256SUMS") && text.contains("sha256sum --check"));
    // The xtask the workflow runs exists and builds the dist profile.
    let xtask = read("xtask/src/dist.rs");
    assert!(xtask.contains(r#""--profile""#) && xtask.contains(r#""dist""#));
    assert!(xtask.contains(".sha256"));
}

/// The release's `cargo publish` loop publishes every crate of the
/// workspace but xtask, each after the workspace crates it depends on
/// (normal, build and dev dependencies: crates.io resolves all three), so
/// `cargo install agentops-cockpit` finds everything the binary needs.
#[test]
fn the_release_publishes_every_crate_after_its_dependencies() {
    let text = read(".github/workflows/release.yml");
    let list = text
        .split_once("for c in ")
        .and_then(|(_, rest)| rest.split_once("; do"))
        .expect("a `for c in …; do` publish loop")
        .0;
    let order: Vec<&str> = list.split_whitespace().filter(|w| *w != "\\").collect();
    let ws = toml_file("Cargo.toml");
    let members = ws["workspace"]["members"].as_array().unwrap();
    let crates: Vec<(String, toml::Table)> = members
        .iter()
        .filter_map(|m| m.as_str())
        .map(|m| toml_file(&format!("{m}/Cargo.toml")))
        .map(|t| (t["package"]["name"].as_str().unwrap().to_string(), t))
        .filter(|(name, _)| name != "xtask")
        .collect();
    for (name, manifest) in &crates {
        let at = order
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{name} is never published: {order:?}"));
        for section in ["dependencies", "build-dependencies", "dev-dependencies"] {
            let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else {
                continue;
            };
            for dep in deps.keys().filter(|d| *d != name) {
                if let Some(dep_at) = order.iter().position(|c| c == dep) {
                    assert!(
                        dep_at < at,
                        "{name} is published before its {section} {dep}"
                    );
                } else {
                    assert!(
                        crates.iter().all(|(n, _)| n != dep),
                        "{name} needs {dep}, which is not published"
                    );
                }
            }
        }
    }
}

/// The Dockerfile's instructions (continuation lines joined), as
/// (INSTRUCTION, arguments).
fn dockerfile() -> Vec<(String, String)> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(part) = l.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
            continue;
        }
        current.push_str(l);
        let (ins, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((ins.to_ascii_uppercase(), args.trim().to_string()));
        current.clear();
    }
    assert!(current.is_empty(), "Dockerfile ends in a continuation");
    out
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_with_the_binary_as_entrypoint() {
    let ins = dockerfile();
    let known = [
        "FROM",
        "WORKDIR",
        "COPY",
        "RUN",
        "LABEL",
        "USER",
        "ENTRYPOINT",
        "CMD",
        "ENV",
        "ARG",
    ];
    for (i, _) in &ins {
        assert!(known.contains(&i.as_str()), "unknown instruction {i}");
    }
    let froms: Vec<usize> = (0..ins.len()).filter(|&k| ins[k].0 == "FROM").collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    let builder = ins[froms[0]]
        .1
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    assert!(ins[froms[0]].1.contains(" AS "), "the build stage is named");
    // The build: the dist profile, the locked lock file, the binary crate,
    // installed from where that profile puts it.
    let run = ins[froms[0]..froms[1]]
        .iter()
        .find(|(i, a)| i == "RUN" && a.contains("cargo build"))
        .map(|(_, a)| a.clone())
        .expect("a cargo build in the build stage");
    let words: Vec<String> = shlex::split(&run).expect("shell words");
    let flag = |f: &str| {
        words
            .iter()
            .position(|w| w == f)
            .map(|k| words[k + 1].clone())
    };
    assert!(words.contains(&"--locked".to_string()), "{run}");
    let profile = flag("--profile").expect("--profile");
    assert!(
        toml_file("Cargo.toml")["profile"].get(&profile).is_some(),
        "no [profile.{profile}]"
    );
    assert_eq!(flag("-p").as_deref(), Some("agentops-cockpit"));
    assert!(
        run.contains(&format!("target/{profile}/agentops-cockpit")),
        "{run}"
    );
    // The runtime: minimal, not root, the binary as entrypoint (exec form).
    let last = &ins[froms[froms.len() - 1]..];
    let base = &last[0].1;
    assert!(
        base.contains("distroless") || base.contains("scratch"),
        "runtime base {base}"
    );
    let copy = last
        .iter()
        .find(|(i, a)| i == "COPY" && a.contains(&format!("--from={builder}")))
        .expect("the binary copied from the build stage");
    let dest = copy.1.split_whitespace().last().unwrap().to_string();
    let user = last
        .iter()
        .rfind(|(i, _)| i == "USER")
        .expect("USER")
        .1
        .clone();
    let uid = user.split(':').next().unwrap();
    assert!(uid != "0" && uid != "root", "runs as {user}");
    let entry = last
        .iter()
        .rfind(|(i, _)| i == "ENTRYPOINT")
        .expect("ENTRYPOINT");
    let argv: Vec<String> = serde_json::from_str(&entry.1).expect("exec form (JSON array)");
    assert_eq!(argv, [dest]);
    let label = last.iter().find(|(i, _)| i == "LABEL").expect("LABEL");
    assert!(label.1.contains(&project_url()), "image source label");
}

#[test]
fn the_dist_profile_strips_with_thin_lto_and_one_codegen_unit() {
    let ws = toml_file("Cargo.toml");
    let dist = &ws["profile"]["dist"];
    assert_eq!(dist["inherits"].as_str(), Some("release"));
    assert_eq!(dist["strip"].as_bool(), Some(true));
    assert_eq!(dist["lto"].as_str(), Some("thin"));
    assert_eq!(dist["codegen-units"].as_integer(), Some(1));
}

#[test]
fn every_published_crate_has_its_metadata_and_one_project_url() {
    let url = project_url();
    assert!(!url.contains("example.invalid"));
    let ws = toml_file("Cargo.toml");
    assert_eq!(
        ws["workspace"]["package"]["homepage"].as_str(),
        Some(url.as_str())
    );
    let members = ws["workspace"]["members"].as_array().unwrap();
    for m in members.iter().filter_map(|m| m.as_str()) {
        let t = toml_file(&format!("{m}/Cargo.toml"));
        let p = &t["package"];
        let name = p["name"].as_str().unwrap();
        if p.get("publish").and_then(|v| v.as_bool()) == Some(false) {
            assert_eq!(
                name, "xtask",
                "{name} is not published, yet the binary needs it"
            );
            continue;
        }
        assert!(
            p["description"].as_str().is_some_and(|d| d.len() > 20),
            "{name}: description"
        );
        let ws_key = |k: &str| {
            p.get(k)
                .and_then(|v| v.get("workspace"))
                .and_then(|v| v.as_bool())
                == Some(true)
        };
        for k in ["repository", "homepage", "license", "readme", "version"] {
            assert!(ws_key(k), "{name}: {k}.workspace = true (one place)");
        }
        assert_eq!(
            p["documentation"].as_str(),
            Some(format!("https://docs.rs/{name}").as_str()),
            "{name}"
        );
        let keywords = p["keywords"].as_array().expect("keywords");
        assert!((1..=5).contains(&keywords.len()), "{name}: 1–5 keywords");
        for k in keywords.iter().filter_map(|k| k.as_str()) {
            assert!(
                k.len() <= 20
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{name}: keyword {k}"
            );
        }
        assert!(
            p["categories"].as_array().is_some_and(|c| !c.is_empty()),
            "{name}: categories"
        );
    }
    // A crate that compiles proto/ carries it (crates.io holds only the
    // crate's own directory).
    for c in ["cockpit-probe", "cockpit-testbed"] {
        let build = read(&format!("crates/{c}/build.rs"));
        assert!(
            !build.contains("../../proto"),
            "{c}/build.rs reads outside the crate"
        );
        assert!(
            root()
                .join(format!("crates/{c}/proto/cockpit/agent/v1/agent.proto"))
                .is_file()
        );
    }
}

fn cli(args: &[&str]) -> String {
    let out = std::process::Command::new(common::BIN)
        .args(args)
        .output()
        .expect("run agentops-cockpit");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_man_page_is_current() {
    let fresh = cli(&["manpage"]);
    let kept = read("docs/man/agentops-cockpit.1");
    assert!(
        fresh.starts_with(".ie \\n(.g .ds Aq") || fresh.contains(".TH"),
        "roff"
    );
    assert!(fresh.contains("certify") && fresh.contains("completions"));
    assert!(
        kept == fresh,
        "docs/man/agentops-cockpit.1 is stale: run `cargo xtask man` and commit it"
    );
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let text = cli(&["completions", shell]);
        for word in ["certify", "audit", "push-gateway", "color"] {
            assert!(text.contains(word), "{shell}: no {word}");
        }
    }
    // The shells at hand parse their script.
    for (shell, flag) in [("bash", "-n"), ("zsh", "-n"), ("fish", "--no-execute")] {
        let Ok(status) = std::process::Command::new(shell).arg("--version").output() else {
            continue;
        };
        if !status.status.success() {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("completions.{shell}"));
        std::fs::write(&file, cli(&["completions", shell])).unwrap();
        let out = std::process::Command::new(shell)
            .arg(flag)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell} {flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // An unknown shell is a usage error.
    let out = std::process::Command::new(common::BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
