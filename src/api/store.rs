//! Where the API's objects live: in memory for reads and watches, written through to an embedded
//! SQLite database in the data directory (the embedded default k3s uses through kine), so a
//! restart of `wpod serve` loses nothing. `resourceVersion` is one counter across all objects and
//! restarts, as etcd's revision is.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, params};
use serde_json::Value;
use tokio::sync::broadcast;

/// A kind's plural resource name and the namespace and name of one object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

/// What a watcher sees: `ADDED`, `MODIFIED` or `DELETED`, with the object as it then was.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub type_: &'static str,
    pub key: ObjectKey,
    pub object: Value,
    pub rv: u64,
}

/// How many events a slow watcher may lag behind before it is told to start over (410 Gone).
const WATCH_BACKLOG: usize = 8192;

pub struct Store {
    db: Mutex<Connection>,
    state: Mutex<State>,
    events: broadcast::Sender<WatchEvent>,
}

struct State {
    rv: u64,
    objects: BTreeMap<ObjectKey, Value>,
    /// The latest events, for watches that start at an earlier resourceVersion.
    history: VecDeque<WatchEvent>,
}

/// How many past events a watch can start from; older is 410 Gone, as etcd's compaction makes it.
const HISTORY: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    #[error(
        "the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict,
    #[error("storage: {0:#}")]
    Storage(#[from] anyhow::Error),
}

impl Store {
    /// A store that lives as long as the process: `wpod run`'s control plane.
    pub fn in_memory() -> anyhow::Result<Self> {
        let db = Connection::open_in_memory().context("opening an in-memory database")?;
        Self::with(db, Path::new(":memory:"))
    }

