//! The fake API server's object store: objects written by server-side
//! apply (PATCH `application/apply-patch+yaml`) kept by API path, returned
//! with `managedFields`, `dryRun=All` honoured (nothing stored), a 409 when
//! another field manager owns a field the apply sets to another value,
//! watches on a collection (`?watch=true`) streamed as JSON lines, and
//! Deployment status advanced on a schedule ([`RolloutPlan`]). Kinds other
//! than Deployments are stored as written; a kind that needs behaviour of
//! its own adds it in [`Store::after_write`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast;

/// When a Deployment written to the store becomes available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutPlan {
    /// Every replica updated and available this long after the write.
    AvailableAfter(Duration),
    /// Never: the replicas stay unavailable.
    Never,
}

/// A watch event on a collection path.
#[derive(Debug, Clone)]
pub(super) struct Change {
    pub collection: String,
    pub kind: &'static str,
    pub object: Value,
}

/// The objects and who owns which of their fields.
#[derive(Debug)]
pub(super) struct Store {
    objects: Mutex<BTreeMap<String, Stored>>,
    namespaces: Mutex<BTreeSet<String>>,
    resource_version: Mutex<u64>,
    changes: broadcast::Sender<Change>,
    rollout: RolloutPlan,
}

#[derive(Debug, Clone)]
struct Stored {
    object: Value,
    /// Field manager → the leaf paths it set.
    owners: BTreeMap<String, BTreeSet<String>>,
}

/// Why a write was refused.
pub(super) enum Refusal {
    NotFound(String),
    Conflict(String),
    BadRequest(String),
}

impl Store {
    pub fn new(
        namespaces: BTreeSet<String>,
        seeded: Vec<(String, String, Value)>,
        rollout: RolloutPlan,
    ) -> Self {
        let (changes, _) = broadcast::channel(256);
        let store = Store {
            objects: Mutex::new(BTreeMap::new()),
            namespaces: Mutex::new(namespaces),
            resource_version: Mutex::new(1),
            changes,
            rollout,
        };
        for (path, manager, object) in seeded {
            let owners = BTreeMap::from([(manager, leaves(&object))]);
            store
                .objects
                .lock()
                .expect("store lock")
                .insert(path, Stored { object, owners });
        }
        store
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        if let Some(ns) = path.strip_prefix("api/v1/namespaces/")
            && !ns.contains('/')
        {
            return self.namespaces.lock().expect("ns lock").contains(ns).then(
                || json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            );
        }
        self.objects
            .lock()
            .expect("store lock")
            .get(path)
            .map(|s| with_managed_fields(&s.object, &s.owners))
    }

    /// The objects directly under a collection path.
    pub fn list(&self, collection: &str) -> Vec<Value> {
        self.objects
            .lock()
            .expect("store lock")
            .iter()
            .filter(|(p, _)| p.rsplit_once('/').is_some_and(|(c, _)| c == collection))
            .map(|(_, s)| with_managed_fields(&s.object, &s.owners))
            .collect()
    }

    fn next_version(&self) -> u64 {
        let mut rv = self.resource_version.lock().expect("rv lock");
        *rv += 1;
        *rv
    }

    /// The latest resourceVersion handed out (a list's own version).
    pub fn version(&self) -> u64 {
        *self.resource_version.lock().expect("rv lock")
    }

    /// POST: store `object` at `path` (its name the last segment); 409 when
    /// it exists, 404 when its namespace does not.
    pub fn create(&self, path: &str, object: Value) -> Result<Value, Refusal> {
        if let Some(ns) = namespace_of(path)
            && !self.namespaces.lock().expect("ns lock").contains(&ns)
        {
            return Err(Refusal::NotFound(format!("namespaces \"{ns}\" not found")));
        }
        if self.objects.lock().expect("store lock").contains_key(path) {
            let name = path.rsplit('/').next().unwrap_or("");
            return Err(Refusal::Conflict(format!("\"{name}\" already exists")));
        }
        let mut object = object;
        self.defaults(&mut object, true, None);
        Ok(self.put(path, object))
    }

