//! hostPath type checks, with the kubelet's messages (pkg/volume/hostpath).

use std::fs;
use std::io;
use std::path::Path;

/// Checks (and for the *OrCreate types, creates) `path`; the error is the kubelet's message.
pub fn check(path: &Path, type_: &str) -> Result<(), String> {
    let p = path.display();
    let meta = fs::metadata(path);
    let exists = meta.is_ok();
    let kind = meta.as_ref().map(|m| m.file_type()).ok();
    let is = |f: fn(&fs::FileType) -> bool| kind.as_ref().is_some_and(f);
    match type_ {
        // No checks; a missing path is created as a directory, as container runtimes do.
        "" => {
            if !exists {
                make_dir(path)?;
            }
        }
        "DirectoryOrCreate" if !exists => make_dir(path)?,
        "DirectoryOrCreate" | "Directory" => {
            if !is(fs::FileType::is_dir) {
                return Err(format!(
                    "hostPath type check failed: {p} is not a directory"
                ));
            }
        }
        "FileOrCreate" if !exists => make_file(path)?,
        "FileOrCreate" | "File" => {
            if !is(fs::FileType::is_file) {
                return Err(format!("hostPath type check failed: {p} is not a file"));
            }
        }
        "Socket" if !is(special::is_socket) => {
            return Err(format!(
                "hostPath type check failed: {p} is not a socket file"
            ));
        }
        "CharDevice" if !is(special::is_char_device) => {
            return Err(format!(
                "hostPath type check failed: {p} is not a character device"
            ));
        }
        "BlockDevice" if !is(special::is_block_device) => {
            return Err(format!(
                "hostPath type check failed: {p} is not a block device"
            ));
        }
        "Socket" | "CharDevice" | "BlockDevice" => {}
        other => return Err(format!("{other} is an invalid volume type")),
    }
    Ok(())
}

fn make_dir(path: &Path) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("mkdir {}: {}", path.display(), go_err(&e)))?;
    crate::modes::set(path, 0o755).map_err(|e| format!("chmod {}: {}", path.display(), go_err(&e)))
}

/// Like the kubelet, FileOrCreate does not create missing parent directories.
fn make_file(path: &Path) -> Result<(), String> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("open {}: {}", path.display(), go_err(&e)))?;
    crate::modes::set(path, 0o644).map_err(|e| format!("chmod {}: {}", path.display(), go_err(&e)))
}

/// Sockets and devices, which only Unix has among hostPath's types.
#[cfg(unix)]
mod special {
    use std::os::unix::fs::FileTypeExt as _;

    pub fn is_socket(t: &std::fs::FileType) -> bool {
        t.is_socket()
    }

    pub fn is_char_device(t: &std::fs::FileType) -> bool {
        t.is_char_device()
    }

    pub fn is_block_device(t: &std::fs::FileType) -> bool {
        t.is_block_device()
    }
}

/// Windows has no socket or device files: a hostPath of those types never passes its check.
#[cfg(not(unix))]
mod special {
    pub fn is_socket(_: &std::fs::FileType) -> bool {
        false
    }

    pub fn is_char_device(_: &std::fs::FileType) -> bool {
        false
    }

    pub fn is_block_device(_: &std::fs::FileType) -> bool {
        false
    }
}

/// Go spells errno messages in lower case (`no such file or directory`).
pub fn go_err(e: &io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn device_and_socket_checks() {
        assert_eq!(check(Path::new("/dev/null"), "CharDevice"), Ok(()));
        assert!(check(Path::new("/dev/null"), "File").is_err());
        let dir = std::env::temp_dir().join(format!("wpod-hostpath-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let sock = dir.join("s.sock");
        let _ = fs::remove_file(&sock);
        let listener = std::os::unix::net::UnixListener::bind(&sock);
        assert!(listener.is_ok());
        assert_eq!(check(&sock, "Socket"), Ok(()));
        assert_eq!(
            check(&sock, "Directory"),
            Err(format!(
                "hostPath type check failed: {} is not a directory",
                sock.display()
            ))
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
