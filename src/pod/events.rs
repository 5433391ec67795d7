//! Kubernetes-style events: what the kubelet records about a pod, as `kubectl describe` lists them.

use k8s_openapi::jiff::Timestamp;

use super::status::{Phase, Terminated};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub type_: EventType,
    pub reason: &'static str,
    /// The container the event is about (`spec.containers{app}` in Kubernetes), if any.
    pub container: Option<String>,
    pub message: String,
    pub at: Timestamp,
}

/// Where the lifecycle reports what happens; the CLI prints it, tests record it.
pub trait EventSink: Send + Sync {
    fn event(&self, pod: &str, event: &Event);
    fn phase(&self, pod: &str, from: Option<Phase>, to: Phase);
    /// A container's run ended (Kubernetes records no event for this; a learner wants to see it).
    fn exited(&self, pod: &str, container: &str, how: &Terminated);
}

/// Keeps everything in memory, for tests.
#[derive(Default)]
pub struct RecordedEvents {
    pub events: std::sync::Mutex<Vec<Event>>,
    pub phases: std::sync::Mutex<Vec<Phase>>,
}

impl RecordedEvents {
    pub fn reasons(&self) -> Vec<String> {
        self.events
            .lock()
            .map(|e| {
                e.iter()
                    .map(|e| match &e.container {
                        Some(c) => format!("{} {c}", e.reason),
                        None => e.reason.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl EventSink for RecordedEvents {
    fn event(&self, _pod: &str, event: &Event) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event.clone());
        }
    }

    fn phase(&self, _pod: &str, _from: Option<Phase>, to: Phase) {
        if let Ok(mut p) = self.phases.lock() {
            p.push(to);
        }
    }

    fn exited(&self, _pod: &str, _container: &str, _how: &Terminated) {}
}
