//! The terminal dashboard as a person meets it: `cockpit` run in a real
//! terminal (tmux, Debian's `tmux`; `cargo xtask ci` installs it), read
//! with `capture-pane`, driven with `send-keys`: the rows, the slow agent
//! marked, the details pane, and the terminal given back sane after `q`
//! and after Ctrl-C. Without a terminal the plain table is printed.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cockpit_testbed::{Testbed, TestbedConfig};
use common::{BIN, Opts, Workdir, command, fast, kill, poll, testbed, wait};

const ROUNDS: Duration = Duration::from_secs(90);

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Tmux {
        Tmux {
            socket: format!("agentops-{name}-{}", std::process::id()),
        }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux is needed: `apt-get install tmux` (cargo xtask ci installs it)")
    }

    /// Run `shell_command` in a detached 100×30 session.
    fn start(&self, shell_command: &str) {
        let out = self.cmd(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "100",
            "-y",
            "30",
            shell_command,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    /// The screen once `pred` holds on it.
    async fn until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        poll(what, ROUNDS, || async {
            let s = self.screen();
            pred(&s).then_some(s)
        })
        .await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn agent(name: &str, tb: &Testbed) -> String {
    format!(
        "[[agents]]\nname = \"{name}\"\nendpoint = \"{}/v1\"\nprotocol = \"openai\"\n\n",
        tb.base_url()
    )
}

/// `fast` (20 ms to the first token) and `slow` (700 ms, above the
/// 400 ms bound, far above the fast one even on a busy machine). The
/// relative rule is out of reach (+10000 %): a 20 ms agent's first period
/// is no baseline to judge a busy test machine's noise by.
async fn fleet(w: &Workdir) -> (Vec<Testbed>, std::path::PathBuf) {
    let f = testbed(fast()).await;
    let s = testbed(TestbedConfig {
        ttft: Duration::from_millis(700),
        ..fast()
    })
    .await;
    let cfg = w.config(&format!(
        "{}{}[[mcp]]\nname = \"tools\"\nurl = \"http://127.0.0.1:{}/mcp\"\ntimeout_ms = 2000\n\n[cockpit]\nsamples = 2\n\n[cockpit.alerts]\nttft_p95_ms = 400\nconsecutive = 2\nrelative_increase_pct = 10000\n",
        agent("fast", &f),
        agent("slow", &s),
        common::dead_port()
    ));
    (vec![f, s], cfg)
}

/// The shell command: the dashboard, then its exit code and the
/// terminal's modes printed where capture-pane reads them.
fn shell(cfg: &Path) -> String {
    format!(
        "cd {dir} && {BIN} cockpit --config {cfg} --interval 200ms --window 10s; echo EXITED:$?; stty -a; sleep 120",
        dir = cfg.parent().unwrap().display(),
        cfg = cfg.display()
    )
}

fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}:\n{screen}"))
}

/// The shell printed the exit code and then `stty -a`'s modes.
fn exited(screen: &str) -> bool {
    screen.contains("EXITED:") && screen.contains("icanon")
}

