//! The input and output streams of a virtual TCP connection.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, OutputStream, StreamError, StreamResult};

use super::StreamFailure;
use crate::net::bindings::wasi::sockets::network::ErrorCode;
use crate::net::pipe::{Pipe, Read, Room};

pub struct Reader(pub Arc<Pipe>);
pub struct Writer(pub Arc<Pipe>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.close_read();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.0.close_write();
    }
}

fn reset() -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::new(StreamFailure(
        ErrorCode::ConnectionReset,
    )))
}

#[async_trait::async_trait]
impl Pollable for Reader {
    async fn ready(&mut self) {
        self.0.wait_readable().await;
    }
}

impl InputStream for Reader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        match self.0.read(size) {
            Read::Data(b) => Ok(b),
            Read::Empty => Ok(Bytes::new()),
            Read::Eof => Err(StreamError::Closed),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for Writer {
    async fn ready(&mut self) {
        self.0.wait_writable().await;
    }
}

impl OutputStream for Writer {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        match self.0.write(bytes) {
            Room::Bytes(_) => Ok(()),
            Room::Closed => Err(StreamError::Closed),
            Room::Reset => Err(reset()),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        match self.0.room() {
            Room::Reset => Err(reset()),
            _ => Ok(()),
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match self.0.room() {
            Room::Bytes(n) => Ok(n),
            Room::Closed => Err(StreamError::Closed),
            Room::Reset => Err(reset()),
        }
    }
}
