//! Calendar dates (UTC) for waiver expiry: no time zone arithmetic needed.
//! The calendar is [`jiff`]'s; this type keeps the gate's spelling
//! (`YYYY-MM-DD`, years 0000–9999) and its serde forms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ScoreError;

/// A calendar date, `YYYY-MM-DD`, compared in UTC.
///
/// ```
/// use cockpit_score::Date;
/// let d: Date = "2026-06-30".parse().unwrap();
/// assert_eq!(d.to_string(), "2026-06-30");
/// assert!(d < "2026-07-01".parse().unwrap());
/// assert!("2026-02-30".parse::<Date>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(jiff::civil::Date);

impl Date {
    /// A date, if it exists in the proleptic Gregorian calendar (years 0–9999).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let year = i16::try_from(year)
            .ok()
            .filter(|y| (0..=9999).contains(y))?;
        let (month, day) = (i8::try_from(month).ok()?, i8::try_from(day).ok()?);
        jiff::civil::Date::new(year, month, day).ok().map(Date)
    }

    /// Today, in UTC.
    pub fn today() -> Date {
        Date(
            jiff::tz::TimeZone::UTC
                .to_datetime(jiff::Timestamp::now())
                .date(),
        )
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    }
}

impl FromStr for Date {
    type Err = ScoreError;

    /// `YYYY-MM-DD`; a TOML datetime such as `2026-06-30T00:00:00Z` is read
    /// by its date part.
    fn from_str(s: &str) -> Result<Date, ScoreError> {
        let bad = || ScoreError::Date(s.to_string());
        let t = s.trim();
        let date = t.get(..10).ok_or_else(bad)?;
        if t.len() > 10 && !matches!(t.as_bytes()[10], b'T' | b't' | b' ') {
            return Err(bad());
        }
        let mut parts = date.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let num = |p: &str| {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse::<u16>().map_err(|_| bad())
        };
        Date::new(num(y)? as i32, num(m)? as u8, num(d)? as u8).ok_or_else(bad)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    /// A string, or a TOML date (`expires = 2026-06-30`), which toml hands
    /// over as a one-entry map.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Date;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date, YYYY-MM-DD")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Date, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Date, A::Error> {
                let Some((_, v)) = map.next_entry::<String, String>()? else {
                    return Err(serde::de::Error::custom("empty date"));
                };
                v.parse().map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_years_and_spellings() {
        assert_eq!(Date::new(2000, 2, 29).unwrap().to_string(), "2000-02-29");
        assert_eq!(Date::new(7, 1, 2).unwrap().to_string(), "0007-01-02");
        assert!(Date::new(-1, 1, 1).is_none() && Date::new(10_000, 1, 1).is_none());
        assert!(Date::today() > Date::new(2025, 1, 1).unwrap());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2024, 2, 29).is_some());
        assert!("2024-13-01".parse::<Date>().is_err());
        assert!("24-01-01".parse::<Date>().is_err());
        assert_eq!(
            "2026-06-30T00:00:00Z".parse::<Date>().unwrap().to_string(),
            "2026-06-30"
        );
    }
}