/// After the dashboard: the main screen is back (no dashboard left on
/// it) and the terminal is in cooked mode with echo.
fn assert_sane(screen: &str) {
    assert!(
        !screen.contains("Mission Control ·"),
        "alternate screen left over:\n{screen}"
    );
    assert!(!screen.contains("-icanon"), "still raw:\n{screen}");
    assert!(!screen.contains("-echo "), "echo off:\n{screen}");
    assert!(screen.contains(" icanon"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_tmux_marks_the_slow_agent_opens_details_and_q_restores_the_terminal() {
    let w = Workdir::new();
    let (beds, cfg) = fleet(&w).await;
    let tmux = Tmux::new("tui-q");
    tmux.start(&shell(&cfg));
    let screen = tmux
        .until("the slow agent's alert on the dashboard", |s| {
            s.lines().any(|l| l.contains("slow ") && l.contains("!ABS"))
        })
        .await;
    assert!(
        screen.starts_with("Mission Control · 1 firing · round "),
        "{screen}"
    );
    let fast = line_with(&screen, "fast ");
    assert!(fast.contains("UP") && fast.contains(" n="), "{screen}");
    assert!(!fast.contains("!ABS"), "{screen}");
    assert!(line_with(&screen, "slow ").contains("DEGRADED"), "{screen}");
    assert!(screen.contains("q quit"), "{screen}");

    // Rows are sorted by name: Down selects `slow`, Enter opens it.
    tmux.keys(&["Down", "Enter"]);
    let screen = tmux
        .until("the details pane with the alert", |s| {
            s.contains("details (Enter closes)") && s.contains("ALERT ttft-absolute: TTFT p95 ")
        })
        .await;
    assert!(line_with(&screen, "slow ").starts_with('>'), "{screen}");
    assert!(
        screen.contains("slow · agent · openai"),
        "the details are the selected agent's:\n{screen}"
    );

    // `/` filters by name; Esc clears it.
    tmux.keys(&["Escape", "/", "f", "a", "Enter"]);
    let screen = tmux
        .until("the filter", |s| s.contains("1/2 shown · filter: fa"))
        .await;
    assert!(!screen.lines().any(|l| l.contains("slow ")), "{screen}");

    // `h`: the fleet hub; its MCP server (a closed port) is down.
    tmux.keys(&["Escape", "h"]);
    let screen = tmux
        .until("the hub view with the MCP server down", |s| {
            s.contains("MCP hub")
                && s.lines()
                    .any(|l| l.contains("tools ") && l.contains("DOWN"))
        })
        .await;
    assert!(screen.contains("Fleet hub · measured every"), "{screen}");
    tmux.keys(&["h"]);
    tmux.until("the table again", |s| {
        s.contains("TTFT p50/p95") && !s.contains("MCP hub")
    })
    .await;

    tmux.keys(&["q"]);
    let screen = tmux
        .until("the exit and the terminal's modes", exited)
        .await;
    assert!(screen.contains("EXITED:0"), "{screen}");
    assert_sane(&screen);
    for tb in beds {
        tb.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_in_the_dashboard_restores_the_terminal_and_exits_130() {
    let w = Workdir::new();
    let (beds, cfg) = fleet(&w).await;
    let tmux = Tmux::new("tui-ctrl-c");
    tmux.start(&shell(&cfg));
    tmux.until("the first probed row", |s| {
        s.lines().any(|l| l.contains("fast ") && l.contains(" UP "))
    })
    .await;
    // In raw mode Ctrl-C is a key, not a signal: the dashboard handles it.
    tmux.keys(&["C-c"]);
    let screen = tmux
        .until("the exit and the terminal's modes", exited)
        .await;
    assert!(screen.contains("EXITED:130"), "{screen}");
    assert_sane(&screen);
    for tb in beds {
        tb.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_go_to_the_evidence_dir_not_onto_the_dashboard() {
    let w = Workdir::new();
    let (beds, cfg) = fleet(&w).await;
    let tmux = Tmux::new("tui-log");
    tmux.start(&shell(&cfg));
    tmux.until("the first probed row", |s| {
        s.lines().any(|l| l.contains("fast ") && l.contains(" UP "))
    })
    .await;
    // A certification that does not parse lands while the dashboard runs:
    // the next interval's read of the lake warns about it.
    let lake = cfg.parent().unwrap().join(".cockpit/evidence");
    let run = lake.join("29991231T000000Z-corrupt");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("report.json"), "{}").unwrap();
    std::fs::write(run.join("certification.json"), "{ not json").unwrap();
    let log = lake.join("cockpit.log");
    let text = poll("the warning in cockpit.log", ROUNDS, || async {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("skipping a certification"))
    })
    .await;
    assert!(text.contains("WARN"), "{text}");
    let screen = tmux.screen();
    assert!(screen.starts_with("Mission Control · "), "{screen}");
    assert!(
        !screen.contains("skipping") && !screen.contains("WARN"),
        "a log line on the dashboard:\n{screen}"
    );
    tmux.keys(&["q"]);
    let screen = tmux
        .until("the exit and the terminal's modes", exited)
        .await;
    assert!(screen.contains("EXITED:0"), "{screen}");
    assert!(!screen.contains("skipping"), "{screen}");
    for tb in beds {
        tb.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_a_table_is_printed_each_interval() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let w = Workdir::new();
    let (beds, cfg) = fleet(&w).await;
    let cfg_s = cfg.to_str().unwrap();
    let mut child = command(
        &[
            "cockpit",
            "--config",
            cfg_s,
            "--interval",
            "200ms",
            "--window",
            "10s",
        ],
        &Opts::default().cwd(w.path()),
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let tables = async {
        // Two rounds' tables, read as they are printed.
        while seen.matches("Mission Control · ").count() < 2 {
            match lines.next_line().await {
                Ok(Some(l)) => seen.push_str(&format!("{l}\n")),
                _ => break,
            }
        }
    };
    tokio::time::timeout(ROUNDS, tables)
        .await
        .expect("hang guard: two tables printed");
    kill(child.id().unwrap(), "INT");
    let out = wait(child, Duration::from_secs(30)).await;
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    assert_eq!(seen.matches("Mission Control · ").count(), 2, "{seen}");
    assert!(seen.contains("fast") && seen.contains("slow"), "{seen}");
    assert!(
        !seen.contains('\u{1b}'),
        "no terminal control sequences: {seen:?}"
    );
    for tb in beds {
        tb.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_store_is_a_row_of_the_dashboard() {
    use cockpit_stm::testing::{NO_PERSISTENCE, RedisServer};
    let redis = RedisServer::start(NO_PERSISTENCE);
    let f = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{}[stm]\nurl = \"{}\"\n",
        agent("fast", &f),
        redis.url()
    ));
    let tmux = Tmux::new("tui-stm");
    tmux.start(&shell(&cfg));
    let screen = tmux
        .until("the stm row with its PING", |s| {
            s.lines()
                .any(|l| l.contains("stm ") && l.contains("UP") && l.contains("ping "))
        })
        .await;
    assert!(line_with(&screen, "fast ").contains("UP"), "{screen}");
    // Sorted by name: Down selects `stm`, Enter opens its details.
    tmux.keys(&["Down", "Enter"]);
    let screen = tmux
        .until("the stm details", |s| {
            s.contains("PING p50 ") && s.contains("role master")
        })
        .await;
    assert!(screen.contains("stm · stm · redis"), "{screen}");
    tmux.keys(&["q"]);
    let screen = tmux.until("the exit", exited).await;
    assert!(screen.contains("EXITED:0"), "{screen}");
    f.shutdown().await;
}
