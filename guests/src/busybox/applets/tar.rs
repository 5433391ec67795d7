//! `tar`: create, extract and list ustar archives, as busybox's tar does, with the flags
//! `kubectl cp` uses (`tar cf - PATH`, `tar -xmf - -C DIR`, `--no-same-owner`,
//! `--no-same-permissions`).
//!
//! Writes ustar, with a GNU long-name entry (`././@LongLink`) for names that do not fit; reads
//! ustar, GNU long names and PAX `path`/`linkpath`/`size` records. Leading `/` and `..` parts
//! are taken off member names, so an archive cannot write outside the target directory.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::io::{Ctx, errstr};

const BLOCK: usize = 512;
/// A PAX or long-name record larger than this is refused (they hold one path).
const MAX_META: u64 = 1024 * 1024;

struct Flags {
    create: bool,
    extract: bool,
    list: bool,
    verbose: bool,
    keep_mtime: bool,
    file: Option<String>,
    dir: Option<String>,
    paths: Vec<String>,
}

fn parse(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags {
        create: false,
        extract: false,
        list: false,
        verbose: false,
        keep_mtime: true,
        file: None,
        dir: None,
        paths: Vec::new(),
    };
    let mut args = args.iter().peekable();
    let mut first = true;
    while let Some(a) = args.next() {
        let letters = match a.as_str() {
            "--no-same-owner" | "--no-same-permissions" | "-o" => {
                first = false;
                continue;
            }
            "--" => {
                f.paths.extend(args.by_ref().cloned());
                break;
            }
            s if s.starts_with("--") => return Err(format!("unrecognized option '{s}'")),
            // Old style: the first word's letters are flags even without a dash (`tar cf - x`).
            s if s.starts_with('-') && s.len() > 1 => &s[1..],
            s if first && !s.is_empty() => s,
            s => {
                f.paths.push(s.to_string());
                first = false;
                continue;
            }
        };
        first = false;
        for c in letters.chars() {
            match c {
                'c' => f.create = true,
                'x' => f.extract = true,
                't' => f.list = true,
                'v' => f.verbose = true,
                'm' => f.keep_mtime = false,
                'o' | 'p' => {}
                'f' | 'C' => {
                    let v = args
                        .next()
                        .ok_or_else(|| format!("option requires an argument -- '{c}'"))?
                        .clone();
                    if c == 'f' {
                        f.file = Some(v);
                    } else {
                        f.dir = Some(v);
                    }
                }
                other => return Err(format!("invalid option -- '{other}'")),
            }
        }
    }
    if [f.create, f.extract, f.list].iter().filter(|&&b| b).count() != 1 {
        return Err("exactly one of 'c', 'x' or 't' is needed".into());
    }
    Ok(f)
}

pub fn tar(ctx: &mut Ctx, args: &[String]) -> i32 {
    let flags = match parse(args) {
        Ok(f) => f,
        Err(e) => {
            ctx.error("tar", e);
            return 1;
        }
    };
    let base = flags
        .dir
        .as_deref()
        .map(|d| ctx.path(d))
        .unwrap_or_else(|| ctx.cwd.clone());
    let r = if flags.create {
        create(ctx, &flags, &base)
    } else {
        ctx.open(flags.file.as_deref().unwrap_or("-"))
            .and_then(|fd| {
                let mut reader = Reader(fd);
                read_archive(ctx, &flags, &base, &mut reader)
            })
    };
    match r {
        Ok(status) => status,
        Err(e) => {
            ctx.error("tar", errstr(&e));
            1
        }
    }
}

struct Reader(crate::io::Fd);

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

// ---- create ----

fn create(ctx: &Ctx, flags: &Flags, base: &Path) -> io::Result<i32> {
    if flags.paths.is_empty() {
        ctx.error("tar", "empty archive");
        return Ok(1);
    }
    let mut out: Box<dyn Write> = match flags.file.as_deref().unwrap_or("-") {
        "-" => Box::new(ctx.out()),
        name => Box::new(ctx.create(name, false)?),
    };
    let mut status = 0;
    let mut told = false;
    for p in &flags.paths {
        let name = member_name(p);
        if p.starts_with('/') && !told {
            ctx.write_err(b"tar: removing leading '/' from member names\n");
            told = true;
        }
        let path = crate::io::resolve(base, p);
        if let Err(e) = add(ctx, flags, &mut out, &path, &name) {
            ctx.error("tar", format!("{p}: {}", errstr(&e)));
            status = 1;
        }
    }
    out.write_all(&[0u8; BLOCK * 2])?;
    out.flush()?;
    Ok(status)
}

