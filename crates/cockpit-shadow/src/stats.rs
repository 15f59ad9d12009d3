//! The statistics of a comparison, pure and deterministic.
//!
//! - [`quantile`]: linear interpolation between order statistics (R's and
//!   NumPy's default, "type 7").
//! - [`bootstrap_diff`]: a percentile bootstrap confidence interval for the
//!   difference of a quantile (v2 − v1): each side resampled with
//!   replacement, independently, `resamples` times, from a seeded
//!   SplitMix64 generator (the same seed gives the same interval on every
//!   platform and every build).
//! - [`mann_whitney`]: the Mann–Whitney U test, two-sided, by the normal
//!   approximation with the tie correction of the variance (no continuity
//!   correction), as in Hollander & Wolfe's large-sample form.
//! - [`fisher_greater`]: Fisher's exact test, one-sided, for "v2 fails more
//!   often than v1".
//! - [`jaccard`]: token-level similarity of two answers (whitespace tokens,
//!   as sets).
//!
//! ```
//! use cockpit_shadow::stats::mann_whitney;
//! // Hollander & Wolfe (1973), p. 69: permeability constants.
//! let x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
//! let y = [1.15, 0.88, 0.90, 0.74, 1.21];
//! let t = mann_whitney(&y, &x).unwrap();
//! assert_eq!(t.u, 35.0);
//! assert!((t.p_value - 0.2207).abs() < 1e-3);
//! ```

use serde::Serialize;

/// The `q`-quantile (0..=1) of `sorted` (ascending), by linear
/// interpolation; `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

pub use cockpit_core::rng::SplitMix64;

/// A confidence interval of a difference, and its point estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// v2 − v1 on the samples as measured.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    /// The confidence level (0.95 for a 95% interval).
    pub level: f64,
    pub resamples: u32,
}

impl Interval {
    /// The whole interval lies above zero (v2 higher).
    pub fn above_zero(&self) -> bool {
        self.low > 0.0
    }

    /// The whole interval lies below zero (v2 lower).
    pub fn below_zero(&self) -> bool {
        self.high < 0.0
    }
}

/// Percentile bootstrap of `quantile(v2, q) − quantile(v1, q)`: `None`
/// when a side is empty or `resamples` is 0.
pub fn bootstrap_diff(
    v1: &[f64],
    v2: &[f64],
    q: f64,
    resamples: u32,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    if v1.is_empty() || v2.is_empty() || resamples == 0 {
        return None;
    }
    let sorted = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    };
    let estimate = quantile(&sorted(v2), q)? - quantile(&sorted(v1), q)?;
    let mut rng = SplitMix64::new(seed);
    let (mut a, mut b) = (vec![0.0; v1.len()], vec![0.0; v2.len()]);
    let mut diffs = Vec::with_capacity(resamples as usize);
    for _ in 0..resamples {
        for x in a.iter_mut() {
            *x = v1[rng.below(v1.len())];
        }
        for x in b.iter_mut() {
            *x = v2[rng.below(v2.len())];
        }
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        diffs.push(quantile(&b, q)? - quantile(&a, q)?);
    }
    diffs.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some(Interval {
        estimate,
        low: quantile(&diffs, tail)?,
        high: quantile(&diffs, 1.0 - tail)?,
        level,
        resamples,
    })
}

/// The result of a Mann–Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of the second sample (`b`): how many (a, b) pairs have b > a,
    /// ties counting one half.
    pub u: f64,
    /// The standardised U (positive: `b` tends to be larger).
    pub z: f64,
    /// Two-sided p-value of the normal approximation.
    pub p_value: f64,
    pub n1: usize,
    pub n2: usize,
}

/// Mann–Whitney U of `b` against `a` (two-sided, normal approximation with
/// tie correction); `None` when a side is empty or every value is tied.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, false))
        .chain(b.iter().map(|&x| (x, true)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let (mut rank_sum_b, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let rank = (i + j + 2) as f64 / 2.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        rank_sum_b += rank * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let (f1, f2, nf) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_b - f2 * (f2 + 1.0) / 2.0;
    let mean = f1 * f2 / 2.0;
    let var = f1 * f2 / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)).max(1.0));
    if var <= 0.0 {
        return None;
    }
    let z = (u - mean) / var.sqrt();
    Some(MannWhitney {
        u,
        z,
        p_value: (2.0 * normal_upper(z.abs())).min(1.0),
        n1,
        n2,
    })
}

