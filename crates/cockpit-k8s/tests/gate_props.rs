//! Property tests of CIC-GATE's readers: CI workflow files ([`scan`]) and
//! the shell lexer behind them ([`deploy_command`]), both outside input.
//! Arbitrary shell lines, workflow-shaped YAML and damaged real workflows
//! never panic and every finding is located inside the file; a deploy or a
//! certify is found however its words are quoted, escaped or continued on
//! the next line with `\`-newline, as the lexer reads them (POSIX quoting:
//! `'…'`, `"…"`, `\c`, adjacent pieces joined). A bounded number of cases
//! (CI runs them every time); `PROPTEST_CASES` raises it.

use std::path::Path;

use cockpit_core::{Location, Status};
use cockpit_k8s::checks::gate::{GateRules, deploy_command, scan};
use proptest::prelude::*;

/// One way to write `word` in the shell so that it reads back as `word`.
#[derive(Debug, Clone)]
enum Quote {
    Bare,
    Single,
    Double,
    /// Two pieces at `k`, each quoted its own way (`ku'bectl'`).
    Split(usize, Box<Quote>, Box<Quote>),
    /// A backslash before the character at `k` (`ku\bectl`).
    Escape(usize),
    /// A `\`-newline inside the word at `k` (removed by the shell).
    Continued(usize),
    /// An empty quoted string in front (`''kubectl`).
    Empty,
}

fn quote() -> impl Strategy<Value = Quote> {
    let leaf = prop_oneof![
        Just(Quote::Bare),
        Just(Quote::Single),
        Just(Quote::Double),
        any::<usize>().prop_map(Quote::Escape),
        any::<usize>().prop_map(Quote::Continued),
        Just(Quote::Empty),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        (any::<usize>(), inner.clone(), inner)
            .prop_map(|(k, a, b)| Quote::Split(k, Box::new(a), Box::new(b)))
    })
}

/// `word` written with `q` (the word holds no quote, backslash or space).
fn render(word: &str, q: &Quote) -> String {
    let cut = |k: usize| {
        let k = k % (word.len() + 1);
        (&word[..k], &word[k..])
    };
    match q {
        Quote::Bare => word.to_string(),
        Quote::Single => format!("'{word}'"),
        Quote::Double => format!("\"{word}\""),
        Quote::Split(k, a, b) => {
            let (x, y) = cut(*k);
            // An empty piece quoted bare would vanish; keep it quoted.
            let piece = |s: &str, q: &Quote| match (s.is_empty(), q) {
                (true, _) => "''".to_string(),
                (false, q) => render(s, q),
            };
            format!("{}{}", piece(x, a), piece(y, b))
        }
        Quote::Escape(k) if !word.is_empty() => {
            let k = k % word.len();
            format!("{}\\{}", &word[..k], &word[k..])
        }
        Quote::Continued(k) => {
            let (x, y) = cut(*k);
            format!("{x}\\\n{y}")
        }
        Quote::Empty => format!("''{word}"),
        Quote::Escape(_) => "''".to_string(),
    }
}

/// A command line: each word quoted its own way, words separated by
/// spaces or a `\`-newline.
fn command_line(words: &[&str], quotes: &[Quote], breaks: &[bool]) -> String {
    let mut s = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            s.push_str(if breaks[i % breaks.len()] {
                " \\\n  "
            } else {
                " "
            });
        }
        s.push_str(&render(w, &quotes[i % quotes.len()]));
    }
    s
}

/// Deploy commands the gate knows, as words.
const DEPLOYS: [&[&str]; 5] = [
    &["kubectl", "apply", "-f", "k8s/agent.yaml"],
    &["helm", "upgrade", "--install", "agent", "./chart"],
    &["gcloud", "run", "deploy", "agent", "--image=gcr.io/p/a:1"],
    &[
        "kubectl",
        "-n",
        "prod",
        "rollout",
        "restart",
        "deploy/agent",
    ],
    &["sudo", "helm", "install", "agent", "./chart"],
];

/// Commands before the deploy that do not change it.
fn prelude() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "echo deploying; ",
        "cd infra && ",
        "set -eu\n",
        "# a comment\n",
        "export KUBECONFIG=/tmp/k\n",
    ])
    .prop_map(str::to_string)
}

/// Shell-shaped noise: words, operators, quotes, escapes, substitutions
/// and here-documents, balanced or not.
fn shellish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "kubectl",
            "apply",
            "helm",
            "upgrade",
            "agentops-cockpit",
            "certify",
            "gcloud",
            "run",
            "deploy",
            "sudo",
            "timeout",
            "600",
            "--dry-run",
            "-f",
            "x.yaml",
            " ",
            "  ",
            "\n",
            ";",
            ";;",
            "&",
            "&&",
            "|",
            "||",
            "|&",
            "'",
            "\"",
            "\\",
            "\\\n",
            "`",
            "$(",
            ")",
            "(",
            "{",
            "}",
            "<<",
            "<<-",
            "EOF",
            "<<<",
            "#",
            "if",
            "then",
            "fi",
            "!",
            "set -e",
            "set +e",
            "true",
            "exit 1",
            ">",
            "2>&1",
            "=",
            "A=1",
        ])
        .prop_map(str::to_string),
        ".{0,6}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Workflow-shaped YAML: the keys CIC-GATE reads, nested at random.