/// A member name for `p`: no leading `/`, no `.` or `..` parts.
fn member_name(p: &str) -> String {
    let parts: Vec<String> = Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

fn add(ctx: &Ctx, flags: &Flags, out: &mut dyn Write, path: &Path, name: &str) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mode = mode_of(&meta);
    if flags.verbose {
        ctx.write_err(format!("{name}\n").as_bytes());
    }
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path)?.to_string_lossy().into_owned();
        return header(out, name, b'2', 0, mode, mtime, &target);
    }
    if meta.is_dir() {
        header(out, &format!("{name}/"), b'5', 0, mode, mtime, "")?;
        let mut entries: Vec<_> = std::fs::read_dir(path)?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let child = format!("{name}/{}", e.file_name().to_string_lossy());
            if let Err(err) = add(ctx, flags, out, &e.path(), &child) {
                ctx.error("tar", format!("{child}: {}", errstr(&err)));
            }
        }
        return Ok(());
    }
    let mut file = std::fs::File::open(path)?;
    let size = meta.len();
    header(out, name, b'0', size, mode, mtime, "")?;
    let copied = io::copy(&mut (&mut file).take(size), out)?;
    // A file that shrank meanwhile is padded to the size its header promised.
    io::copy(&mut io::repeat(0).take(size - copied), out)?;
    let pad = (BLOCK - (size as usize % BLOCK)) % BLOCK;
    out.write_all(&vec![0u8; pad])
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o7777
}

/// WASI has no permission bits: directories 0755, files 0644.
#[cfg(not(unix))]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    if meta.is_dir() { 0o755 } else { 0o644 }
}

/// A NUL-terminated octal number filling `field` (the low digits if it does not fit).
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    let s = s.as_bytes();
    field[..digits].copy_from_slice(&s[s.len() - digits..]);
    field[digits] = 0;
}

/// Writes the header of one member; a name or link target too long for ustar goes first in a
/// GNU long-name entry.
fn header(
    out: &mut dyn Write,
    name: &str,
    kind: u8,
    size: u64,
    mode: u32,
    mtime: u64,
    link: &str,
) -> io::Result<()> {
    if link.len() > 100 {
        long_name(out, b'K', link)?;
    }
    let (prefix, short) = split_name(name).unwrap_or(("", name));
    if split_name(name).is_none() && name.len() > 100 {
        long_name(out, b'L', name)?;
    }
    let mut h = [0u8; BLOCK];
    let short = &short.as_bytes()[..short.len().min(100)];
    h[..short.len()].copy_from_slice(short);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = kind;
    let link = &link.as_bytes()[..link.len().min(100)];
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    let prefix = prefix.as_bytes();
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    out.write_all(&h)
}

/// ustar's split of a long name at a `/`: a prefix of at most 155 bytes, a name of at most 100.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return Some(("", name));
    }
    let cut = name
        .char_indices()
        .filter(|&(i, c)| c == '/' && i <= 155 && name.len() - i - 1 <= 100 && i > 0)
        .map(|(i, _)| i)
        .next()?;
    Some((&name[..cut], &name[cut + 1..]))
}

fn long_name(out: &mut dyn Write, kind: u8, name: &str) -> io::Result<()> {
    let data = [name.as_bytes(), b"\0"].concat();
    header(out, "././@LongLink", kind, data.len() as u64, 0, 0, "")?;
    out.write_all(&data)?;
    out.write_all(&vec![0u8; (BLOCK - data.len() % BLOCK) % BLOCK])
}

// ---- extract and list ----