/// P(Z > z) for a standard normal Z.
pub fn normal_upper(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit,
/// fractional error below 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Fisher's exact test, one-sided: the probability of v2 seeing at least
/// `fail2` failures of `n2` when both sides fail alike, given the total
/// (the hypergeometric upper tail). 1.0 when there is nothing to compare.
pub fn fisher_greater(fail1: u64, n1: u64, fail2: u64, n2: u64) -> f64 {
    let (fail1, fail2) = (fail1.min(n1), fail2.min(n2));
    let k = fail1 + fail2;
    let n = n1 + n2;
    if n == 0 || k == 0 {
        return 1.0;
    }
    let ln_fact = |m: u64| (2..=m).map(|i| (i as f64).ln()).sum::<f64>();
    let ln_choose = |a: u64, b: u64| ln_fact(a) - ln_fact(b) - ln_fact(a - b);
    let total = ln_choose(n, k);
    let hi = k.min(n2);
    let p: f64 = (fail2..=hi)
        .filter(|&x| k - x <= n1)
        .map(|x| (ln_choose(n2, x) + ln_choose(n1, k - x) - total).exp())
        .sum();
    p.min(1.0)
}

/// Jaccard similarity of the sets of whitespace-separated tokens of two
/// texts: |A ∩ B| / |A ∪ B|, 1.0 for two empty texts.
pub fn jaccard(a: &str, b: &str) -> f64 {
    use std::collections::HashSet;
    let sa: HashSet<&str> = a.split_whitespace().collect();
    let sb: HashSet<&str> = b.split_whitespace().collect();
    let union = sa.union(&sb).count();
    if union == 0 {
        return 1.0;
    }
    sa.intersection(&sb).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert!((quantile(&v, 0.95).unwrap() - 3.85).abs() < 1e-12);
        assert_eq!(quantile(&[], 0.5), None);
    }

    /// R's `wilcox.test` example (Hollander & Wolfe 1973, p. 69):
    /// W = 35; the large-sample one-sided p without continuity correction
    /// is 0.1103, so the two-sided one is 0.2207.
    #[test]
    fn mann_whitney_matches_the_textbook_example() {
        let x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
        let y = [1.15, 0.88, 0.90, 0.74, 1.21];
        let t = mann_whitney(&y, &x).unwrap();
        assert_eq!(t.u, 35.0);
        assert!((t.z - 1.224_745).abs() < 1e-5, "{}", t.z);
        assert!((t.p_value / 2.0 - 0.1103).abs() < 5e-5, "{}", t.p_value);
        // Swapping the samples mirrors U and z, same p.
        let s = mann_whitney(&x, &y).unwrap();
        assert_eq!(s.u, 15.0);
        assert!((s.p_value - t.p_value).abs() < 1e-12);
    }

    /// Ties: a = [1, 2, 2, 3], b = [2, 3, 3, 4]. Ranks of the pooled eight:
    /// 1 → 1; 2 ×3 → 3; 3 ×3 → 6; 4 → 8. b's rank sum 3 + 6 + 6 + 8 = 23,
    /// U = 23 − 10 = 13, mean 8. Ties (3, 3): Σ(t³ − t) = 48, so
    /// var = 16/12 · (9 − 48/56) = 10.857…, z = 5 / 3.2950… = 1.5174…
    #[test]
    fn mann_whitney_corrects_the_variance_for_ties() {
        let t = mann_whitney(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 3.0, 4.0]).unwrap();
        assert_eq!(t.u, 13.0);
        let var: f64 = 16.0 / 12.0 * (9.0 - 48.0 / 56.0);
        assert!((t.z - 5.0 / var.sqrt()).abs() < 1e-12, "{}", t.z);
        assert!((t.p_value - 0.1292).abs() < 1e-3, "{}", t.p_value);
        assert!(mann_whitney(&[1.0, 1.0], &[1.0]).is_none());
        assert!(mann_whitney(&[], &[1.0]).is_none());
    }

    #[test]
    fn normal_tail_is_accurate() {
        assert!((normal_upper(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_upper(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_upper(-1.644_854) - 0.95).abs() < 1e-6);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_a_clear_shift() {
        let v1: Vec<f64> = (0..40).map(|i| 150.0 + f64::from(i % 7)).collect();
        let v2: Vec<f64> = (0..40).map(|i| 400.0 + f64::from(i % 5)).collect();
        let a = bootstrap_diff(&v1, &v2, 0.5, 1000, 0.95, 7).unwrap();
        let b = bootstrap_diff(&v1, &v2, 0.5, 1000, 0.95, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.above_zero() && a.low > 240.0 && a.high < 256.0, "{a:?}");
        let same = bootstrap_diff(&v1, &v1, 0.95, 1000, 0.95, 7).unwrap();
        assert!(!same.above_zero() && !same.below_zero(), "{same:?}");
        assert!(bootstrap_diff(&[], &v2, 0.5, 10, 0.95, 1).is_none());
    }

    /// 0 of 10 against 5 of 10: C(10,5)·C(10,0)/C(20,5) = 252/15504.
    #[test]
    fn fisher_exact_tail() {
        let p = fisher_greater(0, 10, 5, 10);
        assert!((p - 252.0 / 15504.0).abs() < 1e-12, "{p}");
        assert_eq!(fisher_greater(0, 10, 0, 10), 1.0);
        assert!(fisher_greater(5, 10, 0, 10) > 0.99);
        assert!((fisher_greater(0, 20, 1, 20) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn jaccard_over_whitespace_tokens() {
        assert_eq!(jaccard("a b c", "c  b a"), 1.0);
        assert_eq!(jaccard("a b", "c d"), 0.0);
        assert!((jaccard("a b c", "a b d") - 0.5).abs() < 1e-12);
        assert_eq!(jaccard("", " "), 1.0);
    }
}
