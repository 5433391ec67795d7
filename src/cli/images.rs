//! `wpod images`: what can go in `image:` without a file.

use super::exit;
use crate::images::BUILTINS;

fn size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

pub fn list() -> u8 {
    println!(
        "{:<9} {:>8}  {:<22}  DESCRIPTION",
        "IMAGE", "SIZE", "DEFAULT COMMAND"
    );
    for b in BUILTINS {
        let command = [b.entrypoint, b.cmd].concat().join(" ");
        println!(
            "{:<9} {:>8}  {:<22}  {}",
            b.name,
            size(b.wasm.len()),
            command,
            b.description
        );
    }
    println!("\nbusybox also stands in for alpine, debian and ubuntu (with a notice when pulled).");
    println!("Any other image is a path to a .wasm file (a WASI p2 component or p1 module),");
    println!("relative to the manifest's directory.");
    exit::SUCCEEDED
}
