//! CIC-GATE: no path to production without the Sovereign Gate. Scans GitHub
//! Actions workflows and GitLab CI files for deploys — shell commands
//! (`kubectl apply`, `helm upgrade`, `gcloud run deploy`, …) and marketplace
//! actions (`azure/k8s-deploy`, `google-github-actions/deploy-cloudrun`, …) —
//! and checks that a *real* `agentops-cockpit certify` whose failure stops
//! the deploy runs before each one in the same job chain: earlier in the
//! same job, or in a job it `needs:` (transitively); on GitLab also a job of
//! an earlier stage when the job has no `needs:`.
//!
//! Shell is read with [`shell`] (control operators, quotes, `set -e/+e`,
//! `set -o pipefail`), never by substring. A certify does not count — and
//! the finding says why — when it only prints (`--help`, `--version`), sets
//! `--threshold` below [`GateRules::min_threshold`], runs in the background
//! (`&`), has its status swallowed (`|| echo`, `|| true`, `; true`, a pipe
//! without pipefail, `set +e` with the status never acted on, an `if`
//! test), is disabled by a condition (`if: false`, `when: never`), may fail
//! (`continue-on-error`, `allow_failure`, `when: manual`), re-scores a
//! report the pipeline did not produce (`--from FILE` with no earlier
//! `--out` writing it), or when the deploy runs regardless of it (`if:
//! always()`, `!cancelled()`, `failure()`, `when: always`). Dry runs
//! (`--dry-run`) are not deploys. docs/checks/CIC-GATE.md lists it all.

mod shell;

use std::collections::{BTreeMap, BTreeSet};

use cockpit_core::{CheckId, CheckSpec, Finding, Location, Pillar, Severity, Status};
use serde_json::{Map, Value};

use shell::{Cmd, Op};

pub const CIC_GATE: CheckSpec = CheckSpec {
    id: CheckId::new("CIC-GATE"),
    pillar: Pillar::Cicd,
    severity: Severity::Critical,
    title: "Sovereign Gate before deploy",
};

/// The lowest `--threshold` a pipeline's certify may use, by default.
pub const DEFAULT_MIN_PIPELINE_THRESHOLD: f64 = 90.0;

/// What a pipeline gate is held to (`[gate] min_pipeline_threshold`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateRules {
    /// A certify with `--threshold` below this does not count.
    pub min_threshold: f64,
}

impl Default for GateRules {
    fn default() -> Self {
        GateRules {
            min_threshold: DEFAULT_MIN_PIPELINE_THRESHOLD,
        }
    }
}

/// Marketplace actions that deploy (matched case-insensitively on the
/// `uses:` name before `@`).
pub const DEPLOY_ACTIONS: [&str; 12] = [
    "azure/k8s-deploy",
    "azure/webapps-deploy",
    "azure/functions-action",
    "google-github-actions/deploy-cloudrun",
    "google-github-actions/deploy-appengine",
    "google-github-actions/deploy-cloud-functions",
    "deliverybot/helm",
    "wyrihaximus/github-action-helm3",
    "clowdhaus/argo-cd-action",
    "aws-actions/amazon-ecs-deploy-task-definition",
    "aws-actions/aws-cloudformation-github-deploy",
    "bitovi/github-actions-deploy-eks-helm",
];

/// Commands that run the command after them (`sudo kubectl …`).
const WRAPPERS: [&str; 9] = [
    "sudo", "env", "timeout", "nohup", "command", "exec", "time", "xargs", "npx",
];

/// The words after `tool` when the command runs it: `tool` (its basename)
/// is the command, or follows wrappers and their flags (`timeout 600 kubectl`).
fn after_tool<'a>(words: &'a [String], tool: &str) -> Option<&'a [String]> {
    let i = words
        .iter()
        .position(|w| w.rsplit('/').next() == Some(tool))?;
    let wrapped = words[..i].iter().all(|w| {
        WRAPPERS.contains(&w.as_str())
            || w.starts_with('-')
            || w.chars()
                .all(|c| c.is_ascii_digit() || c == 's' || c == 'm')
    });
    (i == 0 || (wrapped && WRAPPERS.contains(&words[0].as_str()))).then(|| &words[i + 1..])
}

/// The first words after `tool` that are not flags (and not a flag's value
/// for the few global flags that take one).
fn subcommands<'a>(words: &'a [String], tool: &str) -> Vec<&'a str> {
    let Some(rest) = after_tool(words, tool) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut skip = false;
    for w in rest {
        if skip {
            skip = false;
        } else if w.starts_with('-') {
            skip = !w.contains('=')
                && matches!(
                    w.as_str(),
                    "-n" | "--namespace"
                        | "--context"
                        | "--kubeconfig"
                        | "--project"
                        | "--region"
                        | "--kube-context"
                        | "-s"
                        | "--server"
                        | "--cluster"
                        | "--config"
                );
        } else {
            out.push(w.as_str());
        }
    }
    out
}

fn dry_run(words: &[String]) -> bool {
    words
        .iter()
        .any(|w| w == "--dry-run" || (w.starts_with("--dry-run=") && w != "--dry-run=none"))
}

/// The deploy a simple command runs, if any.
pub fn deploy_words(words: &[String]) -> Option<&'static str> {
    if dry_run(words) {
        return None;
    }
    let sub = |tool| subcommands(words, tool);
    let starts = |tool, prefix: &[&str]| {
        let s = sub(tool);
        s.len() >= prefix.len() && s[..prefix.len()] == *prefix
    };
    let k = sub("kubectl");
    if let Some(&verb) = k.first() {
        return match verb {
            "apply" => Some("kubectl apply"),
            "create" if !k.contains(&"secret") && !k.contains(&"token") => Some("kubectl create"),
            "replace" => Some("kubectl replace"),
            "patch" => Some("kubectl patch"),
            "set" if k.get(1) == Some(&"image") => Some("kubectl set image"),
            "rollout" if k.get(1) == Some(&"restart") => Some("kubectl rollout restart"),
            _ => None,
        };
    }
    if starts("gcloud", &["run", "deploy"]) {
        Some("gcloud run deploy")
    } else if starts("gcloud", &["run", "services", "replace"]) {
        Some("gcloud run services replace")
    } else if starts("gcloud", &["run", "services", "update"]) {
        Some("gcloud run services update")
    } else if starts("gcloud", &["app", "deploy"]) {
        Some("gcloud app deploy")
    } else if starts("gcloud", &["functions", "deploy"]) {
        Some("gcloud functions deploy")
    } else if starts("helm", &["upgrade"]) {
        Some("helm upgrade")
    } else if starts("helm", &["install"]) {
        Some("helm install")
    } else if starts("helmfile", &["apply"]) || starts("helmfile", &["sync"]) {
        Some("helmfile apply")
    } else if starts("argocd", &["app", "sync"]) {
        Some("argocd app sync")
    } else if starts("agentops-cockpit", &["deploy"]) {
        Some("agentops-cockpit deploy")
    } else {
        None
    }
}

