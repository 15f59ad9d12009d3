//! `--include` / `--exclude`: which checks a run keeps, by check id
//! (`CIC-IMAGE`) or pillar (`cicd`). A finding is kept when it matches an
//! include (or none is given) and no exclude.

use cockpit_core::{CheckId, Pillar, Report};

use crate::ScoreError;

/// One value of `--include` / `--exclude`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    Check(CheckId),
    Pillar(Pillar),
}

impl Selector {
    fn parse(flag: &'static str, value: &str, known: &[CheckId]) -> Result<Selector, ScoreError> {
        let v = value.trim();
        if let Some(p) = Pillar::ALL.into_iter().find(|p| {
            p.as_str().eq_ignore_ascii_case(v) || p.display_name().eq_ignore_ascii_case(v)
        }) {
            return Ok(Selector::Pillar(p));
        }
        known
            .iter()
            .find(|id| id.as_str().eq_ignore_ascii_case(v))
            .map(|id| Selector::Check(id.clone()))
            .ok_or_else(|| ScoreError::UnknownSelector {
                flag,
                value: value.to_string(),
            })
    }

    fn matches(&self, check: &CheckId, pillar: Pillar) -> bool {
        match self {
            Selector::Check(id) => id == check,
            Selector::Pillar(p) => *p == pillar,
        }
    }
}

/// The checks a run keeps.
///
/// ```
/// use cockpit_core::{CheckId, Pillar};
/// use cockpit_score::CheckSelection;
///
/// let known = [CheckId::new("CIC-IMAGE"), CheckId::new("NET-TTFT")];
/// let s = CheckSelection::parse(&[], &["cic-image".into()], &known).unwrap();
/// assert!(!s.keeps(&known[0], Pillar::Cicd));
/// assert!(s.keeps(&known[1], Pillar::Network));
/// let s = CheckSelection::parse(&["network".into()], &[], &known).unwrap();
/// assert!(!s.keeps(&known[0], Pillar::Cicd));
/// assert_eq!(s.left_out_pillars(&known_pillars()), vec![Pillar::Compute, Pillar::State, Pillar::Cicd, Pillar::Observability]);
/// assert!(CheckSelection::parse(&["NOPE-1".into()], &[], &known).is_err());
/// # fn known_pillars() -> Vec<(CheckId, Pillar)> {
/// #     vec![(CheckId::new("CIC-IMAGE"), Pillar::Cicd), (CheckId::new("NET-TTFT"), Pillar::Network)]
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckSelection {
    include: Vec<Selector>,
    exclude: Vec<Selector>,
}

impl CheckSelection {
    /// Parse `--include` and `--exclude` values: check ids of `known` or
    /// pillar names (case-insensitive); anything else is an error naming it.
    pub fn parse(
        include: &[String],
        exclude: &[String],
        known: &[CheckId],
    ) -> Result<CheckSelection, ScoreError> {
        let all = |flag, values: &[String]| {
            values
                .iter()
                .map(|v| Selector::parse(flag, v, known))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(CheckSelection {
            include: all("--include", include)?,
            exclude: all("--exclude", exclude)?,
        })
    }

    /// Nothing asked: every check is kept.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether a check of `pillar` is kept.
    pub fn keeps(&self, check: &CheckId, pillar: Pillar) -> bool {
        (self.include.is_empty() || self.include.iter().any(|s| s.matches(check, pillar)))
            && !self.exclude.iter().any(|s| s.matches(check, pillar))
    }

    /// The report with only the findings of the checks kept.
    pub fn apply(&self, report: &mut Report) {
        if self.is_empty() {
            return;
        }
        report
            .findings
            .retain(|f| self.keeps(&f.check_id, f.pillar));
        report.recount();
    }

    /// The pillars none of whose checks (`catalogue`: every check and its
    /// pillar) is kept: left out on purpose, so the gate does not call them
    /// unmeasured.
    pub fn left_out_pillars(&self, catalogue: &[(CheckId, Pillar)]) -> Vec<Pillar> {
        if self.is_empty() {
            return Vec::new();
        }
        Pillar::ALL
            .into_iter()
            .filter(|p| !catalogue.iter().any(|(id, q)| q == p && self.keeps(id, *p)))
            .collect()
    }
}
