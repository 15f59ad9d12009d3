//! Markdown in the report's texts (finding summaries, moves, reasons) as
//! HTML, with pulldown-cmark.
//!
//! The texts come partly from the measured systems (an error message, a
//! manifest's name), so the rendering lets nothing through that the text
//! did not say as prose: raw HTML, inline or as a block, stays text
//! (escaped); an image becomes its alt text, so the page fetches nothing;
//! a link becomes its text and its address in parentheses, so the only
//! links on the page stay the report's own (the check ids).

use maud::{Markup, PreEscaped};
use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

/// `text` read as Markdown, as HTML; a single paragraph comes without its
/// `<p>`, so it sits in a table cell or a list item like plain text.
pub(super) fn markdown(text: &str) -> Markup {
    let mut links: Vec<Option<CowStr<'_>>> = Vec::new();
    let events = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH).filter_map(|e| match e {
        Event::Html(s) | Event::InlineHtml(s) => Some(Event::Text(s)),
        Event::Start(Tag::HtmlBlock) => Some(Event::Start(Tag::Paragraph)),
        Event::End(TagEnd::HtmlBlock) => Some(Event::End(TagEnd::Paragraph)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            ..
        }) => {
            let bare = matches!(link_type, LinkType::Autolink | LinkType::Email);
            links.push((!bare).then_some(dest_url));
            None
        }
        Event::End(TagEnd::Link) => links
            .pop()
            .flatten()
            .map(|url| Event::Text(format!(" ({url})").into())),
        Event::Start(Tag::Heading { .. }) => Some(Event::Start(Tag::Paragraph)),
        Event::End(TagEnd::Heading(_)) => Some(Event::End(TagEnd::Paragraph)),
        other => Some(other),
    });
    let mut out = String::with_capacity(text.len() + 16);
    pulldown_cmark::html::push_html(&mut out, events);
    let inner = out
        .strip_prefix("<p>")
        .and_then(|s| s.strip_suffix("</p>\n"))
        .filter(|s| !s.contains("<p>"));
    PreEscaped(match inner {
        Some(s) => s.to_string(),
        None => out,
    })
}

#[cfg(test)]
mod tests {
    use super::markdown;

    fn md(s: &str) -> String {
        markdown(s).into_string()
    }

    #[test]
    fn code_spans_and_emphasis_render() {
        assert_eq!(
            md("Run `agentops-cockpit certify` **before** the deploy"),
            "Run <code>agentops-cockpit certify</code> <strong>before</strong> the deploy"
        );
    }

    #[test]
    fn raw_html_stays_text() {
        let out = md("server said <script>alert('x')</script> & <img src=x onerror=alert(1)>");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(
            out.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;img"),
            "{out}"
        );
        let block = md("<div onclick=\"x()\">\nhi\n</div>");
        assert!(!block.contains("<div"), "{block}");
        assert_eq!(block, "&lt;div onclick=\"x()\"&gt;\nhi\n&lt;/div&gt;");
    }

    #[test]
    fn images_and_links_fetch_and_link_nothing() {
        let out = md("see ![logo](http://evil.example/x.png) and [docs](javascript:alert(1))");
        assert!(!out.contains("src="), "{out}");
        assert!(!out.contains("href="), "{out}");
        assert_eq!(out, "see logo and docs (javascript:alert(1))");
        assert_eq!(md("<https://example.com>"), "https://example.com");
    }

    #[test]
    fn several_paragraphs_keep_their_tags() {
        assert_eq!(md("one\n\ntwo"), "<p>one</p>\n<p>two</p>\n");
    }
}