fn field_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn field_num(b: &[u8]) -> io::Result<u64> {
    // GNU base-256 for large values.
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        return Ok(b[1..]
            .iter()
            .fold(0u64, |n, &c| n.saturating_mul(256) + u64::from(c)));
    }
    let s = field_str(b);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| io::Error::other("invalid tar header"))
}

fn read_block(r: &mut impl Read, block: &mut [u8; BLOCK]) -> io::Result<bool> {
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut block[got..])? {
            0 if got == 0 => return Ok(false),
            0 => return Err(io::Error::other("short read")),
            n => got += n,
        }
    }
    Ok(true)
}

/// The data of a metadata entry (long name, PAX record), bounded.
fn read_meta(r: &mut impl Read, size: u64) -> io::Result<Vec<u8>> {
    if size > MAX_META {
        return Err(io::Error::other("invalid tar header"));
    }
    let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
    let mut data = vec![0u8; padded as usize];
    r.read_exact(&mut data)?;
    data.truncate(size as usize);
    Ok(data)
}

/// `path=` and `linkpath=` of a PAX extended header (`LEN key=value\n` records).
fn pax(data: &[u8]) -> (Option<String>, Option<String>, Option<u64>) {
    let text = String::from_utf8_lossy(data);
    let (mut path, mut link, mut size) = (None, None, None);
    for record in text.split('\n') {
        let Some((_, kv)) = record.split_once(' ') else {
            continue;
        };
        match kv.split_once('=') {
            Some(("path", v)) => path = Some(v.to_string()),
            Some(("linkpath", v)) => link = Some(v.to_string()),
            Some(("size", v)) => size = v.parse().ok(),
            _ => {}
        }
    }
    (path, link, size)
}

/// Where member `name` goes under `base`: only its normal parts (no `/` root, no `..`).
fn target(base: &Path, name: &str) -> Option<PathBuf> {
    let mut p = base.to_path_buf();
    let mut any = false;
    for c in Path::new(name).components() {
        match c {
            Component::Normal(s) => {
                p.push(s);
                any = true;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
        }
    }
    any.then_some(p)
}

fn read_archive(ctx: &Ctx, flags: &Flags, base: &Path, r: &mut impl Read) -> io::Result<i32> {
    let mut block = [0u8; BLOCK];
    let (mut long_name, mut long_link, mut pax_size) = (None, None, None);
    let mut out = ctx.out();
    let mut status = 0;
    while read_block(r, &mut block)? {
        if block.iter().all(|&b| b == 0) {
            break;
        }
        let stored = field_num(&block[148..156])?;
        let mut check = block;
        check[148..156].copy_from_slice(b"        ");
        if check.iter().map(|&b| u64::from(b)).sum::<u64>() != stored {
            return Err(io::Error::other("invalid tar header checksum"));
        }
        let kind = block[156];
        let size = pax_size.take().unwrap_or(field_num(&block[124..136])?);
        match kind {
            b'L' => {
                long_name = Some(field_str(&read_meta(r, size)?));
                continue;
            }
            b'K' => {
                long_link = Some(field_str(&read_meta(r, size)?));
                continue;
            }
            b'x' => {
                let (p, l, s) = pax(&read_meta(r, size)?);
                long_name = p.or(long_name);
                long_link = l.or(long_link);
                pax_size = s;
                continue;
            }
            b'g' => {
                read_meta(r, size)?;
                continue;
            }
            _ => {}
        }
        let name = long_name.take().unwrap_or_else(|| {
            let prefix = field_str(&block[345..500]);
            let short = field_str(&block[..100]);
            if prefix.is_empty() {
                short
            } else {
                format!("{prefix}/{short}")
            }
        });
        let link = long_link
            .take()
            .unwrap_or_else(|| field_str(&block[157..257]));
        let mode = field_num(&block[100..108]).unwrap_or(0o644) as u32;
        let mtime = field_num(&block[136..148]).unwrap_or(0);
        let data_size = if matches!(kind, b'0' | 0 | b'7') {
            size
        } else {
            0
        };
        if flags.list || flags.verbose {
            let _ = writeln!(out, "{name}");
        }
        if flags.list {
            skip(r, data_size)?;
            continue;
        }
        let Some(path) = target(base, &name) else {
            skip(r, data_size)?;
            continue;
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let made = match kind {
            b'5' => std::fs::create_dir_all(&path),
            b'2' => {
                let _ = std::fs::remove_file(&path);
                crate::sys::symlink(&link, &path)
            }
            b'1' => match target(base, &link) {
                Some(from) => std::fs::copy(from, &path).map(|_| ()),
                None => Err(io::Error::other("hard link outside the archive")),
            },
            b'0' | 0 | b'7' => extract_file(r, &path, data_size),
            _ => {
                skip(r, data_size)?;
                Ok(())
            }
        };
        match made {
            Ok(()) => {
                set_mode(&path, mode, kind);
                if flags.keep_mtime && kind != b'2' {
                    set_mtime(&path, mtime);
                }
            }
            Err(e) => {
                ctx.error("tar", format!("{name}: {}", errstr(&e)));
                status = 1;
            }
        }
    }
    out.flush()?;
    // Whatever follows the end of the archive is read, so the writer never sees a broken pipe.
    let _ = io::copy(r, &mut io::sink());
    Ok(status)
}

fn skip(r: &mut impl Read, size: u64) -> io::Result<()> {
    let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
    let copied = io::copy(&mut r.take(padded), &mut io::sink())?;
    if copied < padded {
        return Err(io::Error::other("short read"));
    }
    Ok(())
}

fn extract_file(r: &mut impl Read, path: &Path, size: u64) -> io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::File::create(path)?;
    let copied = io::copy(&mut r.take(size), &mut file)?;
    if copied < size {
        return Err(io::Error::other("short read"));
    }
    let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
    io::copy(&mut r.take(pad), &mut io::sink())?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32, kind: u8) {
    use std::os::unix::fs::PermissionsExt as _;
    if kind != b'2' {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777));
    }
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32, _: u8) {}

