//! What `load` and `simulate` share about a measuring run: the spinner
//! shown while it runs, and how its end becomes an exit outcome.

use std::io::IsTerminal as _;
use std::time::Duration;

use crate::{CliError, Outcome};

/// The exit of a measuring run, decided in this order: interrupted (130,
/// partial results written), nothing reached (`unreachable`: exit 3 with
/// that message), an objective broken (1), else success.
pub(crate) fn outcome(
    interrupted: bool,
    unreachable: impl FnOnce() -> Option<String>,
    slo_pass: bool,
) -> Result<Outcome, CliError> {
    if interrupted {
        return Ok(Outcome::Interrupted);
    }
    if let Some(message) = unreachable() {
        return Err(CliError::Unreachable(message));
    }
    if !slo_pass {
        return Ok(Outcome::GateFailed);
    }
    Ok(Outcome::Success)
}

/// A spinner on stderr showing `message`, only on a terminal and without
/// `--no-progress`.
pub(crate) fn spinner(no_progress: bool, message: &'static str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || no_progress {
        return None;
    }
    let b = indicatif::ProgressBar::new_spinner();
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    b.enable_steady_tick(Duration::from_millis(200));
    b.set_message(message);
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_wins_then_unreachable_then_the_objectives() {
        let unreachable = || Some("no turn answered".to_string());
        assert_eq!(
            outcome(true, unreachable, false).unwrap(),
            Outcome::Interrupted
        );
        let e = outcome(false, unreachable, false).unwrap_err();
        assert!(
            matches!(e, CliError::Unreachable(ref m) if m == "no turn answered"),
            "{e}"
        );
        assert_eq!(outcome(false, || None, false).unwrap(), Outcome::GateFailed);
        assert_eq!(outcome(false, || None, true).unwrap(), Outcome::Success);
    }
}
