//! A pseudo-terminal for `kubectl exec -it` on the Linux backend: the command gets the slave as
//! its controlling terminal (the kernel's line discipline echoes, edits lines and turns ^C into
//! SIGINT), wpod keeps the master and moves bytes between it and the client.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

use crate::runtime::TermSize;

/// A terminal's size until the client sends one.
pub const DEFAULT_SIZE: TermSize = TermSize {
    width: 80,
    height: 24,
};

fn winsize(size: TermSize) -> libc::winsize {
    libc::winsize {
        ws_row: size.height,
        ws_col: size.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// A new terminal of `size`: (master, slave).
pub fn open(size: TermSize) -> io::Result<(OwnedFd, OwnedFd)> {
    let (mut master, mut slave) = (-1, -1);
    let ws = winsize(size);
    // SAFETY: openpty fills two fds; the name and termios pointers may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    if r != 0 {
        return Err(io::Error::other(format!(
            "opening a pseudo-terminal: {}",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: both fds were just returned by openpty and are owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: fcntl on an fd we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    Ok((master, slave))
}

/// Gives `command` the terminal's slave as its stdin, stdout and stderr.
pub fn give(command: &mut tokio::process::Command, slave: &OwnedFd) -> io::Result<()> {
    command
        .stdin(slave.try_clone()?)
        .stdout(slave.try_clone()?)
        .stderr(slave.try_clone()?);
    Ok(())
}

/// Moves bytes between a terminal's master and the client's duplex ends until the client's
/// input (if any) ends (closing the master hangs the terminal up: its session gets SIGHUP) or the command
/// has ended (`ended`) and its output is read. Returns the resize function.
pub fn serve(
    master: OwnedFd,
    input: Option<DuplexStream>,
    output: DuplexStream,
    ended: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<Box<dyn Fn(TermSize) + Send + Sync>> {
    // SAFETY: the AsyncFd owns the fd and keeps it open until it is dropped.
    let master = Arc::new(unsafe { AsyncFd::register(master) }.map_err(io::Error::from)?);
    let resize_fd = master.clone();
    let resize = Box::new(move |size: TermSize| {
        let ws = winsize(size);
        // SAFETY: TIOCSWINSZ reads a winsize; the kernel sends SIGWINCH to the foreground group.
        unsafe { libc::ioctl(resize_fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    });
    let (writer, reader) = (master.clone(), master);
    let (gone_tx, mut gone) = tokio::sync::oneshot::channel::<()>();
    let typing = tokio::spawn(async move {
        let _gone = gone_tx;
        // Without input the client never hangs up before the command ends.
        let Some(mut input) = input else {
            return std::future::pending().await;
        };
        let mut buf = vec![0u8; 4096];
        while let Ok(n @ 1..) = input.read(&mut buf).await {
            let mut data = &buf[..n];
            while !data.is_empty() {
                let Ok(mut guard) = writer.writable().await else {
                    return;
                };
                match guard.try_io(|fd| {
                    // SAFETY: writing from a live buffer to an fd we own.
                    let r =
                        unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                    if r < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(r as usize)
                    }
                }) {
                    Ok(Ok(w)) => data = &data[w..],
                    Ok(Err(_)) => return,
                    Err(_would_block) => {}
                }
            }
        }
    });
    tokio::spawn(async move {
        let mut output = output;
        let mut buf = vec![0u8; 16 * 1024];
        tokio::pin!(ended);
        let mut ending = false;
        loop {
            if !ending {
                tokio::select! {
                    guard = reader.readable() => {
                        let Ok(mut guard) = guard else { break };
                        guard.clear_ready();
                    }
                    () = &mut ended => ending = true,
                    // The client is gone: drop the master, the terminal hangs up.
                    _ = &mut gone => break,
                }
            }
            // SAFETY: reading into a live buffer from an fd we own (non-blocking).
            let r = unsafe { libc::read(reader.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            match r {
                n if n > 0 => {
                    if output.write_all(&buf[..n as usize]).await.is_err() {
                        break;
                    }
                }
                // EAGAIN: nothing more now; EIO: every slave holder is gone.
                _ if ending => break,
                _ if io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock => {}
                _ => break,
            }
        }
        typing.abort();
        let _ = output.shutdown().await;
    });
    Ok(resize)
}