    /// Opens (or creates) `dir/wpod.db` and loads every object.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("wpod.db");
        let db = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        Self::with(db, &path)
    }

    fn with(db: Connection, path: &Path) -> anyhow::Result<Self> {
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS objects (
                 resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                 body TEXT NOT NULL, PRIMARY KEY (resource, namespace, name));
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )
        .with_context(|| format!("setting up {}", path.display()))?;
        let rv: u64 = db
            .query_row("SELECT value FROM meta WHERE key = 'rv'", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .map_or(0, |v| u64::try_from(v).unwrap_or(0));
        let mut objects = BTreeMap::new();
        {
            let mut q = db.prepare("SELECT resource, namespace, name, body FROM objects")?;
            let rows = q.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for row in rows {
                let (resource, namespace, name, body) = row?;
                let value: Value = serde_json::from_str(&body).with_context(|| {
                    format!("a stored {resource} {namespace}/{name} is not JSON")
                })?;
                objects.insert(
                    ObjectKey {
                        resource,
                        namespace,
                        name,
                    },
                    value,
                );
            }
        }
        let (events, _) = broadcast::channel(WATCH_BACKLOG);
        Ok(Store {
            db: Mutex::new(db),
            state: Mutex::new(State {
                rv,
                objects,
                history: VecDeque::new(),
            }),
            events,
        })
    }

    /// A watch of `resource`: without `since`, every current object as ADDED, then what comes;
    /// with it, the events after it (Err with the current revision when they are no longer kept).
    pub fn watch_from(
        &self,
        resource: &str,
        since: Option<u64>,
    ) -> Result<(Vec<WatchEvent>, broadcast::Receiver<WatchEvent>), u64> {
        // Under the state lock, which every write holds while it sends: no event is missed or
        // sent twice between the backlog and the subscription.
        let state = self.lock();
        let events = self.events.subscribe();
        let backlog = match since {
            None => state
                .objects
                .iter()
                .filter(|(k, _)| k.resource == resource)
                .map(|(k, v)| WatchEvent {
                    type_: "ADDED",
                    key: k.clone(),
                    object: v.clone(),
                    rv: state.rv,
                })
                .collect(),
            Some(since) => {
                let oldest = state.history.front().map_or(state.rv + 1, |e| e.rv);
                if since + 1 < oldest && since < state.rv {
                    return Err(state.rv);
                }
                state
                    .history
                    .iter()
                    .filter(|e| e.rv > since)
                    .cloned()
                    .collect()
            }
        };
        Ok((backlog, events))
    }

    fn record(&self, state: &mut State, event: WatchEvent) {
        if state.history.len() == HISTORY {
            state.history.pop_front();
        }
        state.history.push_back(event.clone());
        let _ = self.events.send(event);
    }

    /// Every change from now on, as watches get them.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }

    /// The current resourceVersion (of the whole store).
    pub fn revision(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Value> {
        self.lock().objects.get(key).cloned()
    }

    /// The objects of `resource` (in `namespace`, or all namespaces), with the store's revision.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let state = self.lock();
        let items = state
            .objects
            .iter()
            .filter(|(k, _)| k.resource == resource && namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, v)| v.clone())
            .collect();
        (items, state.rv)
    }

    pub fn create(&self, key: ObjectKey, object: Value) -> Result<Value, StoreError> {
        self.write(key, object, |old| match old {
            Some(_) => Err(StoreError::AlreadyExists),
            None => Ok("ADDED"),
        })
    }

    /// Replaces an object; with `expected_rv`, only if it is still at that version.
    pub fn update(
        &self,
        key: ObjectKey,
        object: Value,
        expected_rv: Option<&str>,
    ) -> Result<Value, StoreError> {
        self.write(key, object, |old| {
            let Some(old) = old else {
                return Err(StoreError::NotFound);
            };
            match expected_rv {
                Some(rv) if rv != resource_version(old) => Err(StoreError::Conflict),
                _ => Ok("MODIFIED"),
            }
        })
    }

    pub fn delete(&self, key: &ObjectKey) -> Result<Value, StoreError> {
        let mut state = self.lock();
        let Some(mut object) = state.objects.remove(key) else {
            return Err(StoreError::NotFound);
        };
        let rv = state.rv + 1;
        let persisted = {
            let db = self.db();
            db.execute(
                "DELETE FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3",
                params![key.resource, key.namespace, key.name],
            )
            .and_then(|_| save_rv(&db, rv))
        };
        if let Err(e) = persisted {
            state.objects.insert(key.clone(), object);
            return Err(StoreError::Storage(
                anyhow::Error::from(e).context("deleting"),
            ));
        }
        state.rv = rv;
        set_resource_version(&mut object, rv);
        let event = WatchEvent {
            type_: "DELETED",
            key: key.clone(),
            object: object.clone(),
            rv,
        };
        self.record(&mut state, event);
        Ok(object)
    }

    fn write(
        &self,
        key: ObjectKey,
        mut object: Value,
        check: impl FnOnce(Option<&Value>) -> Result<&'static str, StoreError>,
    ) -> Result<Value, StoreError> {
        let mut state = self.lock();
        let type_ = check(state.objects.get(&key))?;
        let rv = state.rv + 1;
        set_resource_version(&mut object, rv);
        let body = serde_json::to_string(&object).map_err(anyhow::Error::from)?;
        {
            let db = self.db();
            db.execute(
                "INSERT INTO objects (resource, namespace, name, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (resource, namespace, name) DO UPDATE SET body = excluded.body",
                params![key.resource, key.namespace, key.name, body],
            )
            .and_then(|_| save_rv(&db, rv))
            .map_err(|e| anyhow::Error::from(e).context("writing"))?;
        }
        state.rv = rv;
        state.objects.insert(key.clone(), object.clone());
        let event = WatchEvent {
            type_,
            key,
            object: object.clone(),
            rv,
        };
        self.record(&mut state, event);
        Ok(object)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn save_rv(db: &Connection, rv: u64) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('rv', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![i64::try_from(rv).unwrap_or(i64::MAX)],
    )
    .map(|_| ())
}

pub fn resource_version(object: &Value) -> &str {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn set_resource_version(object: &mut Value, rv: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            resource: "pods".into(),
            namespace: "default".into(),
            name: name.into(),
        }
    }

    #[test]
    fn versions_are_one_counter_that_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("wpod-api-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        {
            let store = Store::open(&dir).expect("open");
            let a = store
                .create(key("a"), json!({"metadata": {"name": "a"}}))
                .expect("create");
            assert_eq!(resource_version(&a), "1");
            assert!(matches!(
                store.create(key("a"), json!({"metadata": {"name": "a"}})),
                Err(StoreError::AlreadyExists)
            ));
            store
                .create(key("b"), json!({"metadata": {"name": "b"}}))
                .expect("create");
            assert!(matches!(
                store.update(key("a"), json!({"metadata": {"name": "a"}}), Some("7")),
                Err(StoreError::Conflict)
            ));
            store
                .update(
                    key("a"),
                    json!({"metadata": {"name": "a"}, "x": 1}),
                    Some("1"),
                )
                .expect("update");
            store.delete(&key("b")).expect("delete");
        }
        let store = Store::open(&dir).expect("reopen");
        assert_eq!(store.revision(), 4);
        assert_eq!(
            store.get(&key("a")).and_then(|a| a.get("x").cloned()),
            Some(json!(1))
        );
        assert!(store.get(&key("b")).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
