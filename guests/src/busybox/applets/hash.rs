//! `md5sum` and `sha256sum` (with `-c` checking), and the hash functions themselves.

use std::io::Write;

use super::{finish, opts};
use crate::io::{Ctx, errstr};

pub trait Hasher {
    fn update(&mut self, data: &[u8]);
    fn digest(self: Box<Self>) -> Vec<u8>;
}

/// Shared 64-byte block buffering for MD5 and SHA-256.
struct Blocks {
    buf: [u8; 64],
    len: usize,
    total: u64,
}

impl Blocks {
    fn new() -> Self {
        Blocks {
            buf: [0; 64],
            len: 0,
            total: 0,
        }
    }
    fn feed(&mut self, mut data: &[u8], mut f: impl FnMut(&[u8; 64])) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.len > 0 {
            let n = (64 - self.len).min(data.len());
            self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
            if self.len < 64 {
                return;
            }
            let b = self.buf;
            f(&b);
            self.len = 0;
        }
        let mut chunks = data.chunks_exact(64);
        for c in &mut chunks {
            let mut b = [0u8; 64];
            b.copy_from_slice(c);
            f(&b);
        }
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.len = rest.len();
    }
    /// Padding with the bit length, little- or big-endian.
    fn finish(&mut self, big_endian: bool, mut f: impl FnMut(&[u8; 64])) {
        let bits = self.total.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        let rem = (self.total + 1) % 64;
        let zeros = if rem <= 56 { 56 - rem } else { 120 - rem };
        pad.extend(std::iter::repeat_n(0u8, zeros as usize));
        pad.extend_from_slice(&if big_endian {
            bits.to_be_bytes()
        } else {
            bits.to_le_bytes()
        });
        let total = self.total;
        self.feed(&pad, &mut f);
        self.total = total;
    }
}

pub struct Md5 {
    s: [u32; 4],
    b: Blocks,
}

const MD5_S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

const MD5_K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

fn md5_block(s: &mut [u32; 4], blk: &[u8; 64]) {
    let m: Vec<u32> = blk
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let (mut a, mut b, mut c, mut d) = (s[0], s[1], s[2], s[3]);
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let k = MD5_K[i];
        let f = f.wrapping_add(a).wrapping_add(k).wrapping_add(m[g]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(f.rotate_left(MD5_S[i]));
    }
    s[0] = s[0].wrapping_add(a);
    s[1] = s[1].wrapping_add(b);
    s[2] = s[2].wrapping_add(c);
    s[3] = s[3].wrapping_add(d);
}

impl Md5 {
    pub fn new() -> Md5 {
        Md5 {
            s: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476],
            b: Blocks::new(),
        }
    }
}

impl Hasher for Md5 {
    fn update(&mut self, data: &[u8]) {
        let s = &mut self.s;
        self.b.feed(data, |blk| md5_block(s, blk));
    }
    fn digest(mut self: Box<Self>) -> Vec<u8> {
        let s = &mut self.s;
        self.b.finish(false, |blk| md5_block(s, blk));
        self.s.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

const K256: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

pub struct Sha256 {
    h: [u32; 8],
    b: Blocks,
}

fn sha256_block(h: &mut [u32; 8], blk: &[u8; 64]) {
    let mut w = [0u32; 64];
    for (i, c) in blk.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
    let mut v = *h;
    for i in 0..64 {
        let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
        let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
        let t1 = v[7]
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K256[i])
            .wrapping_add(w[i]);
        let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
        let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        let t2 = s0.wrapping_add(maj);
        v = [
            t1.wrapping_add(t2),
            v[0],
            v[1],
            v[2],
            v[3].wrapping_add(t1),
            v[4],
            v[5],
            v[6],
        ];
    }
    for i in 0..8 {
        h[i] = h[i].wrapping_add(v[i]);
    }
}

impl Sha256 {
    pub fn new() -> Sha256 {
        Sha256 {
            h: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            b: Blocks::new(),
        }
    }
}

impl Hasher for Sha256 {
    fn update(&mut self, data: &[u8]) {
        let h = &mut self.h;
        self.b.feed(data, |blk| sha256_block(h, blk));
    }
    fn digest(mut self: Box<Self>) -> Vec<u8> {
        let h = &mut self.h;
        self.b.finish(true, |blk| sha256_block(h, blk));
        self.h.iter().flat_map(|w| w.to_be_bytes()).collect()
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hash_fd(fd: &crate::io::Fd, mut h: Box<dyn Hasher>) -> std::io::Result<String> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = fd.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.digest()))
}

fn sum(ctx: &mut Ctx, name: &str, args: &[String], new: fn() -> Box<dyn Hasher>) -> i32 {
    let Some(o) = opts(ctx, name, args, "cbtswq") else {
        return 1;
    };
    let mut files = o.args.clone();
    if files.is_empty() {
        files.push("-".into());
    }
    let mut out = ctx.out();
    let mut st = 0;
    let r = (|| -> std::io::Result<()> {
        for f in &files {
            let fd = match ctx.open(f) {
                Ok(fd) => fd,
                Err(e) => {
                    ctx.error(name, format!("can't open '{f}': {}", errstr(&e)));
                    st = 1;
                    continue;
                }
            };
            if o.has('c') {
                let mut list = Vec::new();
                fd.read_all(&mut list)?;
                for line in String::from_utf8_lossy(&list).lines() {
                    let Some((want, file)) = line.split_once(' ') else {
                        continue;
                    };
                    let file = file.trim_start_matches([' ', '*']);
                    let got = match ctx.open(file) {
                        Ok(fd) => hash_fd(&fd, new()).ok(),
                        Err(_) => None,
                    };
                    let ok = got.as_deref() == Some(want);
                    if !ok {
                        st = 1;
                    }
                    if !(o.has('s') || o.has('q') && ok) {
                        writeln!(out, "{file}: {}", if ok { "OK" } else { "FAILED" })?;
                    }
                }
                continue;
            }
            let h = hash_fd(&fd, new())?;
            writeln!(out, "{h}  {f}")?;
        }
        out.flush()
    })();
    match r {
        Ok(()) => st,
        Err(e) => finish(ctx, name, Err(e)),
    }
}

pub fn md5sum(ctx: &mut Ctx, args: &[String]) -> i32 {
    sum(ctx, "md5sum", args, || Box::new(Md5::new()))
}

pub fn sha256sum(ctx: &mut Ctx, args: &[String]) -> i32 {
    sum(ctx, "sha256sum", args, || Box::new(Sha256::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(s: &[u8]) -> String {
        let mut h: Box<dyn Hasher> = Box::new(Md5::new());
        h.update(s);
        hex(&h.digest())
    }

    fn sha(s: &[u8]) -> String {
        let mut h: Box<dyn Hasher> = Box::new(Sha256::new());
        h.update(s);
        hex(&h.digest())
    }

    #[test]
    fn md5_vectors() {
        assert_eq!(md5(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(
            md5(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            ),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn sha256_vectors() {
        assert_eq!(
            sha(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let million = vec![b'a'; 1_000_000];
        assert_eq!(
            sha(&million),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn split_updates() {
        let mut h: Box<dyn Hasher> = Box::new(Sha256::new());
        for c in b"abc".chunks(1) {
            h.update(c);
        }
        assert_eq!(hex(&h.digest()), sha(b"abc"));
    }
}
