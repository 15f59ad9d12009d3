//! STA-PERSIST: the store writes sessions to disk (AOF, or at least RDB).

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::{not_measured, on};
use crate::Info;

pub const STA_PERSIST: CheckSpec = CheckSpec {
    id: CheckId::new("STA-PERSIST"),
    pillar: Pillar::State,
    severity: Severity::Critical,
    title: "Session store persistence (AOF / RDB)",
};

const INFO_METHOD: &str = "INFO persistence";

/// The save point a single write waits for: of `CONFIG GET save`'s
/// `seconds changes` pairs, the seconds of the one with the fewest changes
/// (ties: the shortest). None when there is no save point.
pub fn save_window_s(save: &str) -> Option<u64> {
    let nums: Vec<u64> = save
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    nums.chunks_exact(2)
        .map(|p| (p[1], p[0]))
        .min()
        .map(|(_, secs)| secs)
}

/// What `INFO persistence`, `CONFIG GET save` and `TIME` tell.
struct Evidence<'a> {
    aof: bool,
    aof_write: &'a str,
    bgsave: &'a str,
    changes: Option<i64>,
    /// Seconds since the last snapshot, by the server's clock.
    age: Option<i64>,
    /// The save point a single write waits for, seconds.
    window: Option<u64>,
    /// Whether RDB snapshots are configured (None: cannot be told).
    rdb_configured: Option<bool>,
}

impl<'a> Evidence<'a> {
    /// None when INFO does not say whether AOF is on.
    fn read(
        info: &'a Info,
        save: &Result<Option<String>, String>,
        server_now_s: Option<i64>,
    ) -> Option<Evidence<'a>> {
        let aof = info.get_i64("aof_enabled")? == 1;
        let last_save = info.get_i64("rdb_last_save_time");
        let age = match (server_now_s, last_save) {
            (Some(now), Some(t)) if t > 0 => Some((now - t).max(0)),
            _ => None,
        };
        let window = match save {
            Ok(Some(s)) => save_window_s(s),
            _ => None,
        };
        // Whether RDB snapshots are configured: from CONFIG GET save, else
        // from evidence of a background save since start.
        let rdb_configured = match save {
            Ok(Some(_)) => Some(window.is_some()),
            _ => {
                let saved = info.get_i64("rdb_last_bgsave_time_sec").unwrap_or(-1) >= 0
                    || info.get_i64("rdb_saves").unwrap_or(0) > 0;
                saved.then_some(true)
            }
        };
        Some(Evidence {
            aof,
            aof_write: info.get("aof_last_write_status").unwrap_or("unknown"),
            bgsave: info.get("rdb_last_bgsave_status").unwrap_or("unknown"),
            changes: info.get_i64("rdb_changes_since_last_save"),
            age,
            window,
            rdb_configured,
        })
    }

    /// The finding's measurements, status still to be judged.
    fn measured(&self, url: &str) -> Finding {
        let mut f =
            on(&STA_PERSIST, url, Status::Pass, String::new()).with_measurement(Measurement::new(
                "aof_enabled",
                self.aof as u8 as f64,
                Unit::Bool,
                INFO_METHOD,
                1,
            ));
        let optional = [
            (
                self.changes.map(|c| c as f64),
                "rdb_changes_since_last_save",
                Unit::Count,
                INFO_METHOD,
            ),
            (
                self.age.map(|a| a as f64),
                "rdb_last_save_age",
                Unit::Seconds,
                "server TIME minus INFO persistence rdb_last_save_time",
            ),
            (
                self.window.map(|w| w as f64),
                "rdb_save_window",
                Unit::Seconds,
                "CONFIG GET save: seconds of the save point a single write waits for",
            ),
        ];
        for (value, name, unit, method) in optional {
            if let Some(v) = value {
                f = f.with_measurement(Measurement::new(name, v, unit, method, 1));
            }
        }
        f
    }

    /// What an RDB-only store risks, in words.
    fn rdb_detail(&self) -> String {
        let mut parts = Vec::new();
        if let Some(w) = self.window {
            parts.push(format!(
                "a single write waits up to {w} s for a snapshot (save config)"
            ));
        }
        if let Some(a) = self.age {
            parts.push(format!("last snapshot {a} s ago"));
        }
        if let Some(c) = self.changes {
            parts.push(format!("{c} changes not yet saved"));
        }
        parts.join(", ")
    }
}

/// `info`: `INFO persistence`; `save`: `CONFIG GET save` (`Ok(Some(""))` no
/// save point, `Err(why)` refused); `server_now_s`: the server's `TIME`.
pub fn evaluate(
    url: &str,
    info: &Info,
    save: &Result<Option<String>, String>,
    server_now_s: Option<i64>,
) -> Finding {
    let Some(ev) = Evidence::read(info, save, server_now_s) else {
        return not_measured(
            &STA_PERSIST,
            url,
            "INFO persistence did not report aof_enabled",
        );
    };
    let f = ev.measured(url);
    if ev.aof {
        judge_aof(f, &ev)
    } else {
        judge_rdb_only(f, &ev, url, save)
    }
}

