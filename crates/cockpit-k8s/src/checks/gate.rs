//! CIC-GATE: no path to production without the Sovereign Gate. Scans GitHub
//! Actions workflows and GitLab CI files for deploy steps (`kubectl apply`,
//! `gcloud run deploy`, `gcloud run services replace`, `helm upgrade` /
//! `install`, `agentops-cockpit deploy`, the `deploy-cloudrun` action) and
//! checks that `agentops-cockpit certify` (or the `make audit` gate) runs
//! before each one in the same job chain: earlier in the same job, or in a
//! job it `needs:` (transitively); on GitLab also a job of an earlier stage
//! when the job has no `needs:`. A gate that may fail without stopping the
//! pipeline (`continue-on-error`, `allow_failure`, `|| true`) does not count.
//! Dry runs (`--dry-run`) are not deploys.

use std::collections::{BTreeMap, BTreeSet};

use cockpit_core::{CheckId, CheckSpec, Finding, Location, Pillar, Severity, Status};
use serde_json::Value;

pub const CIC_GATE: CheckSpec = CheckSpec {
    id: CheckId::new("CIC-GATE"),
    pillar: Pillar::Cicd,
    severity: Severity::Critical,
    title: "Sovereign Gate before deploy",
};

/// One command step of a job.
#[derive(Debug, Clone)]
struct Step {
    /// Shell text (or `uses: action` for GitHub actions).
    text: String,
    /// The step may fail without failing the job.
    may_fail: bool,
}

#[derive(Debug, Clone, Default)]
struct Job {
    steps: Vec<Step>,
    needs: Vec<String>,
    /// GitLab: the stage, when the job has no `needs:`.
    stage: Option<String>,
    has_needs: bool,
    may_fail: bool,
}

/// The deploy command a line runs, if any.
pub fn deploy_command(line: &str) -> Option<&'static str> {
    let l = line.trim();
    if l.starts_with('#') || l.contains("--dry-run") {
        return None;
    }
    let t: Vec<&str> = l
        .split(|c: char| c.is_whitespace() || c == ';' || c == '|' || c == '&')
        .filter(|s| !s.is_empty())
        .collect();
    let has = |a: &str| t.iter().any(|x| x.ends_with(a));
    let after = |a: &str, b: &str| {
        t.iter()
            .position(|x| x.ends_with(a))
            .is_some_and(|i| t[i + 1..].contains(&b))
    };
    if has("kubectl") && after("kubectl", "apply") {
        Some("kubectl apply")
    } else if has("gcloud") && after("gcloud", "run") && after("run", "deploy") {
        Some("gcloud run deploy")
    } else if has("gcloud") && after("gcloud", "run") && after("services", "replace") {
        Some("gcloud run services replace")
    } else if has("helm") && after("helm", "upgrade") {
        Some("helm upgrade")
    } else if has("helm") && after("helm", "install") {
        Some("helm install")
    } else if has("agentops-cockpit") && after("agentops-cockpit", "deploy") {
        Some("agentops-cockpit deploy")
    } else if l.contains("google-github-actions/deploy-cloudrun") {
        Some("deploy-cloudrun action")
    } else {
        None
    }
}

/// Whether a line runs the gate (and stops the job when it fails).
pub fn gate_command(line: &str) -> bool {
    let l = line.trim();
    if l.starts_with('#') || l.contains("|| true") || l.contains("|| exit 0") {
        return false;
    }
    let t: Vec<&str> = l.split_whitespace().collect();
    let after = |a: &str, b: &str| {
        t.iter()
            .position(|x| x.ends_with(a))
            .is_some_and(|i| t[i + 1..].contains(&b))
    };
    after("agentops-cockpit", "certify") || (t.first() == Some(&"make") && t.contains(&"audit"))
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
        Some(Value::String(s)) => s.trim() == "true",
        Some(Value::Object(_)) => true, // allow_failure: { exit_codes: … }
        _ => false,
    }
}

