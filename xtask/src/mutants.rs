//! `cargo xtask mutants`: how much of the pure code the tests hold, measured
//! with cargo-mutants (installed when missing).
//!
//! cargo-mutants copies the source tree (without `target/` and `.git`) to a
//! scratch directory and mutates the copy, so the working tree is never
//! touched, even when the run is interrupted. The copy builds into the
//! workspace's own target directory (`CARGO_TARGET_DIR`), so the
//! dependencies already built are reused instead of rebuilt from nothing;
//! only the workspace's crates are recompiled (and the mutated crate's
//! artifacts are removed afterwards, see [`forget_mutated_build`]). Results land in
//! `target/mutants/<crate>/mutants.out` (`caught.txt`, `missed.txt`, ...).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, describe, target_dir};

/// What is mutated in one crate, and which of its tests judge the mutants.
struct Scope {
    krate: &'static str,
    /// Globs (relative to the workspace root) of the files whose mutants
    /// are tested.
    files: &'static [&'static str],
    /// Only the unit tests beside the code (`--lib`): the pillar crates'
    /// integration tests start real servers and take minutes per mutant,
    /// while their verdict functions are pure and tested in place.
    lib_only: bool,
}

/// The mutated code, in one list: cockpit-core and cockpit-score whole, and
/// the pure parts of the pillar crates (check verdicts, load SLOs). Files of
/// the pillar crates that also do I/O (probing, Redis commands) are left
/// out: their mutants are only caught by the integration tests.
const SCOPES: &[Scope] = &[
    Scope {
        krate: "cockpit-core",
        files: &["crates/cockpit-core/src/**/*.rs"],
        lib_only: false,
    },
    Scope {
        krate: "cockpit-score",
        files: &["crates/cockpit-score/src/**/*.rs"],
        lib_only: false,
    },
    Scope {
        krate: "cockpit-probe",
        files: &[
            "crates/cockpit-probe/src/checks/ttft.rs",
            "crates/cockpit-probe/src/checks/tail.rs",
            "crates/cockpit-probe/src/checks/ttr.rs",
            "crates/cockpit-probe/src/load/slo.rs",
        ],
        lib_only: true,
    },
    Scope {
        krate: "cockpit-stm",
        files: &[
            "crates/cockpit-stm/src/checks/evict.rs",
            "crates/cockpit-stm/src/checks/external.rs",
            "crates/cockpit-stm/src/checks/fsync.rs",
            "crates/cockpit-stm/src/checks/ha.rs",
            "crates/cockpit-stm/src/checks/latency.rs",
            "crates/cockpit-stm/src/checks/persist.rs",
        ],
        lib_only: true,
    },
    Scope {
        krate: "cockpit-k8s",
        files: &["crates/cockpit-k8s/src/checks/**/*.rs"],
        lib_only: true,
    },
];

/// Per-mutant test timeout when none is given: cargo-mutants otherwise
/// derives it from the unmutated run (five times as long), this is its
/// floor, generous for a loaded 2-core machine.
const MIN_TEST_TIMEOUT_S: &str = "60";

/// The options of `cargo xtask mutants`.
#[derive(Debug, Default, PartialEq)]
struct Options<'a> {
    crates: Vec<&'a str>,
    files: Vec<&'a str>,
    shard: Option<&'a str>,
    timeout: Option<&'a str>,
    /// Passed to cargo-mutants as they are (after `--`).
    extra: Vec<&'a str>,
}

pub const USAGE: &str =
    "mutants [CRATE]... [--file GLOB]... [--shard K/N] [--timeout SECS] [-- CARGO-MUTANTS-ARGS]";