    /// Write `object` at `path` as the system would (a controller, the
    /// kubelet): a new resourceVersion, watchers told.
    pub fn put(&self, path: &str, mut object: Value) -> Value {
        object["metadata"]["resourceVersion"] = json!(self.next_version().to_string());
        let mut objects = self.objects.lock().expect("store lock");
        let created = !objects.contains_key(path);
        let owners = objects
            .get(path)
            .map(|s| s.owners.clone())
            .unwrap_or_default();
        objects.insert(
            path.to_string(),
            Stored {
                object: object.clone(),
                owners,
            },
        );
        drop(objects);
        self.notify(
            path,
            if created { "ADDED" } else { "MODIFIED" },
            object.clone(),
        );
        object
    }

    /// Change the stored object at `path` with `f` (nothing when it is gone).
    pub fn update(&self, path: &str, f: impl FnOnce(&mut Value)) {
        let Some(mut o) = self
            .objects
            .lock()
            .expect("store lock")
            .get(path)
            .map(|s| s.object.clone())
        else {
            return;
        };
        f(&mut o);
        self.put(path, o);
    }

    /// DELETE: remove the object at `path`, watchers told.
    pub fn remove(&self, path: &str) -> Option<Value> {
        let mut gone = self
            .objects
            .lock()
            .expect("store lock")
            .remove(path)?
            .object;
        gone["metadata"]["resourceVersion"] = json!(self.next_version().to_string());
        self.notify(path, "DELETED", gone.clone());
        Some(gone)
    }

    /// Server-side apply of `applied` at `path` by `manager`.
    pub fn apply(
        self: &Arc<Self>,
        path: &str,
        manager: &str,
        applied: Value,
        dry_run: bool,
        force: bool,
    ) -> Result<Value, Refusal> {
        if let Some(ns) = path.strip_prefix("api/v1/namespaces/")
            && !ns.contains('/')
        {
            if !dry_run {
                self.namespaces.lock().expect("ns lock").insert(ns.into());
            }
            return Ok(applied);
        }
        let ns = namespace_of(path);
        if let Some(ns) = &ns
            && !self.namespaces.lock().expect("ns lock").contains(ns)
        {
            return Err(Refusal::NotFound(format!("namespaces \"{ns}\" not found")));
        }
        if !applied.is_object() {
            return Err(Refusal::BadRequest(
                "the apply body is not an object".into(),
            ));
        }
        let mut objects = self.objects.lock().expect("store lock");
        let mut stored = objects.get(path).cloned().unwrap_or(Stored {
            object: Value::Null,
            owners: BTreeMap::new(),
        });
        let mine = leaves(&applied);
        if !force {
            conflicts(&stored, &applied, &mine, manager)?;
        }
        let created = stored.object.is_null();
        let old_spec = stored.object.get("spec").cloned();
        let mut merged = if created {
            json!({})
        } else {
            stored.object.clone()
        };
        merge(&mut merged, &applied);
        for (m, paths) in stored.owners.iter_mut() {
            if m != manager {
                paths.retain(|p| !mine.contains(p));
            }
        }
        stored.owners.insert(manager.to_string(), mine);
        self.defaults(&mut merged, created, old_spec);
        if dry_run {
            return Ok(with_managed_fields(&merged, &stored.owners));
        }
        merged["metadata"]["resourceVersion"] = json!(self.next_version().to_string());
        stored.object = merged.clone();
        objects.insert(path.to_string(), stored.clone());
        drop(objects);
        let out = with_managed_fields(&merged, &stored.owners);
        self.notify(
            path,
            if created { "ADDED" } else { "MODIFIED" },
            out.clone(),
        );
        self.after_write(path, &merged);
        Ok(out)
    }

    /// What the API server fills in: uid, creation time, generation (bumped
    /// when the spec changes), a Deployment's default replica count.
    fn defaults(&self, o: &mut Value, created: bool, old_spec: Option<Value>) {
        let meta = &mut o["metadata"];
        if created {
            meta["uid"] = json!(format!("uid-{}", self.next_version()));
            meta["creationTimestamp"] = json!("2026-11-27T12:00:00Z");
        }
        let generation = meta["generation"].as_i64().unwrap_or(0);
        if created || old_spec.as_ref() != o.get("spec") {
            o["metadata"]["generation"] = json!(generation + 1);
        }
        if o["kind"] == "Deployment" && o["spec"]["replicas"].is_null() {
            o["spec"]["replicas"] = json!(1);
        }
    }

