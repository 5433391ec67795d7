//! Maps a parsed request to a response: static files under the document root, directory
//! redirects and indexes, the built-in pages and nginx-style errors.

use crate::http::{self, ReqPath, Request};
use crate::log::{http_date, os_err};
use crate::{autoindex, mime, pages};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What is being served.
#[derive(Debug, Clone)]
pub struct Site {
    pub root: PathBuf,
    pub autoindex: bool,
    /// Used as `Last-Modified` of the built-in pages.
    pub started: SystemTime,
}

#[derive(Debug)]
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// An open file and how many bytes of it to send.
    File(File, u64),
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// `None` for responses without a body length (304).
    pub content_length: Option<u64>,
    /// Further headers (`Last-Modified`, `Location`, `Allow`).
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    /// A message for the error log (the connection adds client and request details).
    pub error: Option<String>,
}

impl Response {
    fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type,
            content_length: Some(body.len() as u64),
            headers: Vec::new(),
            body: Body::Bytes(body),
            error: None,
        }
    }

    /// An nginx-style error page.
    pub fn error(status: u16) -> Response {
        Response::bytes(status, "text/html", pages::error_page(status).into_bytes())
    }

    fn logged(mut self, msg: String) -> Response {
        self.error = Some(msg);
        self
    }

    fn header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// Drops the body but keeps `Content-Length` (for HEAD).
    pub fn strip_body(&mut self) {
        self.body = Body::Empty;
    }

    /// The status line and headers.
    pub fn head(&self, date: &str, keep_alive: bool) -> Vec<u8> {
        let mut h = format!(
            "HTTP/1.1 {} {}\r\nServer: {}\r\nDate: {date}\r\n",
            self.status,
            pages::reason(self.status),
            pages::SERVER
        );
        if self.status != 304 {
            h.push_str(&format!("Content-Type: {}\r\n", self.content_type));
        }
        if let Some(len) = self.content_length {
            h.push_str(&format!("Content-Length: {len}\r\n"));
        }
        for (name, value) in &self.headers {
            h.push_str(&format!("{name}: {value}\r\n"));
        }
        h.push_str(if keep_alive {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        h.into_bytes()
    }
}

fn builtin(site: &Site, body: &str) -> Response {
    Response::bytes(200, "text/html", body.as_bytes().to_vec())
        .header("Last-Modified", http_date(site.started))
}

fn open_failed(path: &Path, e: &io::Error) -> Response {
    let status = match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => 404,
        io::ErrorKind::PermissionDenied => 403,
        _ => 500,
    };
    Response::error(status).logged(format!(
        "open() \"{}\" failed ({})",
        path.display(),
        os_err(e)
    ))
}

fn serve_file(path: &Path, req: &Request) -> Response {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return open_failed(path, &e),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            return Response::error(500).logged(format!(
                "fstat() \"{}\" failed ({})",
                path.display(),
                os_err(&e)
            ));
        }
    };
    if meta.is_dir() {
        // Raced with a rename; treat like a missing file.
        return Response::error(404);
    }
    let last_modified = meta.modified().ok().map(http_date);
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let content_type = mime::for_name(&name);
    let mut resp = Response {
        status: 200,
        content_type,
        content_length: Some(meta.len()),
        headers: Vec::new(),
        body: Body::File(file, meta.len()),
        error: None,
    };
    if let Some(lm) = last_modified {
        // nginx's default `if_modified_since exact`.
        if req
            .header("if-modified-since")
            .is_some_and(|ims| ims == lm.as_bytes())
        {
            resp.status = 304;
            resp.content_length = None;
            resp.body = Body::Empty;
        }
        resp.headers.push(("Last-Modified", lm));
    }
    resp
}

