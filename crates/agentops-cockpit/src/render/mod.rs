//! The CLI's own terminal output: the TTY decision, and the tables of the
//! commands whose results are not a Report (`probe`, `load`, `cockpit`, `shadow`). Report and
//! certification renderers live in `cockpit_score::render`; every table,
//! theirs and these, comes from one [`new_table`] (one style, one width
//! rule). The printers take finished results: nothing here measures or
//! decides (the oha `printer.rs` way).

mod csv;
mod fleet;
mod fleet_infra;
mod load;
mod load_dist;
mod probe;
mod shadow;
mod sim;

pub use cockpit_score::render::new_table;
pub use csv::csv;
pub use fleet::{cell, fleet_table};
pub use fleet_infra::{infra_cell, infra_lines};
pub use load::load_table;
pub use probe::{comparisons, probe_table};
pub use shadow::shadow_table;
pub use sim::{sim_markdown, sim_table};

/// Whether to colour what goes to stdout: `--color` (auto: only on a
/// TTY, and never with NO_COLOR).
pub fn use_colour() -> bool {
    crate::term::stdout_colour()
}
