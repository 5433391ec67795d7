//! Host bindings for `wasi:sockets`, generated from the WIT in `wit/`. Streams and pollables are
//! wasmtime-wasi-io's, so its wasi:io implementation serves wpod's sockets unchanged.

wasmtime::component::bindgen!({
    path: "wit",
    world: "wpod:net/sockets",
    imports: { default: trappable },
    require_store_data_send: true,
    trappable_error_type: {
        "wasi:sockets/network.error-code" => crate::net::host::SocketError,
    },
    with: {
        "wasi:io/poll": wasmtime_wasi_io::bindings::wasi::io::poll,
        "wasi:io/streams": wasmtime_wasi_io::bindings::wasi::io::streams,
        "wasi:io/error": wasmtime_wasi_io::bindings::wasi::io::error,
        "wasi:clocks/monotonic-clock": wasmtime_wasi::p2::bindings::clocks::monotonic_clock,
        "wasi:sockets/network.network": crate::net::host::Network,
        "wasi:sockets/tcp.tcp-socket": crate::net::host::TcpSocket,
        "wasi:sockets/udp.udp-socket": crate::net::host::UdpSocket,
        "wasi:sockets/udp.incoming-datagram-stream": crate::net::host::IncomingDatagramStream,
        "wasi:sockets/udp.outgoing-datagram-stream": crate::net::host::OutgoingDatagramStream,
        "wasi:sockets/ip-name-lookup.resolve-address-stream": crate::net::host::ResolveAddressStream,
    },
});
