//! What every built-in guest shares.

#[cfg(target_arch = "wasm32")]
mod wasi_exit {
    wit_bindgen::generate!({
        path: "wit",
        world: "guest",
        generate_all,
    });
}

/// Exits with `code`. On wasm, std's exit can only say ok or err; exit-with-code keeps the status.
pub fn exit(code: u8) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    #[cfg(target_arch = "wasm32")]
    wasi_exit::wasi::cli::exit::exit_with_code(code);
    std::process::exit(i32::from(code))
}
