//! The check pages (`docs/checks/<ID>.md`), compiled in: SARIF rules carry
//! their description and fix, `checks explain ID` prints them, and every
//! link to a page goes to the project's repository (`CARGO_PKG_REPOSITORY`,
//! the workspace's one project URL).

macro_rules! pages {
    ($($id:literal,)*) => {
        &[$(($id, include_str!(concat!("../../../docs/checks/", $id, ".md")))),*]
    };
}

/// Every page, as `(id, Markdown)`; a test checks that it lists every file
/// of `docs/checks/` but the index.
pub static CHECK_PAGES: &[(&str, &str)] = pages!(
    "CIC-GATE",
    "CIC-IMAGE",
    "CIC-TOKEN",
    "CIC-WI",
    "CMP-AUTOPILOT",
    "CMP-BOOST",
    "CMP-HPA",
    "CMP-MANIFEST",
    "CMP-PDB",
    "CMP-PROBES",
    "CMP-READY",
    "CMP-RES",
    "CMP-SPREAD",
    "CMP-THROTTLE",
    "CMP-TTR",
    "CMP-WARM",
    "FLT-SLOW",
    "HIV-FLEET",
    "HIV-HIT",
    "HIV-RATE",
    "MCP-HEALTH",
    "MCP-LATENCY",
    "MCP-PROTOCOL",
    "NET-EP",
    "NET-LB",
    "NET-PROTO",
    "NET-TAIL",
    "NET-TTFT",
    "NET-ZONE",
    "OBS-EVENTS",
    "OBS-RESTARTS",
    "OBS-TTFT",
    "RAG-COLLECTION",
    "RAG-LATENCY",
    "RAG-STALE",
    "RAG-ZONE",
    "SHD-AGREEMENT",
    "SHD-ERRORS",
    "SHD-TTFT",
    "SIM-COLLISION",
    "SIM-REASONING",
    "SIM-TRACE",
    "STA-EVICT",
    "STA-EXTERNAL",
    "STA-FSYNC",
    "STA-HA",
    "STA-KEYS",
    "STA-LATENCY",
    "STA-PERSIST",
    "STA-ROUNDTRIP",
    "STA-SURVIVAL",
    "WTC-LEAK",
);

/// The page of check `id`, if it has one.
///
/// ```
/// let page = cockpit_score::check_page("NET-TTFT").unwrap();
/// assert!(page.starts_with("# NET-TTFT"));
/// assert!(cockpit_score::check_page("NOPE-1").is_none());
/// ```
pub fn check_page(id: &str) -> Option<&'static str> {
    CHECK_PAGES.iter().find(|(i, _)| *i == id).map(|(_, p)| *p)
}

/// The web address of a page of the repository (`docs/checks/NET-TTFT.md`):
/// under the project's URL.
///
/// ```
/// let url = cockpit_score::doc_url("docs/checks/NET-TTFT.md");
/// assert!(url.starts_with("http") && url.ends_with("/docs/checks/NET-TTFT.md"), "{url}");
/// ```
pub fn doc_url(doc: &str) -> String {
    format!(
        "{}/blob/main/{}",
        env!("CARGO_PKG_REPOSITORY").trim_end_matches('/'),
        doc.trim_start_matches('/')
    )
}

/// The project's URL (the workspace's `repository`).
pub const PROJECT_URL: &str = env!("CARGO_PKG_REPOSITORY");

/// The body of the `## {heading}` section of a page (up to the next `## `
/// heading), trimmed; `None` when the page has no such section.
pub fn page_section<'a>(page: &'a str, heading: &str) -> Option<&'a str> {
    let marker = format!("\n## {heading}\n");
    let start = page.find(&marker)? + marker.len();
    let body = &page[start..];
    let end = body.find("\n## ").unwrap_or(body.len());
    Some(body[..end].trim())
}

/// The first paragraph of a page's `## What it measures`, else its title
/// line (without the `# ID — ` prefix).
pub fn page_summary(page: &str) -> String {
    if let Some(p) = page_section(page, "What it measures")
        .and_then(|s| s.split("\n\n").next())
        .filter(|p| !p.trim().is_empty())
    {
        return p.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let title = page.lines().next().unwrap_or_default();
    title
        .split_once(" — ")
        .map_or(title, |(_, t)| t)
        .trim_start_matches('#')
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_of_docs_checks_is_compiled_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/checks");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md") && n != "README.md")
            .map(|n| n.trim_end_matches(".md").to_string())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = CHECK_PAGES.iter().map(|(i, _)| i.to_string()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn every_page_has_a_fix_with_a_concrete_example() {
        let mut missing = Vec::new();
        for (id, page) in CHECK_PAGES {
            assert!(page.starts_with(&format!("# {id} ")), "{id}: title");
            match page_section(page, "Fix") {
                Some(fix) if fix.contains("```") => {}
                _ => missing.push(*id),
            }
        }
        assert!(
            missing.is_empty(),
            "pages without a `## Fix` with an example: {missing:?}"
        );
    }

    #[test]
    fn sections_end_at_the_next_heading() {
        let page =
            "# X-1 — T\n\n## What it measures\n\nOne thing,\nwell.\n\nMore.\n\n## Fix\n\nDo it.\n";
        assert_eq!(page_section(page, "Fix"), Some("Do it."));
        assert_eq!(page_summary(page), "One thing, well.");
        assert_eq!(page_summary("# X-2 — A title\n"), "A title");
        assert_eq!(page_section(page, "Anchors"), None);
    }
}
