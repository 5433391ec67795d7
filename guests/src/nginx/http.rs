//! HTTP/1.x request parsing (request line and header block, with limits) and request-target
//! decoding into a normalised path that can never leave the document root.

/// The largest accepted request line plus header block (like nginx's
/// `large_client_header_buffers 4 8k`, but for the whole block).
pub const MAX_HEADER: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The raw request target (`/a%20b?x=1`).
    pub target: Vec<u8>,
    /// (major, minor): (1, 0) or (1, 1).
    pub version: (u8, u8),
    /// Header names are kept as sent; look them up with [`Request::header`].
    pub headers: Vec<(String, Vec<u8>)>,
    /// The raw request line, for the access log.
    pub line: Vec<u8>,
}

/// A request that cannot be answered normally: answer with `status` and close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub status: u16,
    /// The request line when one was read (for the access log).
    pub line: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// More bytes are needed.
    Incomplete,
    /// A request and how many bytes of the buffer it used.
    Done(Request, usize),
    Error(ParseError),
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn connection_has(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Whether the client wants the connection kept open after this request:
    /// HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if self.connection_has("close") {
            return false;
        }
        self.version >= (1, 1) || self.connection_has("keep-alive")
    }

    /// The request body framing: `Ok(n)` bytes of `Content-Length` body to skip (0 when none),
    /// `Err(())` when it cannot be skipped (chunked or invalid) and the connection must close.
    pub fn body_len(&self) -> Result<u64, ()> {
        if self.header("transfer-encoding").is_some() {
            return Err(());
        }
        let mut len = None;
        for (_, v) in self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            let v = v.trim_ascii();
            if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
                return Err(());
            }
            let n: u64 = std::str::from_utf8(v)
                .map_err(|_| ())?
                .parse()
                .map_err(|_| ())?;
            if len.is_some_and(|l| l != n) {
                return Err(());
            }
            len = Some(n);
        }
        Ok(len.unwrap_or(0))
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Where the header block ends (the index just past its empty line), accepting bare LFs.
fn header_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        match buf.get(nl + 1..) {
            Some([b'\n', ..]) => return Some(nl + 2),
            Some([b'\r', b'\n', ..]) => return Some(nl + 3),
            _ => {}
        }
        i = nl + 1;
    }
    None
}

/// Parses one request from the start of `buf`.
pub fn parse(buf: &[u8]) -> Parse {
    // Empty lines before a request line are ignored (RFC 9112 section 2.2).
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    if rest.is_empty() {
        return if start > MAX_HEADER {
            Parse::Error(ParseError {
                status: 400,
                line: Vec::new(),
            })
        } else {
            Parse::Incomplete
        };
    }
    let first_line = rest
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| trim_cr(&rest[..p]));
    let line_for_log = |max: usize| -> Vec<u8> {
        first_line.map_or_else(|| rest[..rest.len().min(max)].to_vec(), <[u8]>::to_vec)
    };
    match header_end(rest) {
        Some(end) if start + end <= MAX_HEADER + 4 => match parse_block(&rest[..end]) {
            Ok(req) => Parse::Done(req, start + end),
            Err(status) => Parse::Error(ParseError {
                status,
                line: line_for_log(MAX_HEADER),
            }),
        },
        None if buf.len() <= MAX_HEADER => Parse::Incomplete,
        _ => {
            let line_len = first_line.map_or(rest.len(), <[u8]>::len);
            let status = if line_len >= MAX_HEADER { 414 } else { 431 };
            Parse::Error(ParseError {
                status,
                line: line_for_log(1024),
            })
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_block(block: &[u8]) -> Result<Request, u16> {
    let mut lines = block.split(|&b| b == b'\n').map(trim_cr);
    let line = lines.next().ok_or(400u16)?;
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if method.len() > 32 || !method.iter().all(|&b| is_tchar(b)) {
        return Err(400);
    }
    if target.iter().any(|&b| b < 0x21 || b == 0x7f) {
        return Err(400);
    }
    let version = parse_version(version)?;
    let mut headers = Vec::new();
    for h in lines {
        if h.is_empty() {
            break;
        }
        let colon = h.iter().position(|&b| b == b':').ok_or(400u16)?;
        let (name, value) = (&h[..colon], &h[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(400);
        }
        let value = value.trim_ascii();
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(400);
        }
        if headers.len() >= 100 {
            return Err(431);
        }
        // Token characters are ASCII, so this conversion is lossless.
        headers.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
    }
    Ok(Request {
        method: String::from_utf8_lossy(method).into_owned(),
        target: target.to_vec(),
        version,
        headers,
        line: line.to_vec(),
    })
}

fn parse_version(v: &[u8]) -> Result<(u8, u8), u16> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major - b'0', minor - b'0') {
                (1, m) => Ok((1, m)),
                (0, _) => Err(400),
                _ => Err(505),
            }
        }
        _ => Err(400),
    }
}

