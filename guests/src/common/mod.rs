//! What every built-in guest shares.

/// Bindings of the guest world (guests/wit): WASI's exit and environment, wasi:io, the monotonic
/// clock and wpod:process.
#[cfg(target_arch = "wasm32")]
pub mod wit {
    wit_bindgen::generate!({
        path: ["../wit/deps/io.wit", "../wit/deps/clocks.wit", "../wit/deps/wpod-process.wit", "wit"],
        world: "wasi:cli/guest",
        generate_all,
    });
}

/// Enters the container's working directory (`workingDir`): on wasm, WASI's initial-cwd, which
/// wasi-libc leaves unapplied; natively the process already starts there.
pub fn enter_working_dir() {
    #[cfg(target_arch = "wasm32")]
    if let Some(dir) = wit::wasi::cli::environment::initial_cwd() {
        let _ = std::env::set_current_dir(dir);
    }
}

/// Exits with `code`. On wasm, std's exit can only say ok or err; exit-with-code keeps the status.
pub fn exit(code: u8) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    #[cfg(target_arch = "wasm32")]
    wit::wasi::cli::exit::exit_with_code(code);
    std::process::exit(i32::from(code))
}