/// The deploy a GitHub action step does, if any.
fn deploy_action(uses: &str, with: &Map<String, Value>) -> Option<String> {
    let name = uses.split('@').next().unwrap_or(uses).to_ascii_lowercase();
    let known = DEPLOY_ACTIONS
        .iter()
        .find(|a| name == **a || name.starts_with(&format!("{a}/")))?;
    let input = |k: &str| with.get(k).and_then(Value::as_str).unwrap_or("");
    if *known == "clowdhaus/argo-cd-action" {
        let cmd = format!("{} {}", input("command"), input("options"));
        let words: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        let sync = words.windows(2).any(|w| w[0] == "app" && w[1] == "sync");
        return sync.then(|| format!("{known} (app sync)"));
    }
    if *known == "wyrihaximus/github-action-helm3" && !input("exec").is_empty() {
        let words = shlex::split(input("exec")).unwrap_or_default();
        return deploy_words(&words).map(|d| format!("{known} ({d})"));
    }
    Some(format!("{known} action"))
}

/// Kept for callers that judge one line: the deploy it runs, if any.
pub fn deploy_command(line: &str) -> Option<&'static str> {
    shell::parse(line)
        .iter()
        .find_map(|c| deploy_words(&c.words))
}

/// Whether the words run `agentops-cockpit certify`.
/// Also through cargo: `cargo run -p agentops-cockpit -- certify …`.
fn is_certify(words: &[String]) -> bool {
    subcommands(words, "agentops-cockpit").first() == Some(&"certify") || cargo_certify(words)
}

fn cargo_certify(words: &[String]) -> bool {
    let Some(dash) = words.iter().position(|w| w == "--") else {
        return false;
    };
    let cargo = &words[..dash];
    let ours = cargo.windows(2).any(|w| {
        matches!(w[0].as_str(), "-p" | "--package" | "--bin") && w[1] == "agentops-cockpit"
    }) || cargo
        .iter()
        .any(|w| w == "--package=agentops-cockpit" || w == "--bin=agentops-cockpit");
    cargo
        .first()
        .is_some_and(|w| w.rsplit('/').next() == Some("cargo"))
        && cargo.get(1).is_some_and(|w| w == "run")
        && ours
        && words.get(dash + 1).is_some_and(|w| w == "certify")
}

/// The value of `--flag V` / `--flag=V`.
fn flag<'a>(words: &'a [String], name: &str) -> Option<&'a str> {
    let eq = format!("{name}=");
    words.iter().enumerate().find_map(|(i, w)| {
        if w == name {
            words.get(i + 1).map(String::as_str)
        } else {
            w.strip_prefix(&eq)
        }
    })
}

/// `agentops-cockpit deploy sovereign …`: `None` for any other command;
/// `Some(None)` when it changes nothing (`--render`, or the default dry
/// run); `Some(Some((verdict, from)))` with `--apply`, which certifies (or
/// re-scores `--from`) and refuses below the gate itself — no gate when
/// `--force` overrides it or its `--threshold` is below the policy minimum.
#[allow(clippy::type_complexity, reason = "a local triple, named in the doc")]
fn sovereign_deploy(
    words: &[String],
    rules: &GateRules,
) -> Option<Option<(Result<(), String>, Option<String>)>> {
    let sub = subcommands(words, "agentops-cockpit");
    if sub.len() < 2 || sub[..2] != ["deploy", "sovereign"] {
        return None;
    }
    let has = |f: &str| {
        words
            .iter()
            .any(|w| w == f || w.starts_with(&format!("{f}=")))
    };
    if has("--render") || !has("--apply") {
        return Some(None);
    }
    let verdict = if has("--force") {
        Err("`deploy sovereign --force` overrides its own gate (recorded, but not a gate)".into())
    } else {
        certify_flags(words, rules).map_or(Ok(()), Err)
    };
    Some(Some((verdict, flag(words, "--from").map(str::to_string))))
}

/// Why the flags of a certify make it no gate, if they do.
fn certify_flags(words: &[String], rules: &GateRules) -> Option<String> {
    let rest = after_tool(words, "agentops-cockpit").unwrap_or(words);
    if let Some(f) = rest
        .iter()
        .find(|w| matches!(w.as_str(), "--help" | "-h" | "--version" | "-V" | "help"))
    {
        return Some(format!(
            "`agentops-cockpit certify {f}` only prints and exits 0: it certifies nothing"
        ));
    }
    if rest.iter().any(|w| w == "--testbed") {
        return Some(
            "`certify --testbed` certifies the embedded reference testbed, not this deployment"
                .into(),
        );
    }
    let t = flag(rest, "--threshold")?;
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= rules.min_threshold => None,
        Ok(v) => Some(format!(
            "certify runs with --threshold {v}, below the policy minimum {}",
            rules.min_threshold
        )),
        Err(_) => Some(format!(
            "certify runs with --threshold {t}, which is not a number the scan can hold to the policy minimum {}",
            rules.min_threshold
        )),
    }
}

/// Where `audit report` / `certify` write their report (`--out DIR`).
fn writes_report(words: &[String]) -> Option<String> {
    let sub = subcommands(words, "agentops-cockpit");
    let writer = sub.first() == Some(&"certify") || sub[..sub.len().min(2)] == ["audit", "report"];
    writer.then(|| flag(words, "--out").map(norm_path))?
}

