//! Property tests of `cockpit.toml` as the CLI loads it (outside input):
//! arbitrary bytes and damaged copies of the example configuration never
//! crash the binary; every refusal is exit 2 with an error that names the
//! file and, for text, a `line:column` inside it; a secret from the
//! environment is never printed; a file past `MAX_CONFIG_BYTES` is refused
//! on its size. Each case runs the real binary (`certify --from` a missing
//! report, which loads the configuration first and measures nothing), so
//! the case counts are small; `PROPTEST_CASES` raises them.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;

/// `MAX_CONFIG_BYTES` of the CLI (4 MiB).
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// A value the environment gives that must never be printed.
const SECRET: &str = "hunter2-9f8e7d6c";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

/// Load `bytes` as the configuration; the run's output and the file.
fn load(bytes: &[u8]) -> (Workdir, std::path::PathBuf, Output) {
    let w = Workdir::new();
    let cfg = w.join("cockpit-test.toml");
    std::fs::write(&cfg, bytes).unwrap();
    let out = run_config(&w, &cfg);
    (w, cfg, out)
}

fn run_config(w: &Workdir, cfg: &Path) -> Output {
    let from = w.join("absent-report.json");
    let args = [
        "certify",
        "--config",
        cfg.to_str().unwrap(),
        "--from",
        from.to_str().unwrap(),
    ];
    let opts = Opts::default()
        .cwd(w.path())
        .env("REDIS_PASSWORD", SECRET)
        .env("AGENT_TOKEN", SECRET);
    runtime().block_on(run_with(&args, &opts))
}

/// The run refused the input cleanly: exit 2, an error naming the
/// configuration (at a line and column inside `text` when it is text) or, for a valid one,
/// the missing report; no secret anywhere.
fn assert_refused(cfg: &Path, text: Option<&str>, out: &Output) -> Result<(), TestCaseError> {
    prop_assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    prop_assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    prop_assert!(
        !out.stderr.contains(SECRET) && !out.stdout.contains(SECRET),
        "{}",
        out.stderr
    );
    let prefix = format!("error: {}", cfg.display());
    let Some(rest) = out
        .stderr
        .find(&prefix)
        .map(|i| &out.stderr[i + prefix.len()..])
    else {
        // Valid: the next thing refused is the missing report.
        prop_assert!(out.stderr.contains("--from"), "{}", out.stderr);
        return Ok(());
    };
    if let Some(text) = text {
        // Text: the error points into it.
        let located = rest.strip_prefix(':').unwrap_or("");
        let mut parts = located.splitn(3, ':');
        let line: usize = parts.next().unwrap_or("").parse().unwrap_or(0);
        let column: usize = parts.next().unwrap_or("").parse().unwrap_or(0);
        prop_assert!(line >= 1 && column >= 1, "not located: {}", out.stderr);
        let lines: Vec<&str> = text.split('\n').collect();
        prop_assert!(
            line <= lines.len(),
            "line {} of {}: {}",
            line,
            lines.len(),
            out.stderr
        );
        let width = lines[line - 1].chars().count() + 1;
        prop_assert!(
            column <= width,
            "column {} of {}: {}",
            column,
            width,
            out.stderr
        );
    } else {
        prop_assert!(rest.starts_with(": "), "{}", out.stderr);
    }
    Ok(())
}

fn example() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cockpit.toml");
    std::fs::read_to_string(p).unwrap()
}

/// A line-level edit of a configuration.
#[derive(Debug, Clone)]
enum Edit {
    /// Take the `#` off a commented line (turns examples on).
    Uncomment(usize),
    Delete(usize),
    Duplicate(usize),
    /// Replace the value after `=` on a line.
    Value(usize, String),
    /// Insert text at a byte position (rounded to a character).
    Insert(usize, String),
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "-1",
            "1e999",
            "nan",
            "inf",
            "true",
            "\"\"",
            "\"${REDIS_PASSWORD}\"",
            "\"http://u:${AGENT_TOKEN}@h/\"",
            "\"${UNSET_VAR_XYZ}\"",
            "[",
            "]",
            "{",
            "}",
            "[[agents]]",
            "[gate]",
            "=",
            "\"",
            "'",
            "\"\"\"",
            "\n",
            "#",
            "1979-05-27",
            "{ Authorization = \"Bearer ${AGENT_TOKEN}\" }",
            "\"grpc://h\"",
            "\"ftp://x\"",
            "\"\\u0000\"",
            "\u{feff}",
            "é",
        ])
        .prop_map(str::to_string),
        ".{0,8}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Uncomment),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), token()).prop_map(|(i, t)| Edit::Value(i, t)),
        (any::<usize>(), token()).prop_map(|(i, t)| Edit::Insert(i, t)),
    ]
}

fn apply(text: &str, e: &Edit) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let n = lines.len();
    match e {
        Edit::Uncomment(i) => {
            // Only commented lines: pick the i-th of them.
            let commented: Vec<usize> = (0..n).filter(|&k| lines[k].starts_with('#')).collect();
            if let Some(&k) = commented.get(i % commented.len().max(1)) {
                lines[k] = lines[k].trim_start_matches(['#', ' ']).to_string();
            }
        }
        Edit::Delete(i) => {
            lines.remove(i % n);
        }
        Edit::Duplicate(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Edit::Value(i, t) => {
            let l = &mut lines[i % n];
            if let Some(eq) = l.find('=') {
                l.replace_range(eq + 1.., &format!(" {t}"));
            }
        }
        Edit::Insert(i, t) => {
            let mut s = lines.join("\n");
            let mut at = i % (s.len() + 1);
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.insert_str(at, t);
            return s;
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_bytes_are_refused_with_a_location(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let (_w, cfg, out) = load(&bytes);
        let text = std::str::from_utf8(&bytes).ok();
        assert_refused(&cfg, text, &out)?;
    }

    #[test]
    fn toml_shaped_text_is_refused_with_a_location(pieces in prop::collection::vec(token(), 0..24)) {
        let text = pieces.concat();
        let (_w, cfg, out) = load(text.as_bytes());
        assert_refused(&cfg, Some(&text), &out)?;
    }

    #[test]
    fn a_damaged_example_is_refused_with_a_location(edits in prop::collection::vec(edit(), 1..5)) {
        let text = edits.iter().fold(example(), |t, e| apply(&t, e));
        let (_w, cfg, out) = load(text.as_bytes());
        assert_refused(&cfg, Some(&text), &out)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    /// Past the bound, the file is refused on its size, whatever it holds
    /// (a valid example followed by zero bytes: a sparse file).
    #[test]
    fn a_file_past_the_bound_is_refused_before_parsing(extra in 1u64..1 << 20) {
        let w = Workdir::new();
        let cfg = w.file("cockpit-test.toml", &example());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&cfg)
            .and_then(|f| f.set_len(MAX_CONFIG_BYTES + extra))
            .unwrap();
        let out = run_config(&w, &cfg);
        prop_assert_eq!(out.code, Some(2), "{}", out.stderr);
        let want = format!("error: {}: {} bytes, over the", cfg.display(), MAX_CONFIG_BYTES + extra);
        prop_assert!(out.stderr.contains(&want), "{}", out.stderr);
    }
}
