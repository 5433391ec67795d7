//! Kubernetes resource quantities (`64Mi`, `500m`, `1.5`, `129e6`) as whole numbers.
//!
//! The grammar is the API server's: a decimal number with an optional binary-SI suffix
//! (Ki … Ei), decimal-SI suffix (n, u, m, k, M … E) or exponent (`e3`, `E-2`).
//! Fractions round up, as `Quantity.Value()` and `MilliValue()` do.

/// Bytes for a memory quantity: `64Mi` → 67108864, `1G` → 1000000000.
pub fn parse_memory_bytes(text: &str) -> Result<u64, String> {
    parse(text)?.scaled(0)
}

/// Millicores for a CPU quantity: `500m` → 500, `1` → 1000, `0.5` → 500.
pub fn parse_cpu_millis(text: &str) -> Result<u64, String> {
    parse(text)?.scaled(3)
}

/// `digits / 10^fraction_digits * 2^binary_exp * 10^decimal_exp`.
#[derive(Debug)]
struct Quantity {
    digits: u128,
    fraction_digits: i64,
    binary_exp: u32,
    decimal_exp: i64,
}

// 38 decimal digits always fit in a u128.
const MAX_DIGITS: usize = 38;

fn parse(text: &str) -> Result<Quantity, String> {
    let invalid = || {
        format!(
            "{text:?} is not a quantity: expected a number with an optional suffix such as 64Mi, 1G or 500m"
        )
    };
    let unsigned = match text.strip_prefix('+') {
        Some(rest) => rest,
        None if text.starts_with('-') => {
            return Err(format!(
                "{text:?} is negative; quantities must be at least 0"
            ));
        }
        None => text,
    };
    let number_len = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(invalid());
    }
    let all_digits = format!("{whole}{fraction}");
    let significant = all_digits.trim_start_matches('0');
    if significant.len() > MAX_DIGITS {
        return Err(format!("{text:?} has too many digits"));
    }
    let digits = if significant.is_empty() {
        0
    } else {
        significant.parse::<u128>().map_err(|_| invalid())?
    };
    let (binary_exp, decimal_exp) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        _ => (0, exponent(suffix).ok_or_else(invalid)?),
    };
    Ok(Quantity {
        digits,
        fraction_digits: i64::try_from(fraction.len()).map_err(|_| invalid())?,
        binary_exp,
        decimal_exp,
    })
}

/// `e3`, `E-2`, `e+6`: an exponent suffix, bounded so the arithmetic stays simple.
fn exponent(suffix: &str) -> Option<i64> {
    let rest = suffix.strip_prefix(['e', 'E'])?;
    let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

impl Quantity {
    /// The quantity in units of 10^-`scale`, rounded up.
    fn scaled(&self, scale: i64) -> Result<u64, String> {
        let too_large = || "quantity is too large".to_owned();
        if self.digits == 0 {
            return Ok(0);
        }
        let numerator = self
            .digits
            .checked_mul(2u128.checked_pow(self.binary_exp).ok_or_else(too_large)?)
            .ok_or_else(too_large)?;
        let exp = self.decimal_exp + scale - self.fraction_digits;
        let value = if exp >= 0 {
            let factor = u32::try_from(exp).ok().and_then(|e| 10u128.checked_pow(e));
            factor
                .and_then(|f| numerator.checked_mul(f))
                .ok_or_else(too_large)?
        } else {
            match u32::try_from(-exp).ok().and_then(|e| 10u128.checked_pow(e)) {
                Some(divisor) => numerator.div_ceil(divisor),
                // Smaller than any representable divisor, but not zero: rounds up to one unit.
                None => 1,
            }
        };
        u64::try_from(value).map_err(|_| too_large())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_in_all_spellings() {
        for (text, bytes) in [
            ("64Mi", 64 << 20),
            ("1G", 1_000_000_000),
            ("128974848", 128_974_848),
            ("129e6", 129_000_000),
            ("129M", 129_000_000),
            ("123Mi", 123 << 20),
            ("1.5Gi", 3 << 29),
            ("0", 0),
            ("+1k", 1000),
            ("1E3", 1000),
            (".5Ki", 512),
            ("1m", 1),
            ("0.0001", 1),
        ] {
            assert_eq!(parse_memory_bytes(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn cpu_in_millicores() {
        for (text, millis) in [
            ("500m", 500),
            ("1", 1000),
            ("0.5", 500),
            ("2.25", 2250),
            ("100u", 1),
            ("1e-3", 1),
            ("0.1", 100),
        ] {
            assert_eq!(parse_cpu_millis(text), Ok(millis), "{text}");
        }
    }

    #[test]
    fn refuses_what_kubernetes_refuses() {
        for text in [
            "", "Mi", "64 Mi", "64MB", "1.2.3", "abc", "1e", "0x10", "1Mii", ".",
        ] {
            assert!(parse_memory_bytes(text).is_err(), "{text}");
        }
        assert!(parse_memory_bytes("-1").is_err_and(|e| e.contains("negative")));
        assert!(parse_memory_bytes("99999999999Ei").is_err_and(|e| e.contains("too large")));
        assert!(parse_memory_bytes("1e9999").is_err());
        assert!(parse_memory_bytes(&"9".repeat(50)).is_err());
    }
}
