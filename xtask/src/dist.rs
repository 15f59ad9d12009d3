//! `cargo xtask dist [--target T] [--version V]`: the release archive of
//! one target, as the release workflow (.github/workflows/release.yml)
//! builds it on each runner, and `cargo xtask man`: the man page.
//!
//! The archive `dist/agentops-cockpit-<V>-<T>.tar.gz` holds the binary
//! (the `dist` profile: stripped, thin LTO, one codegen unit), README.md,
//! the man page and the shell completions, in one top directory; beside it
//! `<archive>.sha256` in `sha256sum` format. The build is too slow for
//! every CI run; CI checks the profile, the workflow and the packaging
//! files instead (crates/agentops-cockpit/tests/packaging.rs), and the
//! packaging step itself on a fake binary (`package`, tested below).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run, target_dir, workspace_root};

/// Where `cargo xtask man` writes the man page; a test keeps it current.
pub const MAN_PAGE: &str = "docs/man/agentops-cockpit.1";

/// The shells whose completions go into the archive, and their file names.
const COMPLETIONS: [(&str, &str); 4] = [
    ("bash", "agentops-cockpit.bash"),
    ("zsh", "_agentops-cockpit"),
    ("fish", "agentops-cockpit.fish"),
    ("powershell", "_agentops-cockpit.ps1"),
];

pub fn dist(rest: &[&str]) -> Result<(), String> {
    let mut target = None;
    let mut version = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match *a {
            "--target" => target = it.next().map(|s| s.to_string()),
            "--version" => version = it.next().map(|s| s.to_string()),
            other => return Err(format!("dist: unknown argument {other:?}")),
        }
    }
    // Without --target: the host's, built where a plain `--profile dist`
    // build goes (target/dist), so it reuses that build.
    let explicit = target.is_some();
    let target = match target {
        Some(t) => t,
        None => host_triple()?,
    };
    let version = version.unwrap_or_else(|| format!("v{}", workspace_version()));
    let mut build = cargo();
    build.args([
        "build",
        "--locked",
        "--profile",
        "dist",
        "-p",
        "agentops-cockpit",
    ]);
    if explicit {
        build.args(["--target", &target]);
    }
    run(&mut build)?;
    let exe = if target.contains("windows") {
        "agentops-cockpit.exe"
    } else {
        "agentops-cockpit"
    };
    let built = if explicit {
        target_dir().join(&target)
    } else {
        target_dir()
    };
    let binary = built.join("dist").join(exe);
    let size = std::fs::metadata(&binary)
        .map_err(|e| format!("{}: {e}", binary.display()))?
        .len();
    eprintln!(
        "{}: {size} bytes ({:.1} MiB)",
        binary.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    let name = format!("agentops-cockpit-{version}-{target}");
    let archive = package(
        &binary,
        &name,
        &workspace_root(),
        &workspace_root().join("dist"),
    )?;
    let archive_size = std::fs::metadata(&archive)
        .map_err(|e| format!("{}: {e}", archive.display()))?
        .len();
    let sum = std::fs::read_to_string(checksum_path(&archive)).map_err(|e| e.to_string())?;
    eprint!(
        "dist/{}: {archive_size} bytes ({:.1} MiB)\n{sum}",
        name_of(&archive),
        archive_size as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// The archive of `binary`: `<out>/<name>.tar.gz` holding one directory
/// `<name>/` with the binary (under its own file name), README.md and the
/// man page from `root`, and `completions/` made by running the binary;
/// beside it `<name>.tar.gz.sha256` in `sha256sum` format. Returns the
/// archive's path.
fn package(binary: &Path, name: &str, root: &Path, out: &Path) -> Result<PathBuf, String> {
    let exe = binary
        .file_name()
        .ok_or_else(|| format!("{}: no file name", binary.display()))?;
    let stage = out.join(name);
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(stage.join("completions")).map_err(|e| e.to_string())?;
    copy(binary, &stage.join(exe))?;
    copy(&root.join("README.md"), &stage.join("README.md"))?;
    copy(&root.join(MAN_PAGE), &stage.join("agentops-cockpit.1"))?;
    for (shell, file) in COMPLETIONS {
        let text = output(Command::new(binary).args(["completions", shell]))?;
        std::fs::write(stage.join("completions").join(file), text).map_err(|e| e.to_string())?;
    }
    let archive = format!("{name}.tar.gz");
    run(Command::new("tar")
        .current_dir(out)
        .args(["-czf", &archive, name]))?;
    let path = out.join(&archive);
    let sum = sha256(&path)?;
    std::fs::write(checksum_path(&path), format!("{sum}  {archive}\n"))
        .map_err(|e| e.to_string())?;
    std::fs::remove_dir_all(&stage).map_err(|e| e.to_string())?;
    Ok(path)
}

/// `<archive>.sha256` beside the archive.
fn checksum_path(archive: &Path) -> PathBuf {
    let mut p = archive.as_os_str().to_owned();
    p.push(".sha256");
    PathBuf::from(p)
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `cargo xtask man`: docs/man/agentops-cockpit.1 from the CLI's own
/// definitions (the hidden `manpage` command, clap_mangen).
pub fn man() -> Result<(), String> {
    let text = output(cargo().args([
        "run",
        "--quiet",
        "--locked",
        "-p",
        "agentops-cockpit",
        "--",
        "manpage",
    ]))?;
    let path = workspace_root().join(MAN_PAGE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))
}

/// A command's stdout, or an error with its stderr.
fn output(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let o = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", crate::describe(cmd)))?;
    if !o.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            crate::describe(cmd),
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(o.stdout)
}

/// The SHA-256 of a file, in hex: `sha256sum` (Linux) or `shasum -a 256` (macOS).
fn sha256(path: &Path) -> Result<String, String> {
    let text = output(Command::new("sha256sum").arg(path))
        .or_else(|_| output(Command::new("shasum").args(["-a", "256"]).arg(path)))?;
    String::from_utf8_lossy(&text)
        .split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("no checksum printed for {}", path.display()))
}

/// `rustc -vV`'s host triple.
fn host_triple() -> Result<String, String> {
    let text = output(
        Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())).arg("-vV"),
    )?;
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| "rustc -vV printed no host".into())
}