fn norm_path(p: &str) -> String {
    p.trim_start_matches("./").trim_end_matches('/').to_string()
}

/// `--from FILE` is produced by an `--out DIR` writer when FILE is DIR or in it.
fn produced(from: &str, outs: &[String]) -> bool {
    let f = norm_path(from);
    let parent = f.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    outs.iter().any(|o| *o == f || *o == parent)
}

/// What a job's scripts and actions hold, in order.
#[derive(Debug, Clone)]
enum Event {
    /// A certify; `Err(why)` when the script makes it no gate.
    Gate {
        line: u32,
        verdict: Result<(), String>,
        from: Option<String>,
    },
    Deploy {
        line: u32,
        what: String,
        /// Inside `if agentops-cockpit certify …; then … fi`: the certify's line.
        guarded: Option<u32>,
    },
    /// An `--out DIR` report writer.
    Writes(String),
}

/// The index after the `{ …; }` / `( … )` group starting at `i` (or `i + 1`).
fn group_end(cmds: &[Cmd], i: usize) -> usize {
    let opens = cmds[i].keywords.iter().any(|k| k == "{" || k == "(");
    if !opens {
        return i + 1;
    }
    let mut e = i;
    while e + 1 < cmds.len() && !cmds[e].text.ends_with('}') && !cmds[e].text.ends_with(')') {
        e += 1;
    }
    e + 1
}

/// Whether a certify at `k` stops the script when it fails.
fn certify_in_script(cmds: &[Cmd], k: usize, errexit: bool, pipefail: bool) -> Result<(), String> {
    let c = &cmds[k];
    let mut j = k;
    while cmds[j].op == Op::Pipe && j + 1 < cmds.len() {
        j += 1;
    }
    if j > k && !pipefail {
        return Err(format!(
            "certify's exit status is lost in the pipe `| {}` (without `set -o pipefail` a pipeline's status is its last command's)",
            cmds[k + 1].text
        ));
    }
    let mut m = j;
    while matches!(cmds[m].op, Op::And | Op::Or | Op::Pipe) && m + 1 < cmds.len() {
        m += 1;
    }
    if cmds[m].op == Op::Background {
        return Err(
            "certify runs in the background (`&`): the script goes on without its exit status"
                .into(),
        );
    }
    let mut p = j;
    while p < m {
        if cmds[p].op == Op::Or {
            let end = group_end(cmds, p + 1);
            if cmds[p + 1..end.min(cmds.len())].iter().any(Cmd::fails) {
                break;
            }
            return Err(format!(
                "certify's exit status is swallowed by `|| {}`",
                cmds[p + 1].text
            ));
        }
        p += 1;
    }
    let next = cmds.get(m + 1);
    if c.in_condition() || c.negated() {
        // `if ! certify; then …; exit 1; fi`: the then-branch fails.
        let branch = cmds[m + 1..]
            .iter()
            .take_while(|n| !n.keywords.iter().any(|k| k == "else" || k == "elif"));
        let mut ended = false;
        let stops = c.negated()
            && c.in_condition()
            && branch
                .take_while(|n| !std::mem::replace(&mut ended, n.closes))
                .any(Cmd::fails);
        return if stops {
            Ok(())
        } else {
            Err(format!(
                "certify's exit status is only tested by `{}`, which turns errexit off for it (write `if ! agentops-cockpit certify …; then exit 1; fi` or run it on its own)",
                c.keywords.join(" ")
            ))
        };
    }
    if cmds[m].op == Op::Seq
        && let Some(n) = next.filter(|n| n.succeeds() && n.keywords.is_empty())
    {
        return Err(format!(
            "certify's exit status is swallowed by `; {}` (the step succeeds whenever errexit is off)",
            n.text
        ));
    }
    if !errexit {
        let acted =
            next.is_some_and(|n| n.text.contains("$?")) && cmds[m + 1..].iter().any(Cmd::fails);
        if next.is_some() && !acted {
            return Err("certify runs with errexit off (`set +e`, or a shell without `-e`): its failure does not stop the script and its status is never acted on (`exit $code`)".into());
        }
    }
    Ok(())
}

/// `set -e` / `set +e` / `set -o pipefail` … applied to the options.
fn apply_set(words: &[String], errexit: &mut bool, pipefail: &mut bool) {
    if words.first().map(String::as_str) != Some("set") {
        return;
    }
    let mut it = words[1..].iter().peekable();
    while let Some(w) = it.next() {
        let on = w.starts_with('-');
        if !(on || w.starts_with('+')) || w.starts_with("--") {
            continue;
        }
        if w[1..].contains('e') {
            *errexit = on;
        }
        if w[1..].contains('o')
            && let Some(name) = it.next_if(|n| !n.starts_with('-') && !n.starts_with('+'))
        {
            match name.as_str() {
                "errexit" => *errexit = on,
                "pipefail" => *pipefail = on,
                _ => {}
            }
        }
    }
}

/// The commands of the `then` branch of a positive `if` whose condition is
/// the command at `k`: from the `then` to the first `else` / `elif` or the
/// end of the compound (an inner `fi` ends it early: never too wide).
fn then_branch(cmds: &[Cmd], k: usize) -> std::ops::Range<usize> {
    let c = &cmds[k];
    let positive_if = !c.negated() && c.keywords.iter().any(|w| w == "if" || w == "elif");
    let Some(start) = positive_if
        .then(|| (k + 1..cmds.len()).find(|&i| cmds[i].keywords.iter().any(|w| w == "then")))
        .flatten()
    else {
        return 0..0;
    };
    let mut end = start;
    while end < cmds.len() {
        if end > start
            && cmds[end]
                .keywords
                .iter()
                .any(|w| w == "else" || w == "elif")
        {
            break;
        }
        end += 1;
        if cmds[end - 1].closes {
            break;
        }
    }
    start..end
}