fn parse<'a>(rest: &[&'a str]) -> Result<Options<'a>, String> {
    let mut o = Options::default();
    let mut it = rest.iter().copied();
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a {
            "--file" | "-f" => o.files.push(val("--file")?),
            "--shard" => o.shard = Some(val("--shard")?),
            "--timeout" => o.timeout = Some(val("--timeout")?),
            "--" => o.extra.extend(it.by_ref()),
            krate if SCOPES.iter().any(|s| s.krate == krate) => o.crates.push(krate),
            other => {
                let known: Vec<&str> = SCOPES.iter().map(|s| s.krate).collect();
                return Err(format!(
                    "mutants: unknown argument {other:?} (crates: {}; usage: cargo xtask {USAGE})",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(o)
}

/// `cargo xtask mutants`: run cargo-mutants on every scope (or the crates
/// named), then print caught / missed / unviable / timeout per crate.
pub fn mutants(rest: &[&str]) -> Result<(), String> {
    let o = parse(rest)?;
    crate::ensure_cargo_tool("mutants", "cargo-mutants")?;
    let listing = o.extra.iter().any(|a| a.starts_with("--list"));
    let mut rows = Vec::new();
    for scope in SCOPES
        .iter()
        .filter(|s| o.crates.is_empty() || o.crates.contains(&s.krate))
    {
        let out = output_dir(scope.krate, o.shard);
        let ran = run_scope(scope, &o, &out);
        forget_mutated_build(scope.krate)?;
        ran?;
        if !listing {
            rows.push((scope.krate, Counts::read(&out.join("mutants.out"))?));
        }
    }
    if !listing {
        eprintln!("\n{}", table(&rows));
    }
    Ok(())
}

/// `target/mutants/<crate>`, or `.../<crate>-shard-K-of-N` for a shard.
fn output_dir(krate: &str, shard: Option<&str>) -> PathBuf {
    let name = match shard {
        Some(s) => format!("{krate}-shard-{}", s.replace('/', "-of-")),
        None => krate.to_string(),
    };
    target_dir().join("mutants").join(name)
}

fn mutants_command(scope: &Scope, o: &Options, out: &Path) -> Command {
    let mut c = cargo();
    c.args(["mutants", "--package", scope.krate, "--output"])
        .arg(out)
        .env("CARGO_TARGET_DIR", target_dir())
        // Each mutant changes one function of one crate: incremental
        // compilation of the workspace's crates halves a mutant's build
        // (dependencies are never incremental, so this costs little disk).
        .env("CARGO_INCREMENTAL", "1");
    let files = if o.files.is_empty() {
        scope.files
    } else {
        &o.files[..]
    };
    for f in files {
        c.args(["--file", f]);
    }
    match o.timeout {
        Some(t) => c.args(["--timeout", t]),
        None => c.args(["--minimum-test-timeout", MIN_TEST_TIMEOUT_S]),
    };
    if let Some(s) = o.shard {
        c.args(["--shard", s]);
    }
    if scope.lib_only {
        c.arg("--cargo-arg=--lib");
    }
    c.args(&o.extra);
    c
}

/// Remove the crate's artifacts from the shared target directory: the
/// copy's last build was of a mutant, and cargo, which names and
/// fingerprints a workspace crate by its path relative to the workspace
/// root, would take it as up to date for the working tree (whose sources
/// are older) and run the next `cargo test` on mutated code. After an
/// interrupted run, do it by hand: `cargo clean -p <crate>`.
fn forget_mutated_build(krate: &str) -> Result<(), String> {
    crate::run(
        cargo()
            .args(["clean", "--quiet", "-p", krate])
            .env("CARGO_TARGET_DIR", target_dir()),
    )
}

/// cargo-mutants exits 0 when every mutant was caught, 2 when some were
/// missed and 3 when some timed out: all three are a finished run.
fn run_scope(scope: &Scope, o: &Options, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut c = mutants_command(scope, o, out);
    eprintln!("$ {}", describe(&c));
    let status = c
        .status()
        .map_err(|e| format!("cannot run {}: {e}", describe(&c)))?;
    match status.code() {
        Some(0 | 2 | 3) => Ok(()),
        _ => Err(format!(
            "`{}` failed ({status}); see {}",
            describe(&c),
            out.join("mutants.out/debug.log").display()
        )),
    }
}

/// The outcome of one crate's run, read from cargo-mutants' lists.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    caught: usize,
    missed: usize,
    unviable: usize,
    timeout: usize,
}

impl Counts {
    fn read(dir: &Path) -> Result<Counts, String> {
        let lines = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path)
                .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        Ok(Counts {
            caught: lines("caught.txt")?,
            missed: lines("missed.txt")?,
            unviable: lines("unviable.txt")?,
            timeout: lines("timeout.txt")?,
        })
    }

    /// Mutants that built: the ones a test could have caught.
    fn viable(&self) -> usize {
        self.caught + self.missed + self.timeout
    }
}

fn table(rows: &[(&str, Counts)]) -> String {
    let mut t = String::from("crate            caught  missed  unviable  timeout  caught/viable\n");
    for (krate, c) in rows {
        let score = match c.viable() {
            0 => "-".to_string(),
            v => format!(
                "{}/{v} = {:.1} %",
                c.caught,
                100.0 * c.caught as f64 / v as f64
            ),
        };
        t += &format!(
            "{krate:<16} {:>6}  {:>6}  {:>8}  {:>7}  {score}\n",
            c.caught, c.missed, c.unviable, c.timeout
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_crates_files_and_pass_the_rest_through() {
        let o = parse(&[
            "cockpit-core",
            "--shard",
            "1/4",
            "-f",
            "a.rs",
            "--",
            "--list",
        ])
        .unwrap();
        assert_eq!(o.crates, ["cockpit-core"]);
        assert_eq!((o.shard, o.files), (Some("1/4"), vec!["a.rs"]));
        assert_eq!(o.extra, ["--list"]);
        assert!(
            parse(&["cockpit-nope"])
                .unwrap_err()
                .contains("cockpit-core")
        );
        assert!(parse(&["--shard"]).is_err());
    }

    #[test]
    fn a_shard_has_its_own_output() {
        let d = output_dir("cockpit-core", Some("2/8"));
        assert!(d.ends_with("mutants/cockpit-core-shard-2-of-8"), "{d:?}");
    }

    #[test]
    fn counts_come_from_the_lists_and_score_the_viable() {
        let dir = std::env::temp_dir().join(format!("xtask-mutants-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, n) in [
            ("caught.txt", 9),
            ("missed.txt", 1),
            ("unviable.txt", 4),
            ("timeout.txt", 0),
        ] {
            std::fs::write(dir.join(name), "m\n".repeat(n)).unwrap();
        }
        let c = Counts::read(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            (c.caught, c.missed, c.unviable, c.timeout, c.viable()),
            (9, 1, 4, 0, 10)
        );
        assert!(table(&[("cockpit-core", c)]).contains("9/10 = 90.0 %"));
    }

    #[test]
    fn every_scope_names_files_of_its_own_crate() {
        for s in SCOPES {
            for f in s.files {
                assert!(f.starts_with(&format!("crates/{}/src/", s.krate)), "{f}");
            }
        }
    }
}
