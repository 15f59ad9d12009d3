//! `INFO` text, parsed into fields. Pure: no I/O.

use std::collections::BTreeMap;

/// The fields of an `INFO` reply (`key:value` lines; section headers and
/// blank lines skipped). Several replies can be merged into one.
///
/// ```
/// use cockpit_stm::Info;
/// let info = Info::parse("# Persistence\r\naof_enabled:1\r\nrdb_last_bgsave_status:ok\r\n");
/// assert_eq!(info.get("aof_enabled"), Some("1"));
/// assert_eq!(info.get_i64("aof_enabled"), Some(1));
/// assert_eq!(info.get("missing"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    fields: BTreeMap<String, String>,
}

impl Info {
    /// Parse the text of one `INFO` reply.
    pub fn parse(text: &str) -> Info {
        let mut info = Info::default();
        info.extend(text);
        info
    }

    /// Add the fields of another reply (later values win).
    pub fn extend(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                self.fields.insert(k.to_string(), v.to_string());
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }

    /// The `slaveN:ip=…,port=…,state=online,…` entries of `INFO replication`,
    /// each as its `key=value` pairs.
    pub fn replicas(&self) -> Vec<BTreeMap<String, String>> {
        (0..)
            .map_while(|i| self.get(&format!("slave{i}")))
            .map(|v| {
                v.split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    /// Whether the reply had no field at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_parsed() {
        let i = Info::parse(
            "role:master\nconnected_slaves:2\nslave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\nslave1:ip=127.0.0.1,port=7002,state=wait_bgsave,offset=0,lag=1\n",
        );
        let r = i.replicas();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["state"], "online");
        assert_eq!(r[1]["port"], "7002");
        assert_eq!(i.get_u64("connected_slaves"), Some(2));
    }
}