/// The events of one script; `lines[i]` is the file line of script line `i`.
fn script_events(script: &str, lines: &[u32], opts: (bool, bool), rules: &GateRules) -> Vec<Event> {
    let (mut errexit, mut pipefail) = opts;
    let cmds = shell::parse(script);
    let at = |c: &Cmd| lines.get(c.line).or(lines.last()).copied().unwrap_or(1);
    let mut out = Vec::new();
    let mut guard: Option<(u32, std::ops::Range<usize>)> = None;
    for (k, c) in cmds.iter().enumerate() {
        apply_set(&c.words, &mut errexit, &mut pipefail);
        if let Some(d) = writes_report(&c.words) {
            out.push(Event::Writes(d));
        }
        if c.words.first().is_some_and(|w| w == "make") && c.words.iter().any(|w| w == "audit") {
            out.push(Event::Gate {
                line: at(c),
                verdict: Err("`make audit` runs whatever the Makefile says (agentops-cockpit's own runs `audit report`, which never fails on the score): the scan sees no certify; run `agentops-cockpit certify`".into()),
                from: None,
            });
        } else if is_certify(&c.words) {
            let flags = certify_flags(&c.words, rules);
            let from = flag(&c.words, "--from").map(str::to_string);
            if flags.is_none() && from.is_none() {
                guard = Some((at(c), then_branch(&cmds, k))).filter(|(_, r)| !r.is_empty());
            }
            out.push(Event::Gate {
                line: at(c),
                verdict: flags.map_or_else(|| certify_in_script(&cmds, k, errexit, pipefail), Err),
                from,
            });
        } else if let Some(sovereign) = sovereign_deploy(&c.words, rules) {
            // `deploy sovereign --apply` certifies and refuses below the
            // gate before it changes anything: its own gate, then its deploy.
            if let Some((verdict, from)) = sovereign {
                out.push(Event::Gate {
                    line: at(c),
                    verdict,
                    from,
                });
                out.push(Event::Deploy {
                    line: at(c),
                    what: "agentops-cockpit deploy sovereign --apply".into(),
                    guarded: None,
                });
            }
        } else if let Some(d) = deploy_words(&c.words) {
            out.push(Event::Deploy {
                line: at(c),
                what: d.to_string(),
                guarded: guard
                    .as_ref()
                    .filter(|(_, r)| r.contains(&k))
                    .map(|(l, _)| *l),
            });
        }
    }
    out
}

/// One step: a script or an action, with what may keep it from counting.
#[derive(Debug, Clone, Default)]
struct Step {
    events: Vec<Event>,
    /// GitHub `if:` of the step.
    cond: Option<String>,
    /// `continue-on-error` on the step.
    may_fail: bool,
}

#[derive(Debug, Clone, Default)]
struct Job {
    steps: Vec<Step>,
    needs: Vec<String>,
    has_needs: bool,
    /// GitLab: the stage.
    stage: Option<String>,
    /// Why the job's failure does not stop what needs it.
    may_fail: Option<String>,
    /// Why the job never runs.
    disabled: Option<String>,
    /// GitHub `if:` of the job.
    cond: Option<String>,
    /// GitLab: why the job runs whatever earlier jobs did (`when: always`).
    runs_anyway: Option<String>,
}

fn as_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Object(m) => m.get("job").and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(expr(s).as_str(), "true" | "1"),
        Some(Value::Object(_)) => true, // allow_failure: { exit_codes: … }
        _ => false,
    }
}

/// A condition's text: `${{ x }}` → `x`, a YAML bool or number as written.
fn cond_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(expr(s)),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn expr(s: &str) -> String {
    let t = s.trim();
    t.strip_prefix("${{")
        .and_then(|x| x.strip_suffix("}}"))
        .unwrap_or(t)
        .trim()
        .to_string()
}

/// A condition that can never hold (`false`, `0`, `''`, `x && false`).
fn always_false(cond: &str) -> bool {
    cond.split("&&").any(|c| {
        matches!(
            expr(c).to_ascii_lowercase().as_str(),
            "false" | "0" | "''" | "\"\"" | "!true" | "null"
        )
    })
}

/// The status function that lets a job or step run after a failure.
fn runs_after_failure(cond: &str) -> Option<&'static str> {
    let c: String = cond.chars().filter(|c| !c.is_whitespace()).collect();
    if c.contains("always()") {
        Some("always()")
    } else if c.contains("!cancelled()") {
        Some("!cancelled()")
    } else if c.contains("failure()") {
        Some("failure()")
    } else if c.contains("cancelled()") {
        Some("cancelled()")
    } else {
        None
    }
}

/// Whether a condition only names status functions or `true`.
fn unconditional(cond: &str) -> bool {
    let c: String = cond.chars().filter(|c| !c.is_whitespace()).collect();
    matches!(
        c.as_str(),
        "true" | "always()" | "success()" | "!cancelled()"
    )
}

/// `needs.<job>.result == 'success'` in a condition.
fn requires_success(cond: &str, job: &str) -> bool {
    let c: String = cond.chars().filter(|c| !c.is_whitespace()).collect();
    c.contains(&format!("needs.{job}.result=='success'"))
        || c.contains(&format!("needs.{job}.result==\"success\""))
}

/// 1-based line of the first line at or after `from` (1-based) containing
/// `needle` (its first 40 characters: folded YAML lines are not in the file whole).
fn find_line(src: &str, from: u32, needle: &str) -> Option<u32> {
    let needle: String = needle.trim().chars().take(40).collect();
    src.lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find(|(_, l)| l.contains(&needle))
        .map(|(i, _)| i as u32 + 1)
}

fn job_line(src: &str, name: &str) -> u32 {
    let key = format!("{name}:");
    src.lines()
        .enumerate()
        .find(|(_, l)| {
            let t = l.trim_start();
            t.starts_with(&key)
                || t.starts_with(&format!("\"{name}\":"))
                || t.starts_with(&format!("'{name}':"))
        })
        .map(|(i, _)| i as u32 + 1)
        .unwrap_or(1)
}

/// The file line of each line of `script`, searching forward from `cursor`.
fn script_lines(src: &str, cursor: &mut u32, script: &str) -> Vec<u32> {
    script
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                return *cursor;
            }
            let at = find_line(src, *cursor, l).unwrap_or(*cursor);
            *cursor = at;
            at
        })
        .collect()
}

