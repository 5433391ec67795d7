//! What a component can import: every WASI 0.2 interface from wasmtime-wasi, with wasi:sockets
//! served by the virtual pod network (or the host's, for hostNetwork pods), wasi:io/poll made
//! interruptible by signals, wpod:process, and wasi:http (types and outgoing-handler). Listed one by one on purpose: an interface
//! forgotten here fails instantiation loudly instead of silently reaching the host.

use wasmtime::Caller;
use wasmtime::component::Linker;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
use wasmtime_wasi_io::IoView as _;

use super::engine::Host;

/// Whose sockets a component uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sockets {
    /// The pod's virtual network.
    Pod,
    /// The machine's (`hostNetwork: true`).
    Host,
}

pub fn add_to_linker(l: &mut Linker<Host>, sockets: Sockets) -> wasmtime::Result<()> {
    super::process::add_io_to_linker(l, Host::table, Host::poll_view)?;
    super::process::add_to_linker(l, Host::proc_view)?;
    clocks::wall_clock::add_to_linker::<Host, WasiClocks>(l, Host::clocks)?;
    clocks::monotonic_clock::add_to_linker::<Host, WasiClocks>(l, Host::clocks)?;
    super::erofs::add_to_linker(l)?;
    filesystem::preopens::add_to_linker::<Host, WasiFilesystem>(l, Host::filesystem)?;
    random::random::add_to_linker::<Host, WasiRandom>(l, Host::random)?;
    random::insecure::add_to_linker::<Host, WasiRandom>(l, Host::random)?;
    random::insecure_seed::add_to_linker::<Host, WasiRandom>(l, Host::random)?;
    cli::exit::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    cli::environment::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    cli::stdin::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    cli::stdout::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    cli::stderr::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    cli::terminal_input::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    cli::terminal_output::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    cli::terminal_stdin::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    cli::terminal_stdout::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    cli::terminal_stderr::add_to_linker::<Host, WasiCli>(l, Host::cli)?;
    match sockets {
        Sockets::Pod => crate::net::host::add_to_linker(l, Host::net_view)?,
        Sockets::Host => host_sockets(l)?,
    }
    super::crossdev::add_to_linker(l)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l)?;
    Ok(())
}

fn host_sockets(l: &mut Linker<Host>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::sockets;
    sockets::tcp_create_socket::add_to_linker::<Host, WasiSockets>(l, Host::sockets)?;
    sockets::instance_network::add_to_linker::<Host, WasiSockets>(l, Host::sockets)?;
    sockets::network::add_to_linker::<Host, WasiSockets>(l, &Default::default(), Host::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<Host, WasiSockets>(l, Host::sockets)?;
    sockets::tcp::add_to_linker::<Host, WasiSockets>(l, Host::sockets)?;
    sockets::udp::add_to_linker::<Host, WasiSockets>(l, Host::sockets)?;
    sockets::udp_create_socket::add_to_linker::<Host, WasiSockets>(l, Host::sockets)?;
    Ok(())
}

/// WASI preview 1 has no way to create sockets (only `sock_accept` etc. on sockets handed in by
/// the host, which wpod never does). Answer those calls with ENOTSUP and say why, once, on the
/// container's stderr, instead of a bare EBADF.
pub fn explain_p1_sockets(l: &mut wasmtime::Linker<Host>) -> wasmtime::Result<()> {
    const ENOTSUP: i32 = 58;
    fn refuse(caller: &mut Caller<'_, Host>, call: &str) -> i32 {
        let host = caller.data_mut();
        if !host.p1_socket_noted {
            host.p1_socket_noted = true;
            host.stderr.note(&format!(
                "wpod: {call}: WASI preview 1 modules have no socket API; build the program as a \
                 WASI p2 component (e.g. Rust's wasm32-wasip2 target) to use the pod network"
            ));
        }
        ENOTSUP
    }
    l.allow_shadowing(true);
    const M: &str = "wasi_snapshot_preview1";
    l.func_wrap(
        M,
        "sock_accept",
        |mut c: Caller<'_, Host>, _: i32, _: i32, _: i32| refuse(&mut c, "sock_accept"),
    )?;
    l.func_wrap(
        M,
        "sock_recv",
        |mut c: Caller<'_, Host>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| {
            refuse(&mut c, "sock_recv")
        },
    )?;
    l.func_wrap(
        M,
        "sock_send",
        |mut c: Caller<'_, Host>, _: i32, _: i32, _: i32, _: i32, _: i32| {
            refuse(&mut c, "sock_send")
        },
    )?;
    l.func_wrap(
        M,
        "sock_shutdown",
        |mut c: Caller<'_, Host>, _: i32, _: i32| refuse(&mut c, "sock_shutdown"),
    )?;
    l.allow_shadowing(false);
    Ok(())
}