fn judge_aof(mut f: Finding, ev: &Evidence) -> Finding {
    if ev.aof_write == "err" {
        f.status = Status::Fail;
        f.summary = "AOF is on but its last write failed (aof_last_write_status:err): new session writes are not reaching disk".into();
        return f.with_recommendation("Check the server's disk (space, permissions, I/O errors) in its log; until the AOF writes again, a restart loses every session written since the failure.");
    }
    if ev.rdb_configured == Some(true) && ev.bgsave == "err" {
        f.status = Status::Warn;
        f.summary = "AOF is on (aof_last_write_status:ok), but the last RDB snapshot failed (rdb_last_bgsave_status:err)".into();
        return f.with_recommendation("Check the server's disk and memory (fork) in its log.");
    }
    f.summary = format!(
        "AOF is on and its last write succeeded (aof_last_write_status:{}): sessions are appended to disk as they are written",
        ev.aof_write
    );
    f
}

fn judge_rdb_only(
    mut f: Finding,
    ev: &Evidence,
    url: &str,
    save: &Result<Option<String>, String>,
) -> Finding {
    match ev.rdb_configured {
        Some(true) if ev.bgsave == "err" => {
            f.status = Status::Fail;
            f.summary = format!(
                "RDB snapshots only, and the last one failed (rdb_last_bgsave_status:err): {}",
                ev.rdb_detail()
            );
            f.with_recommendation("Fix the snapshot (disk space, fork memory: see the server log), then turn on AOF (appendonly yes, appendfsync everysec).")
        }
        Some(true) => {
            f.status = Status::Warn;
            f.summary = format!(
                "RDB snapshots only (AOF off): sessions written since the last snapshot are lost on a restart; {}",
                ev.rdb_detail()
            );
            f.with_recommendation("Turn on AOF (appendonly yes, appendfsync everysec) — on Memorystore, enable AOF persistence — so a restart loses at most about a second of session writes.")
        }
        Some(false) => {
            f.status = Status::Fail;
            f.summary = "no persistence: AOF is off and there is no RDB save point (CONFIG GET save is empty): every session is lost when the server restarts".into();
            f.with_recommendation("Turn on AOF (appendonly yes, appendfsync everysec), or at least RDB snapshots; on Memorystore, enable persistence (AOF) on the instance.")
        }
        None => {
            let why = match save {
                Err(e) => format!("CONFIG GET save refused ({e})"),
                _ => "CONFIG GET save returned nothing".into(),
            };
            let mut nm = not_measured(
                &STA_PERSIST,
                url,
                format!(
                    "AOF is off, and whether RDB snapshots are configured cannot be read: {why}, and no snapshot was taken since the server started"
                ),
            );
            nm.measurements = vec![Measurement::new(
                "aof_enabled",
                0.0,
                Unit::Bool,
                INFO_METHOD,
                1,
            )];
            nm
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "redis://127.0.0.1:6379";

    fn info(aof: u8, aof_write: &str, bgsave: &str, bgsave_time: i64) -> Info {
        Info::parse(&format!(
            "aof_enabled:{aof}\naof_last_write_status:{aof_write}\nrdb_last_bgsave_status:{bgsave}\nrdb_last_bgsave_time_sec:{bgsave_time}\nrdb_last_save_time:1000\nrdb_changes_since_last_save:7\n"
        ))
    }

    #[test]
    fn save_window_is_the_point_a_single_write_waits_for() {
        assert_eq!(save_window_s("3600 1 300 100 60 10000"), Some(3600));
        assert_eq!(save_window_s("900 1 60 1"), Some(60));
        assert_eq!(save_window_s(""), None);
    }

    #[test]
    fn verdicts() {
        let save = |s: &str| Ok(Some(s.to_string()));
        let f = evaluate(URL, &info(1, "ok", "ok", -1), &save(""), Some(1100));
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        let f = evaluate(URL, &info(1, "err", "ok", -1), &save(""), Some(1100));
        assert_eq!(f.status, Status::Fail);
        let f = evaluate(URL, &info(0, "ok", "ok", -1), &save(""), Some(1100));
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("no persistence"), "{}", f.summary);
        let f = evaluate(
            URL,
            &info(0, "ok", "ok", -1),
            &save("3600 1 60 100"),
            Some(1100),
        );
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.measurement("rdb_save_window").unwrap().value, 3600.0);
        assert_eq!(f.measurement("rdb_last_save_age").unwrap().value, 100.0);
        assert!(f.summary.contains("3600 s"), "{}", f.summary);
        let f = evaluate(URL, &info(0, "ok", "err", 5), &save("60 1"), None);
        assert_eq!(f.status, Status::Fail);
        // CONFIG refused: a past snapshot is evidence of RDB; none is unknown.
        let refused = Err("ERR unknown command 'CONFIG'".to_string());
        assert_eq!(
            evaluate(URL, &info(0, "ok", "ok", 3), &refused, None).status,
            Status::Warn
        );
        let f = evaluate(URL, &info(0, "ok", "ok", -1), &refused, None);
        assert_eq!(f.status, Status::NotMeasured);
        assert!(
            f.summary.contains("CONFIG GET save refused"),
            "{}",
            f.summary
        );
        assert_eq!(
            evaluate(URL, &Info::default(), &refused, None).status,
            Status::NotMeasured
        );
    }
}