/// errexit and pipefail of a GitHub step's shell (`bash -e {0}` by default,
/// `pwsh` on Windows runners; `shell: bash` adds pipefail; a custom
/// `shell: … {0}` has what its flags say; PowerShell and cmd go on after a
/// failing command: only the last one's status is the step's).
fn github_shell(shell: Option<&str>, windows: bool) -> (bool, bool) {
    match shell.map(str::trim) {
        None if windows => (false, false),
        None | Some("sh") => (true, false),
        Some("bash") => (true, true),
        Some("pwsh" | "powershell" | "cmd") => (false, false),
        Some(s) if s.contains("{0}") => {
            let opts: Vec<&str> = s
                .split_whitespace()
                .filter(|w| w.starts_with('-'))
                .collect();
            let has = |c| opts.iter().any(|o| !o.starts_with("--") && o.contains(c));
            (has('e'), has('o') && s.contains("pipefail"))
        }
        Some(_) => (true, false),
    }
}

/// `defaults.run.shell` of a workflow or job.
fn default_shell(m: &Map<String, Value>) -> Option<&str> {
    m.get("defaults")?.get("run")?.get("shell")?.as_str()
}

/// Where a job's steps run: its default shell and whether on Windows.
#[derive(Debug, Clone, Copy)]
struct Runner<'a> {
    shell: Option<&'a str>,
    windows: bool,
}

fn github_step(
    s: &Map<String, Value>,
    runner: Runner,
    src: &str,
    cursor: &mut u32,
    rules: &GateRules,
) -> Step {
    let mut step = Step {
        cond: cond_of(s.get("if")),
        may_fail: truthy(s.get("continue-on-error")),
        ..Step::default()
    };
    if let Some(run) = s.get("run").and_then(Value::as_str) {
        let lines = script_lines(src, cursor, run);
        let shell = s.get("shell").and_then(Value::as_str).or(runner.shell);
        let opts = github_shell(shell, runner.windows);
        step.events = script_events(run, &lines, opts, rules);
    } else if let Some(uses) = s.get("uses").and_then(Value::as_str) {
        let line = find_line(src, *cursor, uses).unwrap_or(*cursor);
        *cursor = line;
        let empty = Map::new();
        let with = s.get("with").and_then(Value::as_object).unwrap_or(&empty);
        if let Some(what) = deploy_action(uses, with) {
            step.events.push(Event::Deploy {
                line,
                what,
                guarded: None,
            });
        } else if let Some(verdict) = gate_action(uses, with, rules) {
            step.events.push(Event::Gate {
                line,
                verdict,
                from: None,
            });
        }
    }
    step
}

/// The project's own GitHub Action (`action.yml` at the root of the
/// repository named in the workspace's Cargo.toml), as `owner/name`.
fn own_action() -> &'static str {
    let repo = env!("CARGO_PKG_REPOSITORY");
    repo.strip_prefix("https://github.com/").unwrap_or(repo)
}

/// A step that uses the project's action runs `certify` and fails with
/// it: a gate, held to the same flags (`threshold`, `args`) as a script.
fn gate_action(
    uses: &str,
    with: &Map<String, Value>,
    rules: &GateRules,
) -> Option<Result<(), String>> {
    let name = uses.split('@').next().unwrap_or(uses);
    if !name.eq_ignore_ascii_case(own_action()) {
        return None;
    }
    let text = |k: &str| with.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut words: Vec<String> = vec!["agentops-cockpit".into(), "certify".into()];
    if !text("threshold").is_empty() {
        words.extend(["--threshold".into(), text("threshold").to_string()]);
    }
    words.extend(shlex::split(text("args")).unwrap_or_default());
    Some(certify_flags(&words, rules).map_or(Ok(()), Err))
}

fn github_jobs(doc: &Map<String, Value>, src: &str, rules: &GateRules) -> BTreeMap<String, Job> {
    let mut out = BTreeMap::new();
    let Some(Value::Object(jobs)) = doc.get("jobs") else {
        return out;
    };
    for (name, j) in jobs {
        let Value::Object(j) = j else { continue };
        let cond = cond_of(j.get("if"));
        let mut job = Job {
            needs: as_list(j.get("needs")),
            has_needs: j.contains_key("needs"),
            may_fail: truthy(j.get("continue-on-error"))
                .then(|| format!("job {name} has `continue-on-error: true`")),
            disabled: cond
                .as_ref()
                .filter(|c| always_false(c))
                .map(|c| format!("job {name} is disabled by `if: {c}`")),
            cond,
            ..Job::default()
        };
        let runner = Runner {
            shell: default_shell(j).or_else(|| default_shell(doc)),
            windows: j
                .get("runs-on")
                .is_some_and(|r| r.to_string().to_ascii_lowercase().contains("windows")),
        };
        let mut cursor = job_line(src, name);
        for s in j
            .get("steps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Value::Object(s) = s {
                job.steps
                    .push(github_step(s, runner, src, &mut cursor, rules));
            }
        }
        out.insert(name.clone(), job);
    }
    out
}

const GITLAB_RESERVED: [&str; 11] = [
    "stages",
    "variables",
    "default",
    "include",
    "workflow",
    "image",
    "services",
    "before_script",
    "after_script",
    "cache",
    "pages:deploy",
];

/// `when:` of a GitLab job and of its rules.
fn gitlab_whens(j: &Map<String, Value>) -> (Option<String>, Vec<String>) {
    let job = j.get("when").and_then(Value::as_str).map(str::to_string);
    let rules = j
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            r.get("when")
                .and_then(Value::as_str)
                .unwrap_or("on_success")
                .to_string()
        })
        .collect();
    (job, rules)
}

