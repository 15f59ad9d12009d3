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

const SAVED_METHOD: &str = "INFO persistence rdb_saves (Redis 7+); before Redis 7, a completed BGSAVE or an rdb_last_save_time after the server's start (server time minus INFO server uptime_in_seconds)";

/// Seconds by which a save time may follow the server's start and still be
/// the start itself (Redis sets `rdb_last_save_time` to the start time, and
/// the start is computed from whole seconds read a moment apart).
const START_SLACK_S: i64 = 2;

/// Whether a snapshot reached disk since the server started: `Some(false)`
/// means never saved, and `rdb_last_save_time` is then the start time, not
/// a save. None when INFO does not tell.
pub fn saved_since_start(info: &Info, server_now_s: Option<i64>) -> Option<bool> {
    // Redis 7+: successful SAVE / BGSAVE (and replication snapshots) since start.
    if let Some(n) = info.get_i64("rdb_saves") {
        return Some(n > 0);
    }
    if info.get_i64("rdb_last_bgsave_time_sec").unwrap_or(-1) >= 0
        && info.get("rdb_last_bgsave_status") == Some("ok")
    {
        return Some(true);
    }
    // A foreground SAVE moves the save time past the start.
    let last = info.get_i64("rdb_last_save_time")?;
    let now = info
        .get_i64("server_time_usec")
        .map(|us| us / 1_000_000)
        .or(server_now_s)?;
    let start = now - info.get_i64("uptime_in_seconds")?;
    Some(last > start + START_SLACK_S)
}

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
    /// Whether a snapshot was taken since the server started.
    saved: Option<bool>,
    /// Seconds since the last snapshot, by the server's clock (only when
    /// one was taken since the start).
    age: Option<i64>,
    /// Seconds since the server started.
    uptime: Option<i64>,
    /// Keys loaded from disk when the server started.
    loaded_keys: Option<i64>,
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
        let saved = saved_since_start(info, server_now_s);
        let last_save = info.get_i64("rdb_last_save_time");
        let age = match (server_now_s, last_save, saved) {
            (Some(now), Some(t), Some(true)) if t > 0 => Some((now - t).max(0)),
            _ => None,
        };
        let window = match save {
            Ok(Some(s)) => save_window_s(s),
            _ => None,
        };
        // Whether RDB snapshots are configured: from CONFIG GET save, else
        // from evidence of a snapshot since start.
        let rdb_configured = match save {
            Ok(Some(_)) => Some(window.is_some()),
            _ => (saved == Some(true)).then_some(true),
        };
        Some(Evidence {
            aof,
            aof_write: info.get("aof_last_write_status").unwrap_or("unknown"),
            bgsave: info.get("rdb_last_bgsave_status").unwrap_or("unknown"),
            changes: info.get_i64("rdb_changes_since_last_save"),
            saved,
            age,
            uptime: info.get_i64("uptime_in_seconds"),
            loaded_keys: info.get_i64("rdb_last_load_keys_loaded"),
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
                self.saved.map(|s| s as u8 as f64),
                "rdb_saved_since_start",
                Unit::Bool,
                SAVED_METHOD,
            ),
            (
                // Never saved and no AOF: the writes at risk go back to the start.
                self.uptime
                    .filter(|_| self.saved == Some(false) && !self.aof)
                    .map(|u| u as f64),
                "unsaved_since_start",
                Unit::Seconds,
                "INFO server uptime_in_seconds, no snapshot taken since the start",
            ),
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
        match (self.saved, self.age) {
            (Some(false), _) => parts.push(self.never_saved()),
            (_, Some(a)) => parts.push(format!("last snapshot {a} s ago")),
            _ => {}
        }
        if let Some(c) = self.changes {
            parts.push(format!("{c} changes not yet saved"));
        }
        parts.join(", ")
    }

    /// "never saved since the server started …", with what was loaded.
    fn never_saved(&self) -> String {
        let mut t = "never saved since the server started".to_string();
        if let Some(u) = self.uptime {
            t.push_str(&format!(" {u} s ago"));
        }
        if let Some(k) = self.loaded_keys.filter(|k| *k > 0) {
            t.push_str(&format!(
                " (the {k} keys it loaded at start are on disk; nothing written since is)"
            ));
        }
        t
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
                "RDB snapshots only (AOF off): sessions not yet in a snapshot are lost on a restart; {}",
                ev.rdb_detail()
            );
            f.with_recommendation("Turn on AOF (appendonly yes, appendfsync everysec) — on Memorystore, enable AOF persistence — so a restart loses at most about a second of session writes.")
        }
        Some(false) => {
            f.status = Status::Fail;
            f.summary = match (ev.saved, ev.age) {
                (Some(false), _) => format!(
                    "no persistence: AOF is off, there is no RDB save point (CONFIG GET save is empty), and the store has {}: the data-loss window is unbounded — every session written since the start is lost on a restart, and no save point will ever take a snapshot",
                    ev.never_saved()
                ),
                (_, Some(a)) => format!(
                    "no persistence: AOF is off and there is no RDB save point (CONFIG GET save is empty); the last snapshot, taken by hand {a} s ago, is all a restart brings back: every session written since is lost, and no save point will take another"
                ),
                _ => "no persistence: AOF is off and there is no RDB save point (CONFIG GET save is empty): every session is lost when the server restarts".into(),
            };
            f.with_recommendation("Turn on AOF (appendonly yes, appendfsync everysec), or at least RDB snapshots; on Memorystore, enable persistence (AOF) on the instance.")
        }
        None => {
            let why = match save {
                Err(e) => format!("CONFIG GET save refused ({e})"),
                _ => "CONFIG GET save returned nothing".into(),
            };
            let snapshots = match ev.saved {
                Some(false) => format!("the store has {}", ev.never_saved()),
                _ => "INFO does not tell whether a snapshot was taken since the server started"
                    .into(),
            };
            let mut nm = not_measured(
                &STA_PERSIST,
                url,
                format!(
                    "AOF is off, and whether RDB snapshots are configured cannot be read: {why}, and {snapshots}"
                ),
            );
            nm.measurements = f.measurements;
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
            "aof_enabled:{aof}\naof_last_write_status:{aof_write}\nrdb_last_bgsave_status:{bgsave}\nrdb_last_bgsave_time_sec:{bgsave_time}\nrdb_last_save_time:1000\nrdb_changes_since_last_save:7\nuptime_in_seconds:500\n"
        ))
    }

    /// A Redis 7 server started at 1000 that took `saves` snapshots, the
    /// last at `last`.
    fn info7(saves: i64, last: i64) -> Info {
        Info::parse(&format!(
            "aof_enabled:0\naof_last_write_status:ok\nrdb_last_bgsave_status:ok\nrdb_last_bgsave_time_sec:-1\nrdb_saves:{saves}\nrdb_last_save_time:{last}\nrdb_changes_since_last_save:3\nuptime_in_seconds:100\nrdb_last_load_keys_loaded:0\n"
        ))
    }

    #[test]
    fn never_saved_is_told_apart_from_a_save() {
        let none = Ok(Some(String::new()));
        // The save time is the start: never saved, the window unbounded.
        let f = evaluate(URL, &info7(0, 1000), &none, Some(1100));
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("never saved"), "{}", f.summary);
        assert!(f.summary.contains("unbounded"), "{}", f.summary);
        assert!(f.measurement("rdb_last_save_age").is_none(), "{f:#?}");
        assert_eq!(f.measurement("rdb_saved_since_start").unwrap().value, 0.0);
        assert_eq!(f.measurement("unsaved_since_start").unwrap().value, 100.0);
        // A snapshot by hand: its age, and no claim of "never".
        let f = evaluate(URL, &info7(1, 1090), &none, Some(1100));
        assert_eq!(f.status, Status::Fail);
        assert!(!f.summary.contains("never saved"), "{}", f.summary);
        assert!(f.summary.contains("by hand 10 s ago"), "{}", f.summary);
        assert_eq!(f.measurement("rdb_last_save_age").unwrap().value, 10.0);
        assert!(f.measurement("unsaved_since_start").is_none());
        // RDB configured but no snapshot yet: a warning that says so.
        let rdb = Ok(Some("3600 1".to_string()));
        let f = evaluate(URL, &info7(0, 1000), &rdb, Some(1100));
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("never saved"), "{}", f.summary);
        assert!(f.measurement("rdb_last_save_age").is_none());
        // AOF on: never saved by RDB puts nothing at risk.
        let mut aof = info7(0, 1000);
        aof.extend("aof_enabled:1\n");
        let f = evaluate(URL, &aof, &none, Some(1100));
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(f.measurement("unsaved_since_start").is_none(), "{f:#?}");
        // CONFIG refused and never saved: still not measured, but says so.
        let refused = Err("ERR unknown command 'CONFIG'".to_string());
        let f = evaluate(URL, &info7(0, 1000), &refused, Some(1100));
        assert_eq!(f.status, Status::NotMeasured);
        assert!(f.summary.contains("never saved"), "{}", f.summary);
    }

    #[test]
    fn before_redis_7_the_save_time_is_compared_with_the_start() {
        let pre7 = |extra: &str| {
            Info::parse(&format!(
                "rdb_last_bgsave_status:ok\nrdb_last_save_time:1000\nuptime_in_seconds:100\n{extra}"
            ))
        };
        let saved = |i: &Info, now| saved_since_start(i, now);
        // Started at 1000 (1100 - 100): the save time is the start.
        let i = pre7("rdb_last_bgsave_time_sec:-1\n");
        assert_eq!(saved(&i, Some(1100)), Some(false));
        assert_eq!(saved(&i, Some(1102)), Some(false));
        // Started at 900: a SAVE at 1000.
        assert_eq!(saved(&i, Some(1000)), Some(true));
        // A completed BGSAVE.
        assert_eq!(
            saved(&pre7("rdb_last_bgsave_time_sec:0\n"), Some(1100)),
            Some(true)
        );
        // No clock: cannot tell.
        assert_eq!(saved(&i, None), None);
        // INFO's own clock wins over TIME's.
        let i = pre7("rdb_last_bgsave_time_sec:-1\nserver_time_usec:1100000000\n");
        assert_eq!(saved(&i, Some(5000)), Some(false));
        // Redis 7's count wins over everything.
        let i = pre7("rdb_last_bgsave_time_sec:0\nrdb_saves:0\n");
        assert_eq!(saved(&i, Some(5000)), Some(false));
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
