//! `Content-Type` by file extension (a subset of nginx's `mime.types`).

const TYPES: &[(&str, &str)] = &[
    ("html", "text/html"),
    ("htm", "text/html"),
    ("shtml", "text/html"),
    ("css", "text/css"),
    ("js", "application/javascript"),
    ("mjs", "application/javascript"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("xml", "text/xml"),
    ("txt", "text/plain"),
    ("md", "text/plain"),
    ("csv", "text/csv"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("svg", "image/svg+xml"),
    ("svgz", "image/svg+xml"),
    ("ico", "image/x-icon"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("bmp", "image/x-ms-bmp"),
    ("wasm", "application/wasm"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
];

pub const DEFAULT: &str = "application/octet-stream";

/// The content type for a file name, by its extension (case-insensitive).
pub fn for_name(name: &str) -> &'static str {
    let base = name.rsplit('/').next().unwrap_or(name);
    let Some((stem, ext)) = base.rsplit_once('.') else {
        return DEFAULT;
    };
    if stem.is_empty() {
        // A dot file such as `.json` has no extension.
        return DEFAULT;
    }
    TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or(DEFAULT, |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::for_name;

    #[test]
    fn types() {
        assert_eq!(for_name("index.html"), "text/html");
        assert_eq!(for_name("/a/b/STYLE.CSS"), "text/css");
        assert_eq!(for_name("app.js"), "application/javascript");
        assert_eq!(for_name("x.json"), "application/json");
        assert_eq!(for_name("x.png"), "image/png");
        assert_eq!(for_name("x.jpg"), "image/jpeg");
        assert_eq!(for_name("x.gif"), "image/gif");
        assert_eq!(for_name("x.svg"), "image/svg+xml");
        assert_eq!(for_name("favicon.ico"), "image/x-icon");
        assert_eq!(for_name("a.txt"), "text/plain");
        assert_eq!(for_name("m.wasm"), "application/wasm");
        assert_eq!(for_name("d.pdf"), "application/pdf");
        assert_eq!(for_name("f.woff2"), "font/woff2");
        assert_eq!(for_name("noext"), "application/octet-stream");
        assert_eq!(for_name(".json"), "application/octet-stream");
        assert_eq!(for_name("a.tar.gz"), "application/gzip");
        assert_eq!(for_name("x.unknown"), "application/octet-stream");
    }
}
