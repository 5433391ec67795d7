//! Built-in pages: the welcome page, `/50x.html` and nginx-style error pages.

pub const SERVER: &str = "nginx (wpod)";

/// Served for `/` and `/index.html` when the document root or its `index.html` is missing.
pub const WELCOME: &str = include_str!("welcome.html");

/// Served for `/50x.html` when the document root has none (as the real image ships one).
pub const FIFTY_X: &str = include_str!("50x.html");

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        408 => "Request Time-out",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Temporarily Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The body nginx sends for an error status.
pub fn error_page(status: u16) -> String {
    let title = format!("{status} {}", reason(status));
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n\
         <center><h1>{title}</h1></center>\r\n<hr><center>{SERVER}</center>\r\n\
         </body>\r\n</html>\r\n"
    )
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        assert_eq!(
            error_page(404).replace("\r\n", ""),
            "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx (wpod)</center></body></html>"
        );
        assert!(WELCOME.contains("<title>Welcome to nginx (wpod)!</title>"));
        assert!(WELCOME.contains("WebAssembly"));
        assert!(FIFTY_X.contains("An error occurred."));
        assert_eq!(html_escape("<a&\"'>"), "&lt;a&amp;&quot;&#39;&gt;");
    }
}
