//! The directory listing served when `NGINX_AUTOINDEX=on` (nginx's `autoindex on;` format).

use crate::http::percent_encode;
use crate::log::Civil;
use crate::pages::html_escape;
use std::path::Path;

struct Entry {
    name: String,
    dir: bool,
    mtime: Option<std::time::SystemTime>,
    size: u64,
}

/// The listing of `dir`, whose URI is `uri` (ending in `/`). Hidden entries are left out.
pub fn listing(dir: &Path, uri: &str) -> std::io::Result<String> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // Follow symlinks like nginx does; skip entries that vanished or cannot be read.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        entries.push(Entry {
            name,
            dir: meta.is_dir(),
            mtime: meta.modified().ok(),
            size: meta.len(),
        });
    }
    entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    let title = html_escape(uri);
    let mut out = format!(
        "<html>\r\n<head><title>Index of {title}</title></head>\r\n<body>\r\n\
         <h1>Index of {title}</h1><hr><pre><a href=\"../\">../</a>\r\n"
    );
    for e in &entries {
        let slash = if e.dir { "/" } else { "" };
        let shown = format!("{}{slash}", e.name);
        let pad = 51usize.saturating_sub(shown.chars().count()).max(1);
        let date = e
            .mtime
            .map_or_else(|| "-".repeat(17), |t| Civil::from_system(t).listing());
        let size = if e.dir {
            "-".to_string()
        } else {
            e.size.to_string()
        };
        out.push_str(&format!(
            "<a href=\"{}{slash}\">{}</a>{}{date} {size:>19}\r\n",
            percent_encode(e.name.as_bytes(), false),
            html_escape(&shown),
            " ".repeat(pad),
        ));
    }
    out.push_str("</pre><hr></body>\r\n</html>\r\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::listing;

    #[test]
    fn lists_dirs_first_and_escapes() {
        let dir = std::env::temp_dir().join(format!("wpod-nginx-autoindex-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join("a <b>.txt"), b"hello").expect("write");
        std::fs::write(dir.join(".hidden"), b"x").expect("write");
        let html = listing(&dir, "/d/").expect("listing");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(html.contains("<title>Index of /d/</title>"), "{html}");
        let sub = html.find("<a href=\"sub/\">sub/</a>").expect("sub");
        let file = html
            .find("<a href=\"a%20%3Cb%3E.txt\">a &lt;b&gt;.txt</a>")
            .expect("file");
        assert!(sub < file);
        assert!(!html.contains("hidden"));
        assert!(html.contains("                  5\r\n"), "{html}");
    }
}