    fn notify(&self, path: &str, kind: &'static str, object: Value) {
        let collection = path.rsplit_once('/').map_or("", |(c, _)| c).to_string();
        let _ = self.changes.send(Change {
            collection,
            kind,
            object,
        });
    }

    /// Behaviour of a kind after a write: a Deployment's status shows the
    /// new generation observed with nothing available yet, then (per the
    /// [`RolloutPlan`]) every replica updated and available.
    fn after_write(self: &Arc<Self>, path: &str, o: &Value) {
        if o["kind"] != "Deployment" {
            return;
        }
        let replicas = o["spec"]["replicas"].as_i64().unwrap_or(1);
        let generation = o["metadata"]["generation"].clone();
        self.set_status(
            path,
            json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "availableReplicas": 0, "unavailableReplicas": replicas}),
        );
        if let RolloutPlan::AvailableAfter(delay) = self.rollout {
            let store = self.clone();
            let path = path.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                store.set_status(
                    &path,
                    json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}),
                );
            });
        }
    }

    fn set_status(&self, path: &str, status: Value) {
        let mut objects = self.objects.lock().expect("store lock");
        let Some(s) = objects.get_mut(path) else {
            return;
        };
        s.object["status"] = status;
        s.object["metadata"]["resourceVersion"] = json!(self.next_version().to_string());
        let out = with_managed_fields(&s.object, &s.owners);
        drop(objects);
        self.notify(path, "MODIFIED", out);
    }
}

/// `…/namespaces/NS/…` → NS.
pub(super) fn namespace_of(path: &str) -> Option<String> {
    let rest = path.split("/namespaces/").nth(1)?;
    let (ns, tail) = rest.split_once('/')?;
    (!tail.is_empty()).then(|| ns.to_string())
}

/// A field the apply sets to a value other than the live one, owned by
/// another manager: 409, naming the manager and the field, as the API
/// server does.
fn conflicts(
    stored: &Stored,
    applied: &Value,
    mine: &BTreeSet<String>,
    manager: &str,
) -> Result<(), Refusal> {
    let mut found = Vec::new();
    for (other, paths) in &stored.owners {
        if other == manager {
            continue;
        }
        for p in paths.intersection(mine) {
            if stored.object.pointer(p) != applied.pointer(p) {
                found.push(format!(
                    "conflict with \"{other}\": .{}",
                    p.trim_start_matches('/').replace('/', ".")
                ));
            }
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Conflict(format!(
            "Apply failed with {} conflict(s): {}",
            found.len(),
            found.join(", ")
        )))
    }
}

/// Leaf paths of the object, except the identity fields every apply names.
fn leaves(v: &Value) -> BTreeSet<String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| walk(&format!("{prefix}/{}", k.replace('/', "~1")), v, out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(&format!("{prefix}/{i}"), v, out)),
            _ => {
                out.insert(prefix.to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk("", v, &mut out);
    for id in [
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
    ] {
        out.remove(id);
    }
    out
}

/// Objects merged key by key; arrays and scalars replaced.
fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The object with `metadata.managedFields`: one `Apply` entry per manager,
/// its fields in the API server's `fieldsV1` shape (`f:` keys; array items
/// as `i:N`, simpler than the server's `k:` keys).
fn with_managed_fields(o: &Value, owners: &BTreeMap<String, BTreeSet<String>>) -> Value {
    let mut o = o.clone();
    let entries: Vec<Value> = owners
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(m, paths)| {
            let mut fields = json!({});
            for p in paths {
                let mut at = &mut fields;
                for seg in p.trim_start_matches('/').split('/') {
                    let key = if seg.chars().all(|c| c.is_ascii_digit()) {
                        format!("i:{seg}")
                    } else {
                        format!("f:{}", seg.replace("~1", "/"))
                    };
                    at = at
                        .as_object_mut()
                        .expect("fieldsV1 is built of objects")
                        .entry(key)
                        .or_insert_with(|| json!({}));
                }
            }
            json!({"manager": m, "operation": "Apply", "apiVersion": o["apiVersion"], "fieldsType": "FieldsV1", "fieldsV1": fields})
        })
        .collect();
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("managedFields".into(), Value::Array(entries));
    }
    o
}