fn redirect(p: &ReqPath) -> Response {
    let mut location = http::percent_encode(format!("{}/", p.uri()).as_bytes(), true);
    if let Some(q) = &p.query {
        location.push('?');
        for &b in q {
            if (0x21..0x7f).contains(&b) {
                location.push(char::from(b));
            } else {
                location.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Response::error(301).header("Location", location)
}

/// The response to a parsed request (before HEAD stripping).
pub fn respond(site: &Site, req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::error(405).header("Allow", "GET, HEAD".to_string());
    }
    let p = match http::decode_target(&req.target) {
        Ok(p) => p,
        Err(status) => return Response::error(status),
    };
    let mut path = site.root.clone();
    for seg in &p.segments {
        path.push(seg);
    }
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => {
            if !p.trailing_slash {
                return redirect(&p);
            }
            let index = path.join("index.html");
            if std::fs::metadata(&index).is_ok_and(|m| m.is_file()) {
                return serve_file(&index, req);
            }
            if site.autoindex {
                return match autoindex::listing(&path, &p.uri()) {
                    Ok(html) => Response::bytes(200, "text/html", html.into_bytes()),
                    Err(e) => Response::error(if e.kind() == io::ErrorKind::PermissionDenied {
                        403
                    } else {
                        500
                    })
                    .logged(format!(
                        "opendir() \"{}\" failed ({})",
                        path.display(),
                        os_err(&e)
                    )),
                };
            }
            if p.segments.is_empty() {
                return builtin(site, pages::WELCOME);
            }
            Response::error(403).logged(format!(
                "directory index of \"{}/\" is forbidden",
                path.display()
            ))
        }
        Ok(_) if p.trailing_slash => Response::error(404).logged(format!(
            "\"{}/index.html\" is not found (20: Not a directory)",
            path.display()
        )),
        Ok(_) => serve_file(&path, req),
        Err(e) => {
            let one = |name: &str| p.segments.len() == 1 && p.segments[0] == name;
            if p.segments.is_empty() || (one("index.html") && !p.trailing_slash) {
                return builtin(site, pages::WELCOME);
            }
            if one("50x.html") && !p.trailing_slash {
                return builtin(site, pages::FIFTY_X);
            }
            let resp = open_failed(&path, &e);
            if resp.status == 500 && std::fs::metadata(&site.root).is_err() {
                // No usable document root at all (e.g. no filesystem on wasm): plain 404.
                return Response::error(404).logged(resp.error.unwrap_or_default());
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &str) -> Request {
        Request {
            method: method.into(),
            target: target.as_bytes().to_vec(),
            version: (1, 1),
            headers: Vec::new(),
            line: Vec::new(),
        }
    }

    fn site(root: &Path) -> Site {
        Site {
            root: root.to_path_buf(),
            autoindex: false,
            started: SystemTime::UNIX_EPOCH,
        }
    }

    fn body(r: &Response) -> String {
        match &r.body {
            Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }

    #[test]
    fn missing_root_serves_welcome() {
        let s = site(Path::new("/nonexistent/wpod-nginx-root"));
        for t in ["/", "/index.html", "/?x=1"] {
            let r = respond(&s, &req("GET", t));
            assert_eq!(r.status, 200, "{t}");
            assert!(body(&r).contains("Welcome to nginx (wpod)!"));
        }
        let r = respond(&s, &req("GET", "/50x.html"));
        assert!(body(&r).contains("An error occurred."));
        assert_eq!(respond(&s, &req("GET", "/nope")).status, 404);
        assert_eq!(respond(&s, &req("GET", "/../x")).status, 400);
        let r = respond(&s, &req("POST", "/"));
        assert_eq!(r.status, 405);
        assert_eq!(r.headers, vec![("Allow", "GET, HEAD".to_string())]);
    }

    #[test]
    fn files_and_dirs() {
        let root = std::env::temp_dir().join(format!("wpod-nginx-serve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("d/e")).expect("mkdir");
        std::fs::write(root.join("d/index.html"), b"<p>d</p>").expect("write");
        std::fs::write(root.join("a.css"), b"a{}").expect("write");
        let s = site(&root);
        let r = respond(&s, &req("GET", "/a.css"));
        assert_eq!(
            (r.status, r.content_type, r.content_length),
            (200, "text/css", Some(3))
        );
        assert!(matches!(r.body, Body::File(_, 3)));
        let lm = r.headers[0].1.clone();
        let mut cond = req("GET", "/a.css");
        cond.headers
            .push(("If-Modified-Since".into(), lm.into_bytes()));
        assert_eq!(respond(&s, &cond).status, 304);
        let r = respond(&s, &req("GET", "/d?q=1"));
        assert_eq!(r.status, 301);
        assert_eq!(r.headers, vec![("Location", "/d/?q=1".to_string())]);
        let r = respond(&s, &req("GET", "/d/"));
        assert_eq!((r.status, r.content_type), (200, "text/html"));
        let r = respond(&s, &req("GET", "/d/e/"));
        assert_eq!(r.status, 403);
        assert!(r.error.is_some());
        assert_eq!(respond(&s, &req("GET", "/a.css/")).status, 404);
        // The root exists without index.html: welcome page.
        assert!(body(&respond(&s, &req("GET", "/"))).contains("Welcome"));
        let auto = Site {
            autoindex: true,
            ..s.clone()
        };
        assert!(body(&respond(&auto, &req("GET", "/d/e/"))).contains("Index of /d/e/"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn head_bytes() {
        let mut r = Response::error(404);
        r.strip_body();
        let h = String::from_utf8(r.head("D", true)).expect("utf8");
        assert!(h.starts_with("HTTP/1.1 404 Not Found\r\nServer: nginx (wpod)\r\nDate: D\r\nContent-Type: text/html\r\nContent-Length: "));
        assert!(h.ends_with("Connection: keep-alive\r\n\r\n"));
    }
}
