//! Bounded reads of files wpod is handed (an image path) or that a guest writes (its termination
//! message): regular files only, opened without blocking, and never more than a fixed number of
//! bytes, whatever the file claims to be.
//!
//! A FIFO opened for reading waits for a writer, and `/dev/zero` never ends: both once hung or
//! exhausted wpod. Opening with `O_NONBLOCK` returns at once for every kind of file, and the
//! type check on the opened descriptor (not on the path, which could change in between) refuses
//! anything but a regular file before a single byte is read.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum Refused {
    Io(io::Error),
    /// Not a regular file: a directory, FIFO, device, socket or (where links are not followed)
    /// a symbolic link.
    NotRegular(&'static str),
    /// Larger than the limit (both in bytes).
    TooBig {
        size: u64,
        limit: u64,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Io(e) => write!(f, "{e}"),
            Refused::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            Refused::TooBig { size, limit } => write!(
                f,
                "it is {} ({size} bytes), more than the limit of {}",
                human(*size),
                human(*limit)
            ),
        }
    }
}

impl std::error::Error for Refused {}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Self {
        Refused::Io(e)
    }
}

/// Whether the last component of a path may be a symbolic link.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Links {
    Follow,
    /// The path is one a guest can write to: a link there could point anywhere on the host.
    Refuse,
}

/// Opens `path` for reading without blocking and returns it with its size, if it is a regular file.
pub fn open_regular(path: &Path, links: Links) -> Result<(File, u64), Refused> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let nofollow = if links == Links::Refuse {
            libc::O_NOFOLLOW
        } else {
            0
        };
        options.custom_flags(libc::O_NONBLOCK | nofollow | libc::O_CLOEXEC);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        #[cfg(target_os = "linux")]
        Err(e) if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Refused::NotRegular("a symbolic link"));
        }
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Refused::NotRegular(kind(&meta.file_type())));
    }
    // Elsewhere the open followed a link: refuse one found at the path now.
    #[cfg(not(target_os = "linux"))]
    {
        if links == Links::Refuse && std::fs::symlink_metadata(path)?.file_type().is_symlink() {
            return Err(Refused::NotRegular("a symbolic link"));
        }
    }
    Ok((file, meta.len()))
}

/// The whole file, if it is regular and at most `limit` bytes. A file that grows while it is
/// read is cut off one byte past the limit and refused.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, Refused> {
    let (file, size) = open_regular(path, Links::Follow)?;
    if size > limit {
        return Err(Refused::TooBig { size, limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(Refused::TooBig { size: read, limit });
    }
    Ok(bytes)
}

/// The last `max` bytes of a regular file (the kubelet's `tail.ReadAtMost`), read from where
/// they start: a sparse file of gigabytes costs one read of `max` bytes.
pub fn read_tail(path: &Path, max: u64, links: Links) -> Result<Vec<u8>, Refused> {
    let (mut file, size) = open_regular(path, links)?;
    let start = size.saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity(usize::try_from(max.min(size)).unwrap_or(0));
    // A file that grew since the size was taken still gives at most `max` bytes.
    file.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// `268435456` as `256 MiB`, for messages.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("wpod-bounded-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn tail_of_a_sparse_file_reads_only_its_end() {
        let dir = scratch("sparse");
        let path = dir.join("log");
        let f = File::create(&path).expect("create");
        f.set_len(3 << 30).expect("sparse 3 GiB");
        drop(f);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        std::io::Write::write_all(&mut f, b"the end").expect("write");
        let tail = read_tail(&path, 4096, Links::Refuse).expect("tail");
        assert_eq!(tail.len(), 4096);
        assert!(tail.ends_with(b"the end"));
        assert!(tail[..4089].iter().all(|b| *b == 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_regular_files() {
        let dir = scratch("kinds");
        let e = read_tail(&dir, 4096, Links::Follow).expect_err("a directory");
        assert_eq!(e.to_string(), "it is a directory, not a regular file");
        let e = read_capped(Path::new("/dev/zero"), 1024).expect_err("a device");
        assert_eq!(
            e.to_string(),
            "it is a character device, not a regular file"
        );
        #[cfg(target_os = "linux")]
        {
            let fifo = dir.join("fifo");
            let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            // Returns at once instead of waiting for a writer.
            let e = read_capped(&fifo, 1024).expect_err("a FIFO");
            assert_eq!(
                e.to_string(),
                "it is a FIFO (named pipe), not a regular file"
            );
        }
        let target = dir.join("target");
        std::fs::write(&target, "x").expect("write");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(matches!(
            read_tail(&link, 10, Links::Refuse),
            Err(Refused::NotRegular("a symbolic link"))
        ));
        assert_eq!(read_tail(&link, 10, Links::Follow).expect("followed"), b"x");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn size_cap() {
        let dir = scratch("cap");
        let path = dir.join("img");
        std::fs::write(&path, vec![1u8; 2048]).expect("write");
        assert_eq!(read_capped(&path, 2048).expect("at the limit").len(), 2048);
        let e = read_capped(&path, 1024).expect_err("over the limit");
        assert_eq!(
            e.to_string(),
            "it is 2 KiB (2048 bytes), more than the limit of 1 KiB"
        );
        assert_eq!(human(256 << 20), "256 MiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
