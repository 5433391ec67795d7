//! `wasi:io/poll` as wasmtime-wasi-io serves it, except that a caught signal makes a blocking
//! `poll` or `block` return early, as it makes a blocking system call return EINTR: a guest
//! waiting for a socket, a child or a timer notices TERM at once. `poll` then returns no ready
//! index (callers such as wasi-libc's poll(2) see nothing ready and look again).

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi_io::bindings::wasi::io::{error, poll, streams};
use wasmtime_wasi_io::poll::DynPollable;

use super::table::Process;

pub struct PollView<'a> {
    pub table: &'a mut ResourceTable,
    /// The polling process.
    pub me: &'a Arc<Process>,
}

struct InterruptiblePoll;

impl HasData for InterruptiblePoll {
    type Data<'a> = PollView<'a>;
}

struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links all of `wasi:io`: error and streams from wasmtime-wasi-io, poll interruptible.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    table: fn(&mut T) -> &mut ResourceTable,
    view: fn(&mut T) -> PollView<'_>,
) -> wasmtime::Result<()> {
    error::add_to_linker::<T, Io>(linker, table)?;
    streams::add_to_linker::<T, Io>(linker, table)?;
    poll::add_to_linker::<T, InterruptiblePoll>(linker, view)?;
    Ok(())
}

impl poll::Host for PollView<'_> {
    async fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let me = self.me.clone();
        tokio::select! {
            ready = poll::Host::poll(&mut *self.table, pollables) => ready,
            () = me.signals.interrupted() => Ok(Vec::new()),
        }
    }
}

impl poll::HostPollable for PollView<'_> {
    async fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let me = self.me.clone();
        tokio::select! {
            done = poll::HostPollable::block(&mut *self.table, pollable) => done,
            () = me.signals.interrupted() => Ok(()),
        }
    }

    async fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        poll::HostPollable::ready(&mut *self.table, pollable).await
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        poll::HostPollable::drop(&mut *self.table, pollable)
    }
}