fn gitlab_job(name: &str, j: &Map<String, Value>, src: &str, rules: &GateRules) -> Job {
    let (when, rule_whens) = gitlab_whens(j);
    let any = |w: &str| when.as_deref() == Some(w) || rule_whens.iter().any(|r| r == w);
    let manual_may_fail = any("manual") && j.get("allow_failure") != Some(&Value::Bool(false));
    let may_fail = if truthy(j.get("allow_failure")) {
        Some(format!("job {name} has `allow_failure: true`"))
    } else if manual_may_fail {
        Some(format!(
            "job {name} is `when: manual` (a manual job may be skipped and is allowed to fail)"
        ))
    } else {
        None
    };
    let never = when.as_deref() == Some("never")
        || (!rule_whens.is_empty() && rule_whens.iter().all(|w| w == "never"));
    let runs_anyway = ["always", "on_failure"]
        .into_iter()
        .find(|w| any(w))
        .map(|w| format!("`when: {w}`"));
    // before_script and script run in one shell (errexit and pipefail on).
    let script: Vec<String> = ["before_script", "script"]
        .iter()
        .flat_map(|k| as_list(j.get(*k)))
        .collect();
    let script = script.join("\n");
    let mut cursor = job_line(src, name);
    let lines = script_lines(src, &mut cursor, &script);
    Job {
        steps: vec![Step {
            events: script_events(&script, &lines, (true, true), rules),
            ..Step::default()
        }],
        needs: as_list(j.get("needs")),
        has_needs: j.contains_key("needs"),
        stage: Some(
            j.get("stage")
                .and_then(Value::as_str)
                .unwrap_or("test")
                .to_string(),
        ),
        may_fail,
        disabled: never.then(|| format!("job {name} is `when: never`")),
        cond: None,
        runs_anyway,
    }
}

fn gitlab_jobs(doc: &Map<String, Value>, src: &str, rules: &GateRules) -> BTreeMap<String, Job> {
    doc.iter()
        .filter(|(name, _)| !GITLAB_RESERVED.contains(&name.as_str()) && !name.starts_with('.'))
        .filter_map(|(name, j)| {
            let j = j.as_object()?;
            (j.contains_key("script") || j.contains_key("trigger"))
                .then(|| (name.clone(), gitlab_job(name, j, src, rules)))
        })
        .collect()
}

fn gitlab_stages(doc: &Map<String, Value>) -> Vec<String> {
    let mut stages = as_list(doc.get("stages"));
    if stages.is_empty() {
        stages = ["build", "test", "deploy"].map(String::from).to_vec();
    }
    stages.insert(0, ".pre".into());
    stages.push(".post".into());
    stages
}

/// How a gate's job comes before the deploy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    SameJob,
    Needs,
    Stage,
}

/// A position: job, step, event.
#[derive(Debug, Clone, Copy)]
struct At<'a> {
    job: &'a str,
    step: usize,
    event: usize,
}

struct Pipeline {
    jobs: BTreeMap<String, Job>,
    /// GitLab: the stage order.
    stages: Option<Vec<String>>,
}

impl Pipeline {
    fn job(&self, name: &str) -> &Job {
        &self.jobs[name]
    }

    fn event(&self, a: At) -> &Event {
        &self.job(a.job).steps[a.step].events[a.event]
    }

    /// The jobs that must succeed before `name` starts (needs, transitively).
    fn upstream(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(n) = stack.pop() {
            for d in self
                .jobs
                .get(&n)
                .map(|j| j.needs.clone())
                .unwrap_or_default()
            {
                if seen.insert(d.clone()) {
                    stack.push(d);
                }
            }
        }
        seen
    }

    /// The jobs that run before `name`, and how.
    fn before(&self, name: &str) -> Vec<(String, Via)> {
        let mut out: Vec<(String, Via)> = self
            .upstream(name)
            .into_iter()
            .filter(|j| self.jobs.contains_key(j))
            .map(|j| (j, Via::Needs))
            .collect();
        let job = self.job(name);
        if let Some(stages) = self.stages.as_ref().filter(|_| !job.has_needs) {
            let index = |j: &Job| stages.iter().position(|s| Some(s) == j.stage.as_ref());
            let mine = index(job);
            for (n, j) in &self.jobs {
                if matches!((index(j), mine), (Some(a), Some(b)) if a < b) {
                    out.push((n.clone(), Via::Stage));
                }
            }
        }
        out
    }

    /// Report directories written before `a`: earlier in its job, or in a job before it.
    fn outs_before(&self, a: At) -> Vec<String> {
        let writes = |evs: &[Event]| -> Vec<String> {
            evs.iter()
                .filter_map(|e| match e {
                    Event::Writes(d) => Some(d.clone()),
                    _ => None,
                })
                .collect()
        };
        let job = self.job(a.job);
        let mut out: Vec<String> = job.steps[..a.step]
            .iter()
            .flat_map(|s| writes(&s.events))
            .collect();
        out.extend(writes(&job.steps[a.step].events[..a.event]));
        for (n, _) in self.before(a.job) {
            out.extend(self.job(&n).steps.iter().flat_map(|s| writes(&s.events)));
        }
        out
    }

    /// Every certify before the deploy at `d`, with how its job comes first.
    fn gates_before(&self, d: At) -> Vec<(At<'_>, Via)> {
        let mut out = Vec::new();
        let gates_of = |name: &str, until: Option<(usize, usize)>| -> Vec<(usize, usize)> {
            let mut v = Vec::new();
            for (si, s) in self.job(name).steps.iter().enumerate() {
                for (ei, e) in s.events.iter().enumerate() {
                    if matches!(e, Event::Gate { .. }) && until.is_none_or(|u| (si, ei) < u) {
                        v.push((si, ei));
                    }
                }
            }
            v
        };
        let (name, _) = self.jobs.get_key_value(d.job).expect("a known job");
        for (s, e) in gates_of(d.job, Some((d.step, d.event))) {
            out.push((
                At {
                    job: name,
                    step: s,
                    event: e,
                },
                Via::SameJob,
            ));
        }
        for (j, via) in self.before(d.job) {
            let (name, _) = self.jobs.get_key_value(&j).expect("a known job");
            for (s, e) in gates_of(&j, None) {
                out.push((
                    At {
                        job: name,
                        step: s,
                        event: e,
                    },
                    via,
                ));
            }
        }
        out
    }
}

