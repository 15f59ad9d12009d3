//! A shields-style flat SVG badge: `sovereign gate | 92.5`, green when the
//! gate passed, red when it failed, grey when nothing was scored. Its
//! `<title>` names the commit and config hash it was certified at.

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

/// The badge SVG.
pub fn badge(cert: &Certification) -> String {
    let label = "sovereign gate";
    let message = match cert.score {
        Some(s) => format!("{s:.1}"),
        None => "n/a".to_string(),
    };
    let colour = match (cert.score, cert.passed) {
        (None, _) => "#9f9f9f",
        (_, true) => "#4c1",
        (_, false) => "#e05d44",
    };
    let lw = text_width(label) + 10;
    let mw = text_width(&message) + 10;
    let w = lw + mw;
    let mut title = format!(
        "{label}: {message} (threshold {:.1}, {})",
        cert.threshold,
        if cert.passed { "passed" } else { "failed" }
    );
    if let Some(p) = &cert.report.provenance {
        if let Some(g) = &p.git {
            title.push_str(&format!(", commit {}", g.commit));
        }
        if let Some(h) = &p.config_sha256 {
            title.push_str(&format!(", config sha256 {h}"));
        }
    }
    let title = escape(&title);
    let (label, message) = (escape(label), escape(&message));
    let lx = lw * 5;
    let mx = (lw + mw / 2) * 10;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{title}"><title>{title}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{colour}"/><rect width="{w}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="110"><text x="{lx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">{label}</text><text x="{lx}" y="140" transform="scale(.1)">{label}</text><text x="{mx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">{message}</text><text x="{mx}" y="140" transform="scale(.1)">{message}</text></g></svg>
"##
    )
}
