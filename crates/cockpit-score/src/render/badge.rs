//! A shields-style flat SVG badge: `sovereign gate | 92.5`, green when the
//! gate passed, red when it failed, grey when nothing was scored. A report
//! taken in a working tree with uncommitted changes says `dirty` on the
//! badge itself, not only in its title: the score is not the commit's. The
//! `<title>` names the tool and version, the commit, its tree, whether the
//! tree was dirty, and the config hash it was certified at.

use crate::Certification;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Width of text in Verdana 11px, as shields estimates it (≈ 6.5 px a character).
fn text_width(s: &str) -> u32 {
    s.chars()
        .map(|c| match c {
            '.' | ' ' | ':' | 'i' | 'l' | '|' => 4,
            'm' | 'w' | 'M' | 'W' => 10,
            _ => 7,
        })
        .sum()
}

/// What the badge says in full: score, threshold, verdict, the tool that
/// measured, and what the evidence was taken at.
fn title(cert: &Certification, label: &str, message: &str) -> String {
    let tool = &cert.report.tool;
    let mut title = format!(
        "{label}: {message} (threshold {:.1}, {}), {} {}",
        cert.threshold,
        if cert.passed { "passed" } else { "failed" },
        tool.name,
        tool.version
    );
    if let Some(p) = &cert.report.provenance {
        if let Some(g) = &p.git {
            title.push_str(&format!(
                ", commit {} tree {}{}",
                g.commit,
                g.tree,
                if g.dirty {
                    " (dirty: uncommitted changes)"
                } else {
                    ""
                }
            ));
        }
        if let Some(h) = &p.config_sha256 {
            title.push_str(&format!(", config sha256 {h}"));
        }
    }
    title
}

/// The badge SVG.
pub fn badge(cert: &Certification) -> String {
    let label = "sovereign gate";
    let dirty = cert
        .report
        .provenance
        .as_ref()
        .and_then(|p| p.git.as_ref())
        .is_some_and(|g| g.dirty);
    let mut message = match cert.score {
        Some(s) => format!("{s:.1}"),
        None => "n/a".to_string(),
    };
    if dirty {
        message.push_str(" dirty");
    }
    let colour = match (cert.score, cert.passed) {
        (None, _) => "#9f9f9f",
        (_, true) => "#4c1",
        (_, false) => "#e05d44",
    };
    let lw = text_width(label) + 10;
    let mw = text_width(&message) + 10;
    let w = lw + mw;
    let title = title(cert, label, &message);
    let title = escape(&title);
    let (label, message) = (escape(label), escape(&message));
    let lx = lw * 5;
    let mx = (lw + mw / 2) * 10;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{title}"><title>{title}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{colour}"/><rect width="{w}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="110"><text x="{lx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">{label}</text><text x="{lx}" y="140" transform="scale(.1)">{label}</text><text x="{mx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">{message}</text><text x="{mx}" y="140" transform="scale(.1)">{message}</text></g></svg>
"##
    )
}

#[cfg(test)]
mod tests {
    use cockpit_core::{GitRevision, Provenance, Report};

    use super::*;
    use crate::{Date, GatePolicy, certify};

    fn badge_of(dirty: bool) -> String {
        let mut report = Report::new("agentops-cockpit", "9.8.7", vec![]);
        report.provenance = Some(Provenance {
            config_sha256: None,
            config_path: None,
            git: Some(GitRevision {
                commit: "c0ffee".into(),
                tree: "7ree".into(),
                dirty,
                remote: None,
            }),
            ..Provenance::default()
        });
        let today = Date::new(2026, 11, 27).unwrap();
        badge(&certify(&report, &GatePolicy::default(), today))
    }

    #[test]
    fn a_dirty_tree_shows_on_the_badge_and_in_its_title() {
        let dirty = badge_of(true);
        assert!(dirty.contains(" dirty</text>"), "{dirty}");
        assert!(
            dirty.contains("tree 7ree (dirty: uncommitted changes)"),
            "{dirty}"
        );
        assert!(dirty.contains("agentops-cockpit 9.8.7"), "{dirty}");
        let clean = badge_of(false);
        assert!(!clean.contains("dirty"), "{clean}");
        assert!(clean.contains("commit c0ffee tree 7ree</title>"), "{clean}");
    }
}
