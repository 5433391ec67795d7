//! `--trace-net`: a line for every bind, listen, connect, accept, refusal and close.

use std::sync::Arc;

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone, Default)]
pub struct Trace {
    sink: Option<Sink>,
    verbose: bool,
}

impl Trace {
    /// `verbose` prints every socket event; without it only conflicts a learner should see
    /// (address in use between containers) are printed.
    pub fn new(sink: impl Fn(&str) + Send + Sync + 'static, verbose: bool) -> Self {
        Trace {
            sink: Some(Arc::new(sink)),
            verbose,
        }
    }

    pub fn event(&self, line: impl FnOnce() -> String) {
        if let Some(sink) = self.sink.as_ref().filter(|_| self.verbose) {
            sink(&line());
        }
    }

    /// Whether every socket event is printed (`--trace-net`).
    pub fn verbose(&self) -> bool {
        self.sink.is_some() && self.verbose
    }

    pub fn always(&self, line: impl FnOnce() -> String) {
        if let Some(sink) = &self.sink {
            sink(&line());
        }
    }
}
