//! `checks list` and `checks explain ID`: the catalogue every pillar
//! defines, and each check's page (compiled into the binary).

use cockpit_score::render::new_table;
use serde::Serialize;

use crate::cli::{ChecksCommand, ChecksFormat};
use crate::{CliError, Outcome, evidence, render};

/// One row of `checks list`.
#[derive(Debug, Serialize)]
struct CheckEntry {
    id: &'static str,
    pillar: &'static str,
    severity: &'static str,
    title: &'static str,
    doc_url: String,
}

fn entries() -> Vec<CheckEntry> {
    evidence::check_specs()
        .into_iter()
        .map(|c| CheckEntry {
            id: c.id.as_str(),
            pillar: c.pillar.as_str(),
            severity: c.severity.as_str(),
            title: c.title,
            doc_url: cockpit_score::doc_url(&c.id.doc_path()),
        })
        .collect()
}

pub fn run(command: ChecksCommand) -> Result<Outcome, CliError> {
    let text = match command {
        ChecksCommand::List { format } => list(format)?,
        ChecksCommand::Explain { id } => explain(&id)?.to_string(),
    };
    crate::print_stdout(&text)?;
    Ok(Outcome::Success)
}

fn list(format: ChecksFormat) -> Result<String, CliError> {
    let entries = entries();
    Ok(match format {
        ChecksFormat::Json => crate::error::to_json_pretty("the check list", &entries)? + "\n",
        ChecksFormat::Table => {
            let mut t = new_table(render::use_colour());
            t.set_header(vec!["Check", "Pillar", "Severity", "Title", "Page"]);
            for e in &entries {
                t.add_row(vec![
                    e.id,
                    e.pillar,
                    e.severity,
                    e.title,
                    e.doc_url.as_str(),
                ]);
            }
            format!("{t}\n")
        }
    })
}

/// The page of check `id` (case-insensitive); an unknown id is a usage
/// error that says where the list is.
fn explain(id: &str) -> Result<&'static str, CliError> {
    evidence::check_specs()
        .into_iter()
        .find(|c| c.id.as_str().eq_ignore_ascii_case(id.trim()))
        .and_then(|c| cockpit_score::check_page(c.id.as_str()))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "checks explain {id}: no such check (`agentops-cockpit checks list` shows them)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_of_the_catalogue_has_its_page_compiled_in() {
        for c in evidence::check_specs() {
            let page = explain(c.id.as_str()).unwrap();
            assert!(page.starts_with(&format!("# {} ", c.id)), "{}", c.id);
        }
        assert!(explain("cic-image").unwrap().starts_with("# CIC-IMAGE "));
        assert!(explain("NOPE-1").is_err());
    }
}
