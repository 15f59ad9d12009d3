//! What the terminal gets besides the results: the colour decision
//! (`--color`), notices that `-q` silences, and the per-pillar progress
//! display of `audit report` and `certify` (on a terminal only).
//!
//! Set once from the command line in `main`, read everywhere else.

use std::io::IsTerminal as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::ColorArg;

static COLOR: OnceLock<ColorArg> = OnceLock::new();
static QUIET: AtomicBool = AtomicBool::new(false);

/// Record `--color` and `-q`; called once, before anything is printed.
pub fn init(color: ColorArg, quiet: bool) {
    let _ = COLOR.set(color);
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether a stream that is (or is not) a terminal gets colour: `always`,
/// `never`, or for `auto` a terminal without NO_COLOR.
fn colour_for(is_terminal: bool) -> bool {
    match COLOR.get().copied().unwrap_or(ColorArg::Auto) {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// Colour in what goes to stdout (tables).
pub fn stdout_colour() -> bool {
    colour_for(std::io::stdout().is_terminal())
}

/// Colour in what goes to stderr (logs): never ANSI in a redirected file
/// unless `--color always`.
pub fn stderr_colour() -> bool {
    colour_for(std::io::stderr().is_terminal())
}

/// Whether `-q` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A line on stderr about the run itself (which configuration, where files
/// went), not a result: `-q` silences it.
pub fn notice(text: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("{text}");
    }
}

/// The per-pillar progress of an audit: a bar on stderr with the pillar
/// being measured, only when stderr is a terminal and `-q` is not given;
/// otherwise it does nothing.
#[derive(Debug)]
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// A display of `steps` pillars (hidden off a terminal).
    pub fn pillars(steps: u64) -> Progress {
        if quiet() || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(steps);
        let template = if stderr_colour() {
            "{spinner:.cyan} [{pos}/{len}] {elapsed} {msg}"
        } else {
            "{spinner} [{pos}/{len}] {elapsed} {msg}"
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(bar))
    }

    /// The pillar measured from now on (the previous one is done).
    pub fn step(&self, pillar: &str) {
        if let Some(b) = &self.0 {
            if !b.message().is_empty() {
                b.inc(1);
            }
            b.set_message(format!("measuring {pillar}…"));
        }
    }

    /// Every pillar measured: the bar is removed.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
