//! Durations on the command line: `500ms`, `10s`, `2m`, `1m30s`, `1h`; a bare number is seconds.

use std::time::Duration;

pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || {
        format!("invalid duration `{s}`: use a number with a unit, such as 500ms, 10s, 2m or 1m30s")
    };
    // What a Duration holds (584 billion years) is far beyond any use; waits further out than
    // a century are cut to a century where they are used (pod::clock::later).
    let too_long = || format!("invalid duration `{s}`: too long");
    let of_secs = |secs: f64| {
        Duration::try_from_secs_f64(secs).map_err(|_| if secs > 0.0 { too_long() } else { bad() })
    };
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return of_secs(secs);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        let part = of_secs(n * scale)?;
        total = total.checked_add(part).ok_or_else(too_long)?;
        rest = next;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn refusals() {
        for s in ["", "s", "10x", "-1", "1d", "ten"] {
            assert!(parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn huge_values_are_refused_not_a_panic() {
        let max = u64::MAX.to_string();
        for s in [
            format!("{max}s{max}s"),
            format!("{max}h"),
            "1e300".to_string(),
            format!("{max}{max}"),
        ] {
            let e = parse(&s).expect_err(&s);
            assert!(e.contains("too long"), "{s}: {e}");
        }
        assert!(parse("inf").is_err() && parse("NaN").is_err());
        // Long but representable: accepted, and saturated where it is used.
        assert_eq!(
            parse("1000000000h"),
            Ok(Duration::from_secs(3_600_000_000_000))
        );
    }
}
