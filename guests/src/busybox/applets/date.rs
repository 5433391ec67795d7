//! `date` and UTC calendar arithmetic (also used by `ls -l`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::io::Ctx;

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tm {
    pub year: i64,
    pub mon: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    /// 0 = Sunday.
    pub wday: u32,
    /// 0-based day of the year.
    pub yday: u32,
    pub nanos: u32,
    pub epoch: i64,
}

pub const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Days since 1970-01-01 to (year, month 1-12, day 1-31).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month 1-12, day) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

pub fn tm(epoch: i64, nanos: u32) -> Tm {
    let days = epoch.div_euclid(86400);
    let rem = epoch.rem_euclid(86400) as u32;
    let (year, mon, day) = civil(days);
    let yday = (days - days_from_civil(year, 1, 1)) as u32;
    Tm {
        year,
        mon,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        wday: (days + 4).rem_euclid(7) as u32,
        yday,
        nanos,
        epoch,
    }
}

pub fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => (-(e.duration().as_secs() as i64), 0),
    }
}

pub fn mtime(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// strftime for UTC.
pub fn format(t: &Tm, fmt: &str) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut pad: Option<char> = None;
        while let Some(&f) = it.peek() {
            match f {
                '-' => pad = Some('\0'),
                '_' => pad = Some(' '),
                '0' => pad = Some('0'),
                '^' | '#' => {}
                _ => break,
            }
            it.next();
        }
        let Some(conv) = it.next() else {
            out.push('%');
            break;
        };
        let num = |v: i64, w: usize, def: char| -> String {
            let p = pad.unwrap_or(def);
            match p {
                '\0' => v.to_string(),
                ' ' => format!("{v:>w$}"),
                _ => format!("{v:0w$}"),
            }
        };
        let hour12 = if t.hour.is_multiple_of(12) {
            12
        } else {
            t.hour % 12
        };
        let s = match conv {
            'a' => DAYS[t.wday as usize][..3].to_string(),
            'A' => DAYS[t.wday as usize].to_string(),
            'b' | 'h' => MONTHS[t.mon as usize - 1][..3].to_string(),
            'B' => MONTHS[t.mon as usize - 1].to_string(),
            'c' => format(t, "%a %b %e %H:%M:%S %Y"),
            'C' => num(t.year / 100, 2, '0'),
            'd' => num(t.day.into(), 2, '0'),
            'D' => format(t, "%m/%d/%y"),
            'e' => num(t.day.into(), 2, ' '),
            'F' => format(t, "%Y-%m-%d"),
            'G' | 'Y' => num(t.year, 1, '0'),
            'g' | 'y' => num(t.year % 100, 2, '0'),
            'H' => num(t.hour.into(), 2, '0'),
            'I' => num(hour12.into(), 2, '0'),
            'j' => num(i64::from(t.yday) + 1, 3, '0'),
            'k' => num(t.hour.into(), 2, ' '),
            'l' => num(hour12.into(), 2, ' '),
            'm' => num(t.mon.into(), 2, '0'),
            'M' => num(t.min.into(), 2, '0'),
            'n' => "\n".into(),
            'N' => format!("{:09}", t.nanos),
            'p' => if t.hour < 12 { "AM" } else { "PM" }.into(),
            'P' => if t.hour < 12 { "am" } else { "pm" }.into(),
            'r' => format(t, "%I:%M:%S %p"),
            'R' => format(t, "%H:%M"),
            's' => t.epoch.to_string(),
            'S' => num(t.sec.into(), 2, '0'),
            't' => "\t".into(),
            'T' => format(t, "%H:%M:%S"),
            'u' => (if t.wday == 0 { 7 } else { t.wday }).to_string(),
            'w' => t.wday.to_string(),
            'U' => num(((t.yday + 7 - t.wday) / 7).into(), 2, '0'),
            'W' => num(((t.yday + 7 - (t.wday + 6) % 7) / 7).into(), 2, '0'),
            'V' => {
                let wd = (t.wday + 6) % 7;
                let w = (i64::from(t.yday) - i64::from(wd) + 10) / 7;
                num(w.clamp(1, 53), 2, '0')
            }
            'x' => format(t, "%m/%d/%y"),
            'X' => format(t, "%H:%M:%S"),
            'z' => "+0000".into(),
            'Z' => "UTC".into(),
            '%' => "%".into(),
            other => format!("%{other}"),
        };
        out.push_str(&s);
    }
    out
}