/// A decoded, normalised request path: no empty, `.` or `..` segments, never above the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReqPath {
    pub segments: Vec<String>,
    /// Whether the path names a directory (`/dir/`, `/`, `/dir/.`).
    pub trailing_slash: bool,
    /// The raw query string (without `?`), if any.
    pub query: Option<Vec<u8>>,
}

impl ReqPath {
    /// The normalised, decoded URI path (`/a b/`).
    pub fn uri(&self) -> String {
        let mut s = String::from("/");
        s.push_str(&self.segments.join("/"));
        if self.trailing_slash && !self.segments.is_empty() {
            s.push('/');
        }
        s
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes; a malformed escape is an error.
pub fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Decodes and normalises a request target. Errors are HTTP statuses (400).
pub fn decode_target(target: &[u8]) -> Result<ReqPath, u16> {
    let mut owned = None;
    // Absolute form: `http://host:port/path?query`.
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let after = &target[scheme.len()..];
            owned = Some(match after.iter().position(|&b| b == b'/' || b == b'?') {
                Some(p) if after[p] == b'/' => after[p..].to_vec(),
                Some(p) => [&b"/"[..], &after[p..]].concat(),
                None => b"/".to_vec(),
            });
            break;
        }
    }
    let t = owned.as_deref().unwrap_or(target);
    if t.first() != Some(&b'/') {
        return Err(400);
    }
    let t = match t.iter().position(|&b| b == b'#') {
        Some(p) => &t[..p],
        None => t,
    };
    let (path, query) = match t.iter().position(|&b| b == b'?') {
        Some(p) => (&t[..p], Some(t[p + 1..].to_vec())),
        None => (t, None),
    };
    let decoded = percent_decode(path).ok_or(400u16)?;
    if decoded.contains(&0) {
        return Err(400);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| 400u16)?;
    let mut segments: Vec<String> = Vec::new();
    let mut trailing_slash = decoded.ends_with('/');
    for seg in decoded.split('/') {
        match seg {
            "" => {}
            "." => trailing_slash = true,
            ".." => {
                segments.pop().ok_or(400u16)?;
                trailing_slash = true;
            }
            s => {
                segments.push(s.to_string());
                trailing_slash = false;
            }
        }
    }
    if decoded.ends_with('/') || segments.is_empty() {
        trailing_slash = true;
    }
    Ok(ReqPath {
        segments,
        trailing_slash,
        query,
    })
}

