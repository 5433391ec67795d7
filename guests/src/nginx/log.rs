//! Dates (written by hand, always UTC), the combined access log on stdout and nginx-style
//! error-log lines on stderr.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    /// 0 = Sunday
    pub weekday: u32,
}

impl Civil {
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            min: (rem / 60 % 60) as u32,
            sec: (rem % 60) as u32,
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    pub fn from_system(t: SystemTime) -> Civil {
        let secs = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(0),
        };
        Civil::from_unix(secs)
    }

    fn mon(&self) -> &'static str {
        MONTHS[(self.month as usize).saturating_sub(1) % 12]
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 IMF-fixdate).
    pub fn http(&self) -> String {
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            DAYS[self.weekday as usize % 7],
            self.day,
            self.mon(),
            self.year,
            self.hour,
            self.min,
            self.sec
        )
    }

    /// `27/Nov/2026:06:18:04 +0000` (nginx `$time_local`, always UTC here).
    pub fn access(&self) -> String {
        format!(
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
            self.day,
            self.mon(),
            self.year,
            self.hour,
            self.min,
            self.sec
        )
    }

    /// `2026/11/27 06:18:04` (nginx error log).
    pub fn error(&self) -> String {
        format!(
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.min, self.sec
        )
    }

    /// `27-Nov-2026 06:18` (autoindex listing).
    pub fn listing(&self) -> String {
        format!(
            "{:02}-{}-{:04} {:02}:{:02}",
            self.day,
            self.mon(),
            self.year,
            self.hour,
            self.min
        )
    }
}

pub fn http_date(t: SystemTime) -> String {
    Civil::from_system(t).http()
}

/// Escapes a value for the access log the way nginx does: `"`, `\` and bytes outside
/// printable ASCII become `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            s.push_str(&format!("\\x{b:02X}"));
        } else {
            s.push(char::from(b));
        }
    }
    s
}

/// What one access-log line needs.
#[derive(Debug, Clone)]
pub struct Access {
    pub client: String,
    /// The raw request line, or empty when none was read.
    pub request: Vec<u8>,
    pub status: u16,
    pub referer: Option<Vec<u8>>,
    pub user_agent: Option<Vec<u8>>,
}

fn opt(v: &Option<Vec<u8>>) -> String {
    match v {
        Some(v) if !v.is_empty() => escape(v),
        _ => "-".to_string(),
    }
}

/// The combined log format:
/// `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`.
pub fn access_line(a: &Access, body_bytes: u64, now: SystemTime) -> String {
    format!(
        "{} - - [{}] \"{}\" {} {} \"{}\" \"{}\"",
        a.client,
        Civil::from_system(now).access(),
        escape(&a.request),
        a.status,
        body_bytes,
        opt(&a.referer),
        opt(&a.user_agent)
    )
}

pub fn access(a: &Access, body_bytes: u64) {
    let line = access_line(a, body_bytes, SystemTime::now());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The process id shown as `PID#TID` in error lines: 1 as a container's main process, another
/// with `shareProcessNamespace: true` (the pod's pause is 1) or under `nginx -s`.
pub fn pid() -> u32 {
    #[cfg(target_arch = "wasm32")]
    return crate::common::wit::wpod::process::process::getpid();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::id()
}

pub fn error_line(level: &str, msg: &str, now: SystemTime) -> String {
    let pid = pid();
    format!(
        "{} [{level}] {pid}#{pid}: {msg}",
        Civil::from_system(now).error()
    )
}

/// Writes an error-log line (`2026/11/27 06:18:04 [error] 1#1: ...`) to stderr.
pub fn error(level: &str, msg: &str) {
    let line = error_line(level, msg, SystemTime::now());
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// An OS error as nginx prints it: `98: Address already in use`.
pub fn os_err(e: &std::io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(n) => {
            let suffix = format!(" (os error {n})");
            format!("{n}: {}", text.strip_suffix(&suffix).unwrap_or(&text))
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn civil_dates() {
        let c = Civil::from_unix(0);
        assert_eq!((c.year, c.month, c.day, c.weekday), (1970, 1, 1, 4));
        // 1994-11-06 08:49:37 UTC, a Sunday.
        let c = Civil::from_unix(784_111_777);
        assert_eq!(c.http(), "Sun, 06 Nov 1994 08:49:37 GMT");
        // 2000-02-29 (leap day).
        assert_eq!(
            Civil::from_unix(951_782_400).http(),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        // 2026-11-27 06:18:04 UTC.
        let c = Civil::from_unix(1_795_760_284);
        assert_eq!(c.access(), "27/Nov/2026:06:18:04 +0000");
        assert_eq!(c.error(), "2026/11/27 06:18:04");
        assert_eq!(c.listing(), "27-Nov-2026 06:18");
        assert_eq!(c.http(), "Fri, 27 Nov 2026 06:18:04 GMT");
        assert_eq!(
            Civil::from_unix(-1).error(),
            "1969/12/31 23:59:59",
            "before the epoch"
        );
    }

    #[test]
    fn access_format() {
        let a = Access {
            client: "127.0.0.1".into(),
            request: b"GET / HTTP/1.1".to_vec(),
            status: 200,
            referer: None,
            user_agent: Some(b"curl/8.5.0".to_vec()),
        };
        let t = UNIX_EPOCH + Duration::from_secs(1_795_760_284);
        assert_eq!(
            access_line(&a, 615, t),
            "127.0.0.1 - - [27/Nov/2026:06:18:04 +0000] \"GET / HTTP/1.1\" 200 615 \"-\" \"curl/8.5.0\""
        );
        assert_eq!(escape(b"a\"b\\c\x01\xff"), "a\\x22b\\x5Cc\\x01\\xFF");
    }

    #[test]
    fn error_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_760_284);
        let line = error_line("notice", "start worker process", t);
        assert!(line.starts_with("2026/11/27 06:18:04 [notice] "), "{line}");
        assert!(line.ends_with(": start worker process"), "{line}");
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert!(os_err(&e).starts_with(&format!("{}: ", libc::ENOENT)));
    }
}