fn set_mtime(path: &Path, mtime: u64) {
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
    if let Ok(f) = std::fs::File::options().write(true).open(path) {
        let _ = f.set_modified(when);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_target() {
        assert_eq!(member_name("/tmp/./a/../b"), "tmp/a/b");
        let base = Path::new("/x");
        assert_eq!(
            target(base, "/etc/passwd"),
            Some(PathBuf::from("/x/etc/passwd"))
        );
        assert_eq!(target(base, "a/../../etc"), None);
        assert_eq!(target(base, "./"), None);
    }

    #[test]
    fn headers_round_trip_with_long_names() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let longer = format!("{}/{}", "y".repeat(150), "z".repeat(150));
        for name in ["short.txt", long.as_str(), longer.as_str()] {
            let mut archive = Vec::new();
            header(&mut archive, name, b'0', 3, 0o600, 7, "").expect("header");
            archive.extend_from_slice(b"abc");
            archive.resize(archive.len().div_ceil(BLOCK) * BLOCK + 2 * BLOCK, 0);
            let dir = std::env::temp_dir().join(format!("tar-test-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("dir");
            if let Some((parent, _)) = name.rsplit_once('/') {
                std::fs::create_dir_all(dir.join(parent)).expect("parent");
            }
            let flags = parse(&["x".to_string()]).expect("flags");
            let ctx = Ctx::process();
            let status = read_archive(&ctx, &flags, &dir, &mut archive.as_slice())
                .unwrap_or_else(|e| panic!("{}: {e}", name.len()));
            assert_eq!(status, 0);
            assert_eq!(
                std::fs::read(dir.join(name)).ok().as_deref(),
                Some(&b"abc"[..])
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn flags_parse_as_kubectl_gives_them() {
        let v = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let f = parse(&v(&["-xmf", "-", "-C", "/tmp"])).expect("x");
        assert!(f.extract && !f.keep_mtime && f.file.as_deref() == Some("-"));
        assert_eq!(f.dir.as_deref(), Some("/tmp"));
        let f = parse(&v(&["cf", "-", "/a"])).expect("c");
        assert!(f.create && f.paths == ["/a"]);
        assert!(
            parse(&v(&[
                "--no-same-owner",
                "--no-same-permissions",
                "-xf",
                "-"
            ]))
            .is_ok()
        );
        assert!(parse(&v(&["-q"])).is_err());
    }
}