/// `[workspace.package] version` of the workspace Cargo.toml.
fn workspace_version() -> String {
    let manifest: PathBuf = workspace_root().join("Cargo.toml");
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("version = \"")?
                    .strip_suffix('"')
                    .map(str::to_string)
            })
        })
        .unwrap_or_else(|| "0.0.0".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake binary (a shell script answering `completions <shell>`), a
    /// fake README and man page: the archive holds them in one directory,
    /// and its checksum file verifies with `sha256sum --check`.
    #[test]
    fn package_lays_out_the_archive_and_its_checksum() {
        let tmp = std::env::temp_dir().join(format!("xtask-dist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let (root, out) = (tmp.join("root"), tmp.join("out"));
        std::fs::create_dir_all(root.join("docs/man")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(root.join("README.md"), "# readme\n").unwrap();
        std::fs::write(root.join(MAN_PAGE), ".TH agentops-cockpit 1\n").unwrap();
        let bin = tmp.join("agentops-cockpit");
        std::fs::write(&bin, "#!/bin/sh\necho \"completion for $2\"\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let name = "agentops-cockpit-v9.9.9-test-target";
        let archive = package(&bin, name, &root, &out).expect("packaged");
        assert_eq!(archive, out.join(format!("{name}.tar.gz")));
        assert!(
            !out.join(name).exists(),
            "the staging directory is left behind"
        );

        let listing = output(Command::new("tar").arg("-tzf").arg(&archive)).unwrap();
        let mut entries: Vec<String> = String::from_utf8(listing)
            .unwrap()
            .lines()
            .map(|l| l.trim_end_matches('/').to_string())
            .collect();
        entries.sort();
        let mut expected: Vec<String> = [
            "",
            "/agentops-cockpit",
            "/README.md",
            "/agentops-cockpit.1",
            "/completions",
        ]
        .iter()
        .map(|e| format!("{name}{e}"))
        .chain(
            COMPLETIONS
                .iter()
                .map(|(_, f)| format!("{name}/completions/{f}")),
        )
        .collect();
        expected.sort();
        assert_eq!(entries, expected);

        // The completions are the binary's answers, one shell each.
        let unpacked = tmp.join("unpacked");
        std::fs::create_dir_all(&unpacked).unwrap();
        run(Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&unpacked))
        .unwrap();
        let fish = std::fs::read_to_string(
            unpacked
                .join(name)
                .join("completions/agentops-cockpit.fish"),
        )
        .unwrap();
        assert_eq!(fish, "completion for fish\n");

        let line = std::fs::read_to_string(checksum_path(&archive)).unwrap();
        assert!(line.ends_with(&format!("  {name}.tar.gz\n")), "{line}");
        assert_eq!(line.split_whitespace().next().unwrap().len(), 64, "{line}");
        let check = Command::new("sha256sum")
            .args(["--check", &format!("{name}.tar.gz.sha256")])
            .current_dir(&out)
            .output()
            .unwrap();
        assert!(check.status.success(), "{check:?}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