/// Percent-encodes a path for a `Location` header or an `href`: everything but unreserved
/// characters (and `/` when `keep_slash`).
pub fn percent_encode(s: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(buf: &[u8]) -> (Request, usize) {
        match parse(buf) {
            Parse::Done(r, n) => (r, n),
            other => panic!("{other:?}"),
        }
    }

    fn err(buf: &[u8]) -> u16 {
        match parse(buf) {
            Parse::Error(e) => e.status,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn simple() {
        let buf = b"GET /a?b HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n\r\nGET / HTTP/1.0\r\n\r\n";
        let (r, n) = done(buf);
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, b"/a?b");
        assert_eq!(r.version, (1, 1));
        assert_eq!(r.header("user-agent"), Some(&b"t/1"[..]));
        assert_eq!(r.line, b"GET /a?b HTTP/1.1");
        assert!(r.keep_alive());
        let (r2, n2) = done(&buf[n..]);
        assert_eq!(r2.version, (1, 0));
        assert!(!r2.keep_alive());
        assert_eq!(n + n2, buf.len());
    }

    #[test]
    fn bare_lf_and_leading_blank_lines() {
        let (r, n) = done(b"\r\n\nHEAD /x HTTP/1.0\nConnection: Keep-Alive\n\n");
        assert_eq!(r.method, "HEAD");
        assert!(r.keep_alive());
        assert_eq!(n, 44);
    }

    #[test]
    fn incomplete() {
        assert_eq!(parse(b""), Parse::Incomplete);
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parse::Incomplete);
        assert_eq!(parse(b"GET / HT"), Parse::Incomplete);
    }

    #[test]
    fn connection_header() {
        let (r, _) = done(b"GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n");
        assert!(!r.keep_alive());
    }

    #[test]
    fn errors() {
        assert_eq!(err(b"GET /\r\n\r\n"), 400);
        assert_eq!(err(b"GET / HTTP/1.1 x\r\n\r\n"), 400);
        assert_eq!(err(b"GET / FOO/1.1\r\n\r\n"), 400);
        assert_eq!(err(b"GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(err(b"G(T / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(err(b"GET / HTTP/1.1\r\nNo colon\r\n\r\n"), 400);
        assert_eq!(err(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
        assert_eq!(err(b"GET / HTTP/1.1\r\n folded\r\n\r\n"), 400);
        assert_eq!(err(b"GET /\x01 HTTP/1.1\r\n\r\n"), 400);
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        while big.len() <= MAX_HEADER {
            big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(err(&big), 431);
        big.extend_from_slice(b"\r\n");
        assert_eq!(err(&big), 431);
        let long = [b"GET /".to_vec(), vec![b'a'; MAX_HEADER + 10]].concat();
        assert_eq!(err(&long), 414);
        assert_eq!(err(&vec![b'\n'; MAX_HEADER + 1]), 400);
    }

    #[test]
    fn body_len() {
        let (r, _) = done(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(r.body_len(), Ok(5));
        let (r, _) = done(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
        assert_eq!(r.body_len(), Err(()));
        let (r, _) = done(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(r.body_len(), Err(()));
        let (r, _) = done(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(r.body_len(), Err(()));
        let (r, _) = done(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(r.body_len(), Ok(0));
    }

    fn path(t: &str) -> Result<String, u16> {
        decode_target(t.as_bytes()).map(|p| p.uri())
    }

    #[test]
    fn paths() {
        assert_eq!(path("/"), Ok("/".into()));
        assert_eq!(path("/a/b"), Ok("/a/b".into()));
        assert_eq!(path("/a/b/"), Ok("/a/b/".into()));
        assert_eq!(path("//a///b"), Ok("/a/b".into()));
        assert_eq!(path("/a/./b/../c"), Ok("/a/c".into()));
        assert_eq!(path("/a/b/.."), Ok("/a/".into()));
        assert_eq!(path("/a/."), Ok("/a/".into()));
        assert_eq!(path("/a%20b%2Fc"), Ok("/a b/c".into()));
        assert_eq!(path("/x?y=/../../etc"), Ok("/x".into()));
        assert_eq!(path("/x#frag"), Ok("/x".into()));
        assert_eq!(path("http://h:80/a/b?q"), Ok("/a/b".into()));
        assert_eq!(path("http://h:80"), Ok("/".into()));
        assert_eq!(path("http://h?q"), Ok("/".into()));
        assert_eq!(path("/%c3%a9"), Ok("/é".into()));
    }

    #[test]
    fn traversal_and_bad_paths() {
        assert_eq!(path("/.."), Err(400));
        assert_eq!(path("/../etc/passwd"), Err(400));
        assert_eq!(path("/a/../../etc/passwd"), Err(400));
        assert_eq!(path("/%2e%2e/etc/passwd"), Err(400));
        assert_eq!(path("/%2E%2E%2fetc%2fpasswd"), Err(400));
        assert_eq!(path("/a/%2e%2e/%2e%2e/x"), Err(400));
        assert_eq!(path("/a%00b"), Err(400));
        assert_eq!(path("/a%zz"), Err(400));
        assert_eq!(path("/a%2"), Err(400));
        assert_eq!(path("/%ff"), Err(400));
        assert_eq!(path("etc/passwd"), Err(400));
        assert_eq!(path("*"), Err(400));
        let p = decode_target(b"/a/..%2f..%2f").map(|p| p.segments);
        assert_eq!(p, Err(400));
        let p = decode_target(b"/a/b?x").unwrap_or_else(|s| panic!("{s}"));
        assert_eq!(p.query.as_deref(), Some(&b"x"[..]));
        assert_eq!(p.segments, ["a", "b"]);
    }

    #[test]
    fn encode() {
        assert_eq!(percent_encode(b"/a b/\xc3\xa9\"", true), "/a%20b/%C3%A9%22");
        assert_eq!(percent_encode(b"a/b", false), "a%2Fb");
    }
}