/// Parses `-d` dates: `@SECONDS`, `YYYY-MM-DD[ T]HH:MM[:SS]`, `HH:MM[:SS]` (today), `now`.
pub fn parse(s: &str, now: i64) -> Option<i64> {
    let s = s.trim();
    if s == "now" || s.is_empty() {
        return Some(now);
    }
    if let Some(n) = s.strip_prefix('@') {
        return n.trim().parse().ok();
    }
    let s = s.trim_end_matches('Z').trim_end_matches(" UTC");
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (Some(d), Some(t)),
        None if s.contains(':') => (None, Some(s)),
        None => (Some(s), None),
    };
    let day = match date {
        Some(d) => {
            let p: Vec<&str> = d.split(['-', '/', '.']).collect();
            let [y, m, dd] = p.as_slice() else {
                return None;
            };
            let (y, m, dd): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, dd.parse().ok()?);
            if !(1..=12).contains(&m) || dd == 0 || dd > 31 {
                return None;
            }
            days_from_civil(y, m, dd)
        }
        None => now.div_euclid(86400),
    };
    let secs = match time {
        Some(t) => {
            let p: Vec<&str> = t.split(':').collect();
            let h: i64 = p.first()?.parse().ok()?;
            let m: i64 = p.get(1).map(|v| v.parse().ok()).unwrap_or(Some(0))?;
            let sec: i64 = p
                .get(2)
                .map(|v| v.split('.').next().unwrap_or("0").parse().ok())
                .unwrap_or(Some(0))?;
            if h > 23 || m > 59 || sec > 60 {
                return None;
            }
            h * 3600 + m * 60 + sec
        }
        None => 0,
    };
    Some(day * 86400 + secs)
}

pub fn date(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (mut t, mut nanos) = now();
    let mut fmt: Option<String> = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-u" | "--utc" => {}
            "-R" => fmt = Some("%a, %d %b %Y %H:%M:%S +0000".into()),
            "-I" | "-Idate" => fmt = Some("%Y-%m-%d".into()),
            "-Iseconds" => fmt = Some("%Y-%m-%dT%H:%M:%S+00:00".into()),
            "-Iminutes" => fmt = Some("%Y-%m-%dT%H:%M+00:00".into()),
            "-Ihours" => fmt = Some("%Y-%m-%dT%H+00:00".into()),
            "-d" | "-D" | "-r" => {
                i += 1;
                let Some(v) = args.get(i) else {
                    ctx.error(
                        "date",
                        format!("option requires an argument -- '{}'", &a[1..]),
                    );
                    return 1;
                };
                if a == "-r" {
                    match std::fs::metadata(ctx.path(v)).and_then(|m| m.modified()) {
                        Ok(m) => {
                            t = mtime(m);
                            nanos = 0;
                        }
                        Err(e) => {
                            ctx.error(
                                "date",
                                format!("can't stat '{v}': {}", crate::io::errstr(&e)),
                            );
                            return 1;
                        }
                    }
                } else if a == "-d" {
                    match parse(v, t) {
                        Some(v) => {
                            t = v;
                            nanos = 0;
                        }
                        None => {
                            ctx.error("date", format!("invalid date '{v}'"));
                            return 1;
                        }
                    }
                }
            }
            s if s.starts_with('+') => fmt = Some(s[1..].to_string()),
            s if s.starts_with("-d") => match parse(&s[2..], t) {
                Some(v) => t = v,
                None => {
                    ctx.error("date", format!("invalid date '{}'", &s[2..]));
                    return 1;
                }
            },
            s if s.starts_with('-') => {
                ctx.error("date", format!("unrecognized option '{s}'"));
                return 1;
            }
            _ => {
                ctx.error("date", "can't set date: Operation not permitted");
                return 1;
            }
        }
        i += 1;
    }
    let f = fmt.unwrap_or_else(|| "%a %b %e %H:%M:%S %Z %Y".into());
    ctx.write_out(format!("{}\n", format(&tm(t, nanos), &f)).as_bytes());
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        let t = tm(0, 0);
        assert_eq!((t.year, t.mon, t.day, t.wday), (1970, 1, 1, 4));
        // 2026-11-27 06:18:04 UTC, a Friday.
        let e = days_from_civil(2026, 11, 27) * 86400 + 6 * 3600 + 18 * 60 + 4;
        let t = tm(e, 0);
        assert_eq!(
            format(&t, "%a %b %e %H:%M:%S %Z %Y"),
            "Fri Nov 27 06:18:04 UTC 2026"
        );
        assert_eq!(
            format(&t, "%Y-%m-%d %s %j %%"),
            format!("2026-11-27 {e} 331 %")
        );
        let t = tm(days_from_civil(2024, 2, 29) * 86400, 0);
        assert_eq!(
            format(&t, "%F %A %B %e|%-d|%I%p"),
            "2024-02-29 Thursday February 29|29|12AM"
        );
        assert_eq!(
            format(&tm(days_from_civil(2000, 3, 5) * 86400, 0), "%e %D"),
            " 5 03/05/00"
        );
        let t = tm(-1, 0);
        assert_eq!((t.year, t.mon, t.day, t.hour), (1969, 12, 31, 23));
    }

    #[test]
    fn parsing() {
        assert_eq!(parse("@100", 0), Some(100));
        assert_eq!(parse("1970-01-02", 0), Some(86400));
        assert_eq!(parse("1970-01-02 01:00:01", 0), Some(90001));
        assert_eq!(
            parse("2026-11-27T06:18:04Z", 0),
            Some(days_from_civil(2026, 11, 27) * 86400 + 22684)
        );
        assert_eq!(parse("01:00", 86400 * 3 + 5), Some(86400 * 3 + 3600));
        assert_eq!(parse("garbage", 0), None);
    }
}