/// Whether the certify at `g` stops the deploy at `d`: `Ok(line)` or why not.
fn judge(p: &Pipeline, g: At, via: Via, d: At) -> Result<u32, String> {
    let Event::Gate {
        line,
        verdict,
        from,
    } = p.event(g)
    else {
        unreachable!("gates_before yields gates")
    };
    let here = |why: String| format!("the certify at line {line} (job {}): {why}", g.job);
    verdict.clone().map_err(here)?;
    if let Some(f) = from
        && !produced(f, &p.outs_before(g))
    {
        return Err(here(format!(
            "`certify --from {f}` re-scores a report no earlier step of this pipeline writes (`audit report --out` / `certify --out`): it may be a committed file"
        )));
    }
    let (gjob, djob) = (p.job(g.job), p.job(d.job));
    let (gstep, dstep) = (&gjob.steps[g.step], &djob.steps[d.step]);
    if via != Via::SameJob || g.step != d.step {
        if gstep.may_fail {
            return Err(here("its step has `continue-on-error: true`".into()));
        }
        if let Some(c) = &gstep.cond {
            if always_false(c) {
                return Err(here(format!("its step is disabled by `if: {c}`")));
            }
            let shared = [&dstep.cond, &djob.cond]
                .iter()
                .any(|x| x.as_deref() == Some(c));
            if !unconditional(c) && !shared {
                return Err(here(format!(
                    "its step runs only when `{c}`; the deploy does not share that condition"
                )));
            }
        }
    }
    if via == Via::SameJob {
        if g.step != d.step
            && let Some(f) = dstep.cond.as_deref().and_then(runs_after_failure)
        {
            return Err(here(format!(
                "the deploy step has `if: {f}`, so it runs even when certify failed"
            )));
        }
        return Ok(*line);
    }
    if let Some(why) = gjob.may_fail.as_ref().or(gjob.disabled.as_ref()) {
        return Err(here(why.clone()));
    }
    if let Some(c) = &djob.cond
        && let Some(f) = runs_after_failure(c)
        && !std::iter::once(g.job)
            .chain(djob.needs.iter().map(String::as_str))
            .any(|n| requires_success(c, n))
    {
        return Err(here(format!(
            "job {} has `if: {c}` ({f}), so it deploys even when the gate failed",
            d.job
        )));
    }
    if let Some(w) = &djob.runs_anyway {
        return Err(here(format!(
            "job {} has {w}, so it deploys even when the gate failed",
            d.job
        )));
    }
    Ok(*line)
}

/// The finding for the deploy at `d`.
fn deploy_finding(p: &Pipeline, d: At, what: &str) -> Finding {
    let name = d.job;
    let mut reasons: Vec<String> = Vec::new();
    for (g, via) in p.gates_before(d) {
        match judge(p, g, via, d) {
            Ok(l) => {
                let summary = match via {
                    Via::SameJob => {
                        format!("`{what}` in job {name} runs after the gate at line {l}")
                    }
                    Via::Needs => format!(
                        "`{what}` in job {name} needs job {}, which runs the gate (line {l})",
                        g.job
                    ),
                    Via::Stage => format!(
                        "`{what}` in job {name} runs after job {} of an earlier stage, which runs the gate (line {l})",
                        g.job
                    ),
                };
                return CIC_GATE.finding(Status::Pass, summary);
            }
            Err(why) if !reasons.contains(&why) => reasons.push(why),
            Err(_) => {}
        }
    }
    let summary = if reasons.is_empty() {
        format!(
            "No Sovereign Gate: Direct-to-Prod — `{what}` in job {name} runs with no `agentops-cockpit certify` before it (same job or a job it needs)"
        )
    } else {
        format!(
            "No Sovereign Gate: Direct-to-Prod — `{what}` in job {name}: the gate does not count: {}",
            reasons.join("; ")
        )
    };
    CIC_GATE
        .finding(Status::Fail, summary)
        .with_recommendation("Run `agentops-cockpit certify` (threshold at or above the policy minimum, its report made in this pipeline) in a job the deploy job `needs:` or earlier in the same job, and let its failure stop the pipeline: no `|| true`, `&`, `set +e`, `continue-on-error`, `allow_failure`, `if: false`, or `if: always()` on the deploy.")
}

/// Scan one pipeline file's text. `path` names it in locations.
pub fn scan(path: &str, src: &str, rules: &GateRules) -> Vec<Finding> {
    let file = |line: Option<u32>| Location::File {
        path: path.to_string(),
        line,
        column: None,
    };
    let doc: Value = match serde_saphyr::from_str(src) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| l.line() as u32);
            let msg = e.to_string();
            let msg = msg.lines().next().unwrap_or("").trim();
            return vec![
                CIC_GATE
                    .finding(
                        Status::Error,
                        format!("{path}:{}: invalid YAML: {msg}", line.unwrap_or(1)),
                    )
                    .with_location(file(line))
                    .with_recommendation(
                        "Fix the YAML; the pipeline could not be checked for a gate.",
                    ),
            ];
        }
    };
    let Value::Object(doc) = doc else {
        return vec![
            CIC_GATE
                .finding(
                    Status::Error,
                    format!("{path}: not a pipeline (the document is not a mapping)"),
                )
                .with_location(file(Some(1))),
        ];
    };
    let gitlab = path.ends_with("gitlab-ci.yml")
        || path.ends_with("gitlab-ci.yaml")
        || !doc.contains_key("jobs");
    let p = Pipeline {
        jobs: if gitlab {
            gitlab_jobs(&doc, src, rules)
        } else {
            github_jobs(&doc, src, rules)
        },
        stages: gitlab.then(|| gitlab_stages(&doc)),
    };
    deploy_findings(&p, path)
}