fn github_jobs(doc: &serde_json::Map<String, Value>) -> BTreeMap<String, Job> {
    let mut out = BTreeMap::new();
    let Some(Value::Object(jobs)) = doc.get("jobs") else {
        return out;
    };
    for (name, j) in jobs {
        let Value::Object(j) = j else { continue };
        let mut job = Job {
            needs: as_list(j.get("needs")),
            has_needs: j.contains_key("needs"),
            ..Job::default()
        };
        job.may_fail = truthy(j.get("continue-on-error"));
        for s in j
            .get("steps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let may_fail = truthy(s.get("continue-on-error"));
            if let Some(run) = s.get("run").and_then(Value::as_str) {
                job.steps.push(Step {
                    text: run.to_string(),
                    may_fail,
                });
            } else if let Some(uses) = s.get("uses").and_then(Value::as_str) {
                job.steps.push(Step {
                    text: format!("uses: {uses}"),
                    may_fail,
                });
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

fn gitlab_jobs(doc: &serde_json::Map<String, Value>) -> BTreeMap<String, Job> {
    let mut out = BTreeMap::new();
    for (name, j) in doc {
        if GITLAB_RESERVED.contains(&name.as_str()) || name.starts_with('.') {
            continue;
        }
        let Value::Object(j) = j else { continue };
        if !j.contains_key("script") && !j.contains_key("trigger") {
            continue;
        }
        let mut job = Job {
            needs: as_list(j.get("needs")),
            has_needs: j.contains_key("needs"),
            stage: Some(
                j.get("stage")
                    .and_then(Value::as_str)
                    .unwrap_or("test")
                    .to_string(),
            ),
            may_fail: truthy(j.get("allow_failure")),
            ..Job::default()
        };
        for key in ["before_script", "script"] {
            for line in as_list(j.get(key)) {
                job.steps.push(Step {
                    text: line,
                    may_fail: false,
                });
            }
        }
        out.insert(name.clone(), job);
    }
    out
}

fn gitlab_stages(doc: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut stages = as_list(doc.get("stages"));
    if stages.is_empty() {
        stages = ["build", "test", "deploy"].map(String::from).to_vec();
    }
    stages.insert(0, ".pre".into());
    stages.push(".post".into());
    stages
}

/// Whether a job contains a gate that stops the job on failure.
fn gates(job: &Job) -> bool {
    !job.may_fail
        && job
            .steps
            .iter()
            .any(|s| !s.may_fail && s.text.lines().any(gate_command))
}

/// The jobs that must succeed before `name` starts (needs, transitively).
fn upstream(name: &str, jobs: &BTreeMap<String, Job>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![name.to_string()];
    while let Some(n) = stack.pop() {
        for d in jobs.get(&n).map(|j| j.needs.clone()).unwrap_or_default() {
            if seen.insert(d.clone()) {
                stack.push(d);
            }
        }
    }
    seen
}

/// 1-based line of the first line at or after `from` (1-based) containing `needle`.
fn find_line(src: &str, from: u32, needle: &str) -> Option<u32> {
    src.lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find(|(_, l)| l.contains(needle))
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

/// The pipeline's top-level mapping, or the error finding saying why not.
fn parse(path: &str, src: &str) -> Result<serde_json::Map<String, Value>, Box<Finding>> {
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
            return Err(Box::new(
                CIC_GATE
                    .finding(
                        Status::Error,
                        format!("{path}:{}: invalid YAML: {msg}", line.unwrap_or(1)),
                    )
                    .with_location(file(line))
                    .with_recommendation(
                        "Fix the YAML; the pipeline could not be checked for a gate.",
                    ),
            ));
        }
    };
    let Value::Object(doc) = doc else {
        return Err(Box::new(
            CIC_GATE
                .finding(
                    Status::Error,
                    format!("{path}: not a pipeline (the document is not a mapping)"),
                )
                .with_location(file(Some(1))),
        ));
    };
    Ok(doc)
}

/// The verdict on one deploy command `cmd` of job `name`: gated earlier in
/// the job (at a line), by a job it needs, by a job of an earlier stage, or not.
fn verdict(
    cmd: &str,
    name: &str,
    gated_here: Option<u32>,
    by_needs: Option<String>,
    by_stage: Option<String>,
) -> Finding {
    if let Some(l) = gated_here {
        CIC_GATE.finding(
            Status::Pass,
            format!("`{cmd}` in job {name} runs after the gate at line {l}"),
        )
    } else if let Some(j) = by_needs {
        CIC_GATE.finding(
            Status::Pass,
            format!("`{cmd}` in job {name} needs job {j}, which runs the gate"),
        )
    } else if let Some(j) = by_stage {
        CIC_GATE.finding(
            Status::Pass,
            format!(
                "`{cmd}` in job {name} runs after job {j} of an earlier stage, which runs the gate"
            ),
        )
    } else {
        CIC_GATE
            .finding(
                Status::Fail,
                format!("No Sovereign Gate: Direct-to-Prod — `{cmd}` in job {name} runs with no `agentops-cockpit certify` before it (same job or a job it needs)"),
            )
            .with_recommendation("Run `agentops-cockpit certify` in a job the deploy job `needs:` (or earlier in the same job), and let its failure stop the pipeline.")
    }
}

/// Scan one pipeline file's text. `path` names it in locations.
pub fn scan(path: &str, src: &str) -> Vec<Finding> {
    let doc = match parse(path, src) {
        Ok(doc) => doc,
        Err(f) => return vec![*f],
    };
    let file = |line: Option<u32>| Location::File {
        path: path.to_string(),
        line,
        column: None,
    };
    let gitlab = path.ends_with("gitlab-ci.yml")
        || path.ends_with("gitlab-ci.yaml")
        || !doc.contains_key("jobs");
    let jobs = if gitlab {
        gitlab_jobs(&doc)
    } else {
        github_jobs(&doc)
    };
    let stages = gitlab.then(|| gitlab_stages(&doc));
    let stage_index = |s: &Option<String>| -> Option<usize> {
        let s = s.as_ref()?;
        stages.as_ref()?.iter().position(|x| x == s)
    };
    let mut out = Vec::new();
    for (name, job) in &jobs {
        let mut cursor = job_line(src, name);
        let mut gated_here: Option<u32> = None;
        for step in &job.steps {
            for line in step.text.lines() {
                let at = find_line(src, cursor, line.trim()).unwrap_or(cursor);
                if !line.trim().is_empty() {
                    cursor = at;
                }
                if gate_command(line) && !step.may_fail && !job.may_fail && gated_here.is_none() {
                    gated_here = Some(at);
                }
                let Some(cmd) = deploy_command(line) else {
                    continue;
                };
                let subject = format!("{path} job {name}");
                let before = upstream(name, &jobs);
                let by_needs = before
                    .iter()
                    .find(|j| jobs.get(*j).is_some_and(gates))
                    .cloned();
                let by_stage = if gitlab && !job.has_needs {
                    let mine = stage_index(&job.stage);
                    jobs.iter()
                        .find(|(_, j)| {
                            matches!((stage_index(&j.stage), mine), (Some(a), Some(b)) if a < b)
                                && gates(j)
                        })
                        .map(|(n, _)| n.clone())
                } else {
                    None
                };
                let f = verdict(cmd, name, gated_here, by_needs, by_stage);
                out.push(f.with_subject(subject).with_location(file(Some(at))));
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
        assert!(gate_command("agentops-cockpit certify --threshold 90"));
        assert!(gate_command("make audit"));
        assert!(!gate_command("agentops-cockpit certify || true"));
        assert!(!gate_command("echo make audit later"));
    }
}
