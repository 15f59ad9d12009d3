//! CIC-IMAGE: every container image is pinned — by digest (`@sha256:…`) or
//! a tag other than `latest` — so what was certified is what runs.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status};

use super::join;
use crate::object::Workload;

pub const CIC_IMAGE: CheckSpec = CheckSpec {
    id: CheckId::new("CIC-IMAGE"),
    pillar: Pillar::Cicd,
    severity: Severity::High,
    title: "Images pinned (digest or tag)",
};

/// How an image reference is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Digest,
    Tag,
    Latest,
    Untagged,
}

/// `repo@sha256:…` → Digest; `repo:1.2` → Tag; `repo:latest` → Latest; `repo`,
/// `host:5000/repo` → Untagged.
pub fn pin_of(image: &str) -> Pin {
    if image.contains('@') {
        return Pin::Digest;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) => Pin::Latest,
        Some((_, t)) if !t.is_empty() => Pin::Tag,
        _ => Pin::Untagged,
    }
}

pub fn evaluate(w: &Workload) -> Finding {
    let spec = w.template.spec.as_ref();
    let all = spec
        .map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .into_iter()
        .flatten();
    let mut issues = Vec::new();
    let mut digests = 0;
    let mut n = 0;
    for c in all {
        n += 1;
        match c.image.as_deref() {
            None | Some("") => issues.push(format!("{}: no image", Workload::container_name(c))),
            Some(i) => match pin_of(i) {
                Pin::Digest => digests += 1,
                Pin::Tag => {}
                Pin::Latest => issues.push(format!(
                    "{}: `{i}` uses the mutable tag latest",
                    Workload::container_name(c)
                )),
                Pin::Untagged => issues.push(format!(
                    "{}: `{i}` has no tag (pulls latest)",
                    Workload::container_name(c)
                )),
            },
        }
    }
    let f = if issues.is_empty() {
        CIC_IMAGE.finding(
            Status::Pass,
            format!("{n} image(s) pinned ({digests} by digest)"),
        )
    } else {
        CIC_IMAGE
            .finding(Status::Fail, join(&issues))
            .with_recommendation(
                "Pin each image by digest (`image@sha256:…`) or an immutable version tag.",
            )
    };
    w.origin.locate_at(f, "image:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins() {
        assert_eq!(pin_of("gcr.io/p/agent@sha256:abc"), Pin::Digest);
        assert_eq!(pin_of("gcr.io/p/agent:1.4.2"), Pin::Tag);
        assert_eq!(pin_of("agent:latest"), Pin::Latest);
        assert_eq!(pin_of("registry:5000/agent"), Pin::Untagged);
        assert_eq!(pin_of("agent"), Pin::Untagged);
    }
}
