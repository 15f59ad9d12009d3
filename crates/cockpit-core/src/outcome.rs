//! What one pillar's audit hands back to whoever composes the pillars.

use crate::Finding;

/// The result of one pillar's audit: its findings, and how many of the
/// subjects it was asked to measure answered. Every pillar's audit entry
/// point returns this (the Compute pillar beside its placement), so a
/// caller adds pillars up with [`AuditOutcome::absorb`].
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct AuditOutcome {
    pub findings: Vec<Finding>,
    /// The run was cancelled before every check finished.
    pub interrupted: bool,
    /// Endpoints (servers, clusters) the configuration asked to measure.
    pub subjects: usize,
    /// Of those, how many answered at least once.
    pub reached: usize,
}

impl AuditOutcome {
    /// An outcome with these findings and no live subject.
    pub fn from_findings(findings: Vec<Finding>) -> Self {
        AuditOutcome {
            findings,
            ..AuditOutcome::default()
        }
    }

    /// Count one subject the audit tried to measure, and whether it answered.
    pub fn count_subject(&mut self, reached: bool) {
        self.subjects += 1;
        if reached {
            self.reached += 1;
        }
    }

    /// Add another pillar's outcome to this one.
    pub fn absorb(&mut self, other: AuditOutcome) {
        self.findings.extend(other.findings);
        self.interrupted |= other.interrupted;
        self.subjects += other.subjects;
        self.reached += other.reached;
    }

    /// Subjects were configured and none answered.
    pub fn nothing_reached(&self) -> bool {
        self.subjects > 0 && self.reached == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorb_adds_up_and_keeps_interrupted() {
        let mut a = AuditOutcome::default();
        a.count_subject(true);
        let mut b = AuditOutcome::default();
        b.count_subject(false);
        b.interrupted = true;
        a.absorb(b);
        assert_eq!((a.subjects, a.reached, a.interrupted), (2, 1, true));
        assert!(!a.nothing_reached());
        let mut c = AuditOutcome::default();
        c.count_subject(false);
        assert!(c.nothing_reached());
        assert!(!AuditOutcome::default().nothing_reached());
    }

    #[test]
    fn absorb_adds_the_reached_subjects_of_both() {
        let mut a = AuditOutcome::default();
        a.count_subject(true);
        let mut b = AuditOutcome::default();
        b.count_subject(true);
        b.count_subject(false);
        a.absorb(b);
        assert_eq!((a.subjects, a.reached, a.interrupted), (3, 2, false));
    }

    #[test]
    fn from_findings_keeps_them_with_no_subject() {
        let spec = crate::CheckSpec {
            id: crate::CheckId::new("TST-ONE"),
            pillar: crate::Pillar::State,
            severity: crate::Severity::Low,
            title: "one",
        };
        let o = AuditOutcome::from_findings(vec![spec.finding(crate::Status::Pass, "ok")]);
        assert_eq!(o.findings.len(), 1);
        assert_eq!(o.findings[0].check_id.as_str(), "TST-ONE");
        assert_eq!((o.subjects, o.reached, o.interrupted), (0, 0, false));
    }
}
