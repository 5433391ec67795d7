//! Container logs for `kubectl logs`: each container's lines kept in memory up to the kubelet's
//! default rotation size (10 MiB), oldest dropped first, with their times; `-f` follows new lines.
//! As the kubelet keeps the log of a container's previous instance, so does this (`--previous`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;

use crate::runtime::{LogSink, Stream};

/// The kubelet's containerLogMaxSize default.
const MAX_BYTES: usize = 10 * 1024 * 1024;

type Key = (String, String, String);

#[derive(Default)]
struct Lines {
    lines: VecDeque<(u64, Timestamp, String)>,
    bytes: usize,
    /// The instance has ended: no more lines come.
    ended: bool,
}

/// One container's logs: its current instance's and the one before.
#[derive(Default)]
struct Runs {
    current: Lines,
    previous: Option<Lines>,
    instances: u32,
}

/// Which instance of a container `kubectl logs` asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    Current,
    Previous,
}

/// Every container's recent output, by namespace, pod and container.
pub struct LogStore {
    logs: Mutex<BTreeMap<Key, Runs>>,
    /// The number of the last line taken, so followers know when to look again.
    seq: watch::Sender<u64>,
}

impl Default for LogStore {
    fn default() -> Self {
        LogStore {
            logs: Mutex::new(BTreeMap::new()),
            seq: watch::channel(0).0,
        }
    }
}

impl LogStore {
    fn push(&self, key: Key, line: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let seq = *self.seq.borrow() + 1;
        let entry = &mut logs.entry(key).or_default().current;
        entry.bytes += line.len() + 1;
        entry
            .lines
            .push_back((seq, precise_now(), line.to_string()));
        while entry.bytes > MAX_BYTES {
            match entry.lines.pop_front() {
                Some((_, _, l)) => entry.bytes -= l.len() + 1,
                None => break,
            }
        }
        self.seq.send_replace(seq);
    }

    /// A new instance of the container begins: the current log becomes the previous one.
    fn began(&self, key: Key) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let runs = logs.entry(key).or_default();
        if runs.instances > 0 {
            runs.previous = Some(std::mem::take(&mut runs.current));
        }
        runs.instances += 1;
    }

    /// Its instance has ended; followers look once more and stop.
    fn ended(&self, key: &Key) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(runs) = logs.get_mut(key) {
            runs.current.ended = true;
        }
        drop(logs);
        self.seq.send_modify(|_| {});
    }

    /// Which instance of the container is current (counted from 1) and whether it has ended;
    /// None before its first instance, or once its pod's logs are forgotten.
    pub fn instance(&self, key: &Key) -> Option<(u32, bool)> {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.get(key).map(|r| (r.instances, r.current.ended))
    }

    /// The lines of `instance` after `after` (their numbers, times and text); the last `tail`
    /// when given. None when there is no such instance (no previous one yet).
    pub fn lines(
        &self,
        key: &Key,
        instance: Instance,
        after: u64,
        since: Option<Timestamp>,
        tail: Option<usize>,
    ) -> Option<Vec<(u64, Timestamp, String)>> {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let Some(runs) = logs.get(key) else {
            return (instance == Instance::Current).then(Vec::new);
        };
        let entry = match instance {
            Instance::Current => &runs.current,
            Instance::Previous => runs.previous.as_ref()?,
        };
        let all: Vec<_> = entry
            .lines
            .iter()
            .filter(|(s, at, _)| *s > after && since.is_none_or(|t| *at >= t))
            .cloned()
            .collect();
        Some(match tail {
            Some(n) if n < all.len() => all[all.len() - n..].to_vec(),
            _ => all,
        })
    }

    /// Drops a deleted pod's logs, so a new pod of the same name starts with none (and its
    /// followers stop).
    pub fn forget(&self, namespace: &str, pod: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.retain(|(ns, name, _), _| !(ns == namespace && name == pod));
        drop(logs);
        self.seq.send_modify(|_| {});
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.seq.subscribe()
    }

    /// A sink for one pod's containers that keeps their lines here and passes them on.
    pub fn sink(
        self: &Arc<Self>,
        namespace: &str,
        pod: &str,
        inner: Arc<dyn LogSink>,
    ) -> Arc<dyn LogSink> {
        Arc::new(Tee {
            store: Arc::clone(self),
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            inner,
        })
    }
}

struct Tee {
    store: Arc<LogStore>,
    namespace: String,
    pod: String,
    inner: Arc<dyn LogSink>,
}

impl Tee {
    fn key(&self, container: &str) -> Key {
        (
            self.namespace.clone(),
            self.pod.clone(),
            container.to_string(),
        )
    }
}

impl LogSink for Tee {
    fn line(&self, container: &str, stream: Stream, line: &str) {
        self.store.push(self.key(container), line);
        self.inner.line(container, stream, line);
    }

    fn began(&self, container: &str) {
        self.store.began(self.key(container));
        self.inner.began(container);
    }

    fn partial(&self, container: &str, stream: Stream, text: &str) {
        self.store.push(self.key(container), text);
        self.inner.partial(container, stream, text);
    }

    fn ended(&self, container: &str) {
        self.store.ended(&self.key(container));
        self.inner.ended(container);
    }

    fn poll_ready(
        &self,
        container: &str,
        stream: Stream,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.inner.poll_ready(container, stream, cx)
    }
}

/// The time of a log line to the nanosecond, as the CRI log format keeps it (RFC 3339 nano).
fn precise_now() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::new(since.as_secs() as i64, since.subsec_nanos() as i32)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}