/// One finding per deploy of the pipeline, located at its line.
fn deploy_findings(p: &Pipeline, path: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, job) in &p.jobs {
        for (si, step) in job.steps.iter().enumerate() {
            for (ei, ev) in step.events.iter().enumerate() {
                if let Event::Deploy {
                    line,
                    what,
                    guarded,
                } = ev
                {
                    let d = At {
                        job: name,
                        step: si,
                        event: ei,
                    };
                    let f = match guarded {
                        Some(l) => CIC_GATE.finding(
                            Status::Pass,
                            format!("`{what}` in job {name} runs only when the certify at line {l} passes (`if agentops-cockpit certify …; then`)"),
                        ),
                        None => deploy_finding(p, d, what),
                    };
                    out.push(f.with_subject(format!("{path} job {name}")).with_location(
                        Location::File {
                            path: path.to_string(),
                            line: Some(*line),
                            column: None,
                        },
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            deploy_command("kubectl apply -f deploy/"),
            Some("kubectl apply")
        );
        assert_eq!(
            deploy_command("kubectl --context prod apply -k ."),
            Some("kubectl apply")
        );
        assert_eq!(deploy_command("kubectl apply --dry-run=server -f x"), None);
        assert_eq!(
            deploy_command("gcloud run deploy agent --image x"),
            Some("gcloud run deploy")
        );
        assert_eq!(
            deploy_command("helm upgrade --install a ./chart"),
            Some("helm upgrade")
        );
        assert_eq!(
            deploy_command("./agentops-cockpit deploy sovereign --apply"),
            Some("agentops-cockpit deploy")
        );
        assert_eq!(deploy_command("kubectl get pods"), None);
        assert_eq!(deploy_command("echo kubectl apply later"), None);
        assert_eq!(
            deploy_command("kustomize build . | kubectl apply -f -"),
            Some("kubectl apply")
        );
    }

    #[test]
    fn shells_and_conditions() {
        assert_eq!(github_shell(None, false), (true, false));
        assert_eq!(github_shell(None, true), (false, false));
        assert_eq!(github_shell(Some("pwsh"), false), (false, false));
        assert_eq!(github_shell(Some("bash"), true), (true, true));
        assert_eq!(
            github_shell(Some("bash --noprofile {0}"), false),
            (false, false)
        );
        assert_eq!(
            github_shell(Some("bash -eo pipefail {0}"), false),
            (true, true)
        );
        assert!(always_false("false") && always_false("${{ false }}"));
        assert!(always_false("github.ref == 'x' && false"));
        assert!(!always_false("github.ref == 'refs/heads/main'"));
        assert_eq!(runs_after_failure("${{ always() }}"), Some("always()"));
        assert_eq!(runs_after_failure("!cancelled()"), Some("!cancelled()"));
        assert_eq!(runs_after_failure("github.ref == 'x'"), None);
        assert!(requires_success(
            "always() && needs.gate.result == 'success'",
            "gate"
        ));
        assert!(produced("./evidence/report.json", &["evidence".into()]));
        assert!(!produced("committed.json", &["evidence".into()]));
    }

    fn verdict(script: &str) -> Result<(), String> {
        let lines: Vec<u32> = (1..=script.lines().count() as u32).collect();
        let evs = script_events(script, &lines, (true, false), &GateRules::default());
        evs.into_iter()
            .find_map(|e| match e {
                Event::Gate { verdict, .. } => Some(verdict),
                _ => None,
            })
            .expect("a certify")
    }

    #[test]
    fn deploy_sovereign_apply_is_its_own_gate_unless_forced() {
        let judge = |run: &str| {
            let src = format!(
                "on: push\njobs:\n  ship:\n    runs-on: ubuntu-latest\n    steps:\n      - run: {run}\n"
            );
            let f = scan("deploy.yml", &src, &GateRules::default());
            f.iter()
                .map(|f| (f.status, f.summary.clone()))
                .collect::<Vec<_>>()
        };
        let gated = judge("agentops-cockpit deploy sovereign --target gke --apply");
        assert_eq!(gated.len(), 1, "{gated:?}");
        assert_eq!(gated[0].0, Status::Pass, "{gated:?}");
        let forced =
            judge("agentops-cockpit deploy sovereign --target gke --apply --force --reason hotfix");
        assert_eq!(forced[0].0, Status::Fail, "{forced:?}");
        assert!(forced[0].1.contains("--force"), "{forced:?}");
        let low = judge("agentops-cockpit deploy sovereign --target gke --apply --threshold 10");
        assert_eq!(low[0].0, Status::Fail, "{low:?}");
        // A render or a dry run changes nothing: no deploy to judge.
        for quiet in [
            "agentops-cockpit deploy sovereign --target gke --render out",
            "agentops-cockpit deploy sovereign --target gke",
        ] {
            assert!(judge(quiet).is_empty(), "{quiet}");
        }
    }

    #[test]
    fn certify_forms() {
        for ok in [
            "agentops-cockpit certify --threshold 90",
            "agentops-cockpit certify || exit 1",
            "cargo run --release -p agentops-cockpit -- certify --threshold 95",
            "agentops-cockpit certify || { echo failed; exit 1; }",
            "if ! agentops-cockpit certify; then exit 1; fi",
            "set +e\nagentops-cockpit certify\ncode=$?\nset -e\necho done\nexit $code",
            "set -o pipefail\nagentops-cockpit certify | tee out.txt",
            "agentops-cockpit certify --out r 2>&1\necho done",
        ] {
            assert_eq!(verdict(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("agentops-cockpit certify --help", "only prints"),
            ("agentops-cockpit certify --version", "only prints"),
            (
                "agentops-cockpit certify --threshold 0",
                "below the policy minimum 90",
            ),
            (
                "agentops-cockpit certify --threshold=50",
                "below the policy minimum 90",
            ),
            ("agentops-cockpit certify --threshold $T", "not a number"),
            ("sudo agentops-cockpit certify --version", "only prints"),
            (
                "agentops-cockpit certify --testbed",
                "embedded reference testbed",
            ),
            ("agentops-cockpit certify &", "background"),
            (
                "cargo run -p agentops-cockpit -- certify --threshold 10",
                "below the policy minimum",
            ),
            ("agentops-cockpit certify || echo skip", "`|| echo skip`"),
            ("agentops-cockpit certify || true", "`|| true`"),
            ("agentops-cockpit certify && echo ok || true", "`|| true`"),
            ("agentops-cockpit certify; true", "`; true`"),
            (
                "set +e\nagentops-cockpit certify\necho done",
                "errexit off (`set +e`",
            ),
            ("agentops-cockpit certify | tee out.txt", "pipe"),
            (
                "if agentops-cockpit certify; then echo ok; fi",
                "tested by `if`",
            ),
        ] {
            let e = verdict(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