fn workflowish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "jobs:\n",
            "  ship:\n",
            "    runs-on: ubuntu-latest\n",
            "    needs: [gate]\n",
            "    needs: gate\n",
            "    steps:\n",
            "      - run: ",
            "      - uses: azure/k8s-deploy@v5\n",
            "        with:\n",
            "          namespace: prod\n",
            "      - if: always()\n",
            "        continue-on-error: true\n",
            "    if: ${{ failure() }}\n",
            "stages: [a, b]\n",
            "deploy:\n",
            "  stage: b\n",
            "  script:\n",
            "    - ",
            "  when: manual\n",
            "  allow_failure: true\n",
            "  rules:\n",
            "    - when: never\n",
            "defaults:\n",
            "  run:\n",
            "    shell: bash\n",
            "|\n",
            "  ",
            "\n",
            "- ",
            "{",
            "}",
            "[",
            "]",
            ": ",
            "&a ",
            "*a",
            "'",
            "\"",
        ])
        .prop_map(str::to_string),
        shellish(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Lines of `src` a location may name: 1 to one past the last, counting
/// line breaks as YAML does (`\n`, `\r\n` and a lone `\r`), so a file
/// of lone carriage returns is as many lines as the parser reports.
fn last_line(src: &str) -> u32 {
    let lone_cr = src
        .match_indices('\r')
        .filter(|(i, _)| !src[i + 1..].starts_with('\n'))
        .count();
    (src.matches('\n').count() + lone_cr) as u32 + 1
}

/// Every finding is CIC-GATE, in `path`, at a line of the file.
fn assert_located(
    path: &str,
    src: &str,
    fs: &[cockpit_core::Finding],
) -> Result<(), TestCaseError> {
    let last = last_line(src);
    for f in fs {
        prop_assert_eq!(f.check_id.as_str(), "CIC-GATE");
        match &f.location {
            Some(Location::File { path: p, line, .. }) => {
                prop_assert_eq!(p, path);
                if let Some(l) = line {
                    prop_assert!(
                        (1..=last).contains(l),
                        "line {} of {}: {}",
                        l,
                        last,
                        f.summary
                    );
                }
            }
            other => prop_assert!(false, "not located in the file: {:?}", other),
        }
    }
    Ok(())
}

/// Indent every line of a script into a `run: |` block at `indent` spaces.
fn block(script: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    script.lines().map(|l| format!("{pad}{l}\n")).collect()
}

fn gate_fixtures() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gate");
    let mut v = Vec::new();
    for dir in ["github", "gitlab"] {
        let mut names: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            v.push((name, std::fs::read_to_string(&p).unwrap()));
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_deploy_is_found_however_it_is_quoted_or_split(
        which in 0usize..DEPLOYS.len(),
        quotes in prop::collection::vec(quote(), 1..6),
        breaks in prop::collection::vec(any::<bool>(), 1..6),
        before in prelude(),
    ) {
        let words = DEPLOYS[which];
        let plain = deploy_command(&words.join(" "));
        prop_assert!(plain.is_some(), "{:?} is a known deploy", words);
        let line = format!("{before}{}", command_line(words, &quotes, &breaks));
        prop_assert_eq!(deploy_command(&line), plain, "{}", line);
    }

    #[test]
    fn a_certify_is_found_however_it_is_quoted_or_split(
        quotes in prop::collection::vec(quote(), 1..6),
        breaks in prop::collection::vec(any::<bool>(), 1..6),
        before in prelude(),
        same_step in any::<bool>(),
    ) {
        let certify = ["agentops-cockpit", "certify", "--config", "cockpit.toml"];
        let gate = format!("{before}{}", command_line(&certify, &quotes, &breaks));
        let deploy = "helm upgrade --install agent ./chart";
        let steps = if same_step {
            format!("      - run: |\n{}", block(&format!("{gate}\n{deploy}"), 10))
        } else {
            format!("      - run: |\n{}      - run: {deploy}\n", block(&gate, 10))
        };
        let src = format!("on: push\njobs:\n  ship:\n    runs-on: ubuntu-latest\n    steps:\n{steps}");
        let fs = scan(".github/workflows/deploy.yml", &src, &GateRules::default());
        assert_located(".github/workflows/deploy.yml", &src, &fs)?;
        prop_assert!(!fs.is_empty(), "the deploy was not found in\n{}", src);
        prop_assert!(
            fs.iter().all(|f| f.status == Status::Pass),
            "{}\n{:?}",
            src,
            fs.iter().map(|f| &f.summary).collect::<Vec<_>>()
        );
    }

    #[test]
    fn shell_lines_never_panic(line in shellish()) {
        let _ = deploy_command(&line);
    }

    #[test]
    fn arbitrary_shell_text_never_panics(line in ".{0,200}") {
        let _ = deploy_command(&line);
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn workflow_shaped_yaml_is_read_and_located(src in workflowish(), gitlab in any::<bool>()) {
        let path = if gitlab { ".gitlab-ci.yml" } else { ".github/workflows/ci.yml" };
        let fs = scan(path, &src, &GateRules::default());
        assert_located(path, &src, &fs)?;
    }

    #[test]
    fn arbitrary_bytes_are_read_and_located(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let src = String::from_utf8_lossy(&bytes);
        let fs = scan("ci.yml", &src, &GateRules::default());
        assert_located("ci.yml", &src, &fs)?;
    }

    #[test]
    fn damaged_workflows_never_panic_and_stay_located(
        pick in any::<usize>(),
        edits in prop::collection::vec((any::<usize>(), 0usize..16, workflowish()), 1..4),
    ) {
        let all = gate_fixtures();
        let (name, text) = &all[pick % all.len()];
        let mut s = text.clone();
        for (at, remove, insert) in &edits {
            let mut i = at % (s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            let mut end = (i + remove).min(s.len());
            while !s.is_char_boundary(end) {
                end += 1;
            }
            s.replace_range(i..end, insert);
        }
        let fs = scan(name, &s, &GateRules::default());
        assert_located(name, &s, &fs)?;
    }
}
