//! `wpod images`: what can go in `image:` without a file.

use super::exit;
use crate::images::BUILTINS;

pub fn list() -> u8 {
    println!(
        "{:<10} {:>9}  {:<24}  DESCRIPTION",
        "IMAGE", "SIZE", "DEFAULT COMMAND"
    );
    for b in BUILTINS {
        let command = [b.entrypoint, b.cmd].concat().join(" ");
        println!(
            "{:<10} {:>6} KiB  {:<24}  {}",
            b.name,
            b.wasm.len() / 1024,
            command,
            b.description
        );
    }
    println!("\nAny other image is a path to a .wasm file (a WASI p2 component or p1 module),");
    println!("relative to the manifest's directory.");
    exit::SUCCEEDED
}
