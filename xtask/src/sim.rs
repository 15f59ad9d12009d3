//! `cargo xtask simulation-run`: the standard reasoning-degradation profile.

use std::process::Command;

use crate::load::{release_bin, start_testbed_with};
use crate::{cargo, describe, run};

/// The standard profile: a ramp to 64 sessions in flight, 6 turns each,
/// judged on score and collisions at every level.
const PROFILE: [&str; 10] = [
    "--ramp",
    "1:64:x2",
    "--turns",
    "6",
    "--session-header",
    "x-session-id",
    "--slo",
    "reasoning_score>0.99",
    "--slo",
    "collisions==0",
];

/// The testbed fleet: a reference agent, and one whose session memory
/// bleeds above 8 answers in flight (the knee the profile must find).
const FLEET: [(&str, &[&str]); 2] = [
    ("reference", &["--trace-echo", "right"]),
    (
        "degraded",
        &["--trace-echo", "right", "--shared-context-above", "8"],
    ),
];

/// `cargo xtask simulation-run [--target URL]`: with a target, the profile
/// against it (its exit code); without, the fleet is started, the reference
/// agent must hold every objective and the degraded one must break one.
pub fn simulation_run(rest: &[&str]) -> Result<(), String> {
    let target = match rest {
        [] => None,
        ["--target", url] => Some(url.to_string()),
        _ => return Err("simulation-run: expected no argument or --target URL".into()),
    };
    run(cargo().args([
        "build",
        "--release",
        "-q",
        "-p",
        "agentops-cockpit",
        "-p",
        "cockpit-testbed",
    ]))?;
    if let Some(url) = target {
        return simulate(&url).map(|_| ());
    }
    for (name, flags) in FLEET {
        let (_guard, base) = start_testbed_with(flags)?;
        eprintln!("testbed {name}: {base}");
        let code = simulate(&format!("{base}/v1"))?;
        match (name, code) {
            ("reference", 0) | ("degraded", 1) => {}
            _ => {
                return Err(format!(
                    "the {name} testbed's simulation exited {code}, not what it should"
                ));
            }
        }
    }
    Ok(())
}

/// Run the profile against `url`; its exit code (0 held, 1 broken).
fn simulate(url: &str) -> Result<i32, String> {
    let mut cmd = Command::new(release_bin("agentops-cockpit"));
    cmd.arg("simulate").arg(url).args(PROFILE);
    let status = cmd
        .status()
        .map_err(|e| format!("{}: {e}", describe(&cmd)))?;
    match status.code() {
        Some(c @ (0 | 1)) => Ok(c),
        other => Err(format!("{} exited {other:?}", describe(&cmd))),
    }
}
