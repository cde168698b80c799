//! Kubernetes resource quantities in the canonical form the API machinery prints.
//!
//! The operator builds typed Go objects, so every quantity it writes has been through
//! `resource.Quantity`: `0.5` becomes `500m`, `1000` becomes `1k`, `1024Mi` becomes `1Gi`, and
//! values already in canonical form keep their spelling. [`canonical`] reproduces that rule
//! (sign, SI and binary suffixes, decimal exponents, rounding up to nano units); [`parse_ok`]
//! is the validity check.

/// The suffix classes of a quantity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    DecimalExponent,
    DecimalSI,
    BinarySI,
}

struct Parsed<'a> {
    negative: bool,
    num: &'a str,
    denom: &'a str,
    base: u32,
    exponent: i32,
    format: Format,
}

fn parse(s: &str) -> Option<Parsed<'_>> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut pos = 0;
    let mut negative = false;
    match b[0] {
        b'-' => {
            negative = true;
            pos = 1;
        }
        b'+' => pos = 1,
        _ => {}
    }
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    let num_start = pos;
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = &s[num_start..pos];
    let num = if num.is_empty() { "0" } else { num };
    let mut denom = "";
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        let d = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[d..pos];
    }
    let suffix = &s[pos..];
    let (base, exponent, format) = interpret(suffix)?;
    Some(Parsed {
        negative,
        num,
        denom,
        base,
        exponent,
        format,
    })
}

fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    let si = |e| Some((10, e, Format::DecimalSI));
    let bin = |e| Some((2, e, Format::BinarySI));
    match suffix {
        "" => si(0),
        "n" => si(-9),
        "u" => si(-6),
        "m" => si(-3),
        "k" => si(3),
        "M" => si(6),
        "G" => si(9),
        "T" => si(12),
        "P" => si(15),
        "E" => si(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let e: i32 = rest.parse().ok()?;
            // Far beyond any real quantity; bounding it keeps the arithmetic exact.
            if !(-1000..=1000).contains(&e) {
                return None;
            }
            Some((10, e, Format::DecimalExponent))
        }
    }
}

/// True when `s` is a valid Kubernetes quantity.
pub fn parse_ok(s: &str) -> bool {
    parse(s).is_some()
}

/// True when `s` is a valid quantity greater than zero.
pub fn is_positive(s: &str) -> bool {
    parse(s).is_some_and(|p| {
        !p.negative
            && (!p.num.trim_start_matches('0').is_empty() || !p.denom.trim_matches('0').is_empty())
    })
}

/// The canonical spelling of a quantity, as a Go operator would serialise it. Invalid input is
/// returned unchanged (validation reports it before rendering).
pub fn canonical(s: &str) -> String {
    canonical_opt(s).unwrap_or_else(|| s.to_string())
}

fn canonical_opt(s: &str) -> Option<String> {
    if s == "0" {
        return Some("0".into());
    }
    let p = parse(s)?;
    if reuses_spelling(s, &p) {
        return Some(s.to_string());
    }
    // value = mantissa * 10^scale10 (decimal) after folding in the suffix.
    let digits = format!("{}{}", p.num, p.denom);
    let mut mantissa: i128 = digits.parse().ok()?;
    let mut scale10: i32 = -(p.denom.len() as i32);
    if p.base == 10 {
        scale10 = scale10.checked_add(p.exponent)?;
    } else {
        mantissa = mantissa.checked_mul(1i128.checked_shl(p.exponent as u32)?)?;
    }
    // Round up (away from zero) to nano units.
    if scale10 < -9 {
        let drop = (-9 - scale10) as u32;
        mantissa = match 10i128.checked_pow(drop) {
            Some(div) => mantissa.checked_add(div - 1)? / div,
            // Far below a nano unit: rounds up to one nano unit.
            None => i128::from(mantissa > 0),
        };
        scale10 = -9;
    }
    if mantissa == 0 {
        return Some("0".into());
    }
    let mut format = p.format;
    if format == Format::BinarySI {
        // Binary suffixes are only kept for whole values of at least 1024.
        let (m, e) = strip_factors(mantissa, scale10);
        let whole = e >= 0;
        let at_least_1024 = whole && m.checked_mul(10i128.checked_pow(e as u32)?)? >= 1024;
        if !whole || !at_least_1024 {
            format = Format::DecimalSI;
        }
    }
    let sign = if p.negative { "-" } else { "" };
    match format {
        Format::BinarySI => {
            let (m, e) = strip_factors(mantissa, scale10);
            let mut value = m.checked_mul(10i128.checked_pow(e as u32)?)?;
            let mut power = 0;
            while value % 1024 == 0 && power < 6 {
                value /= 1024;
                power += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
            Some(format!("{sign}{value}{suffix}"))
        }
        Format::DecimalSI | Format::DecimalExponent => {
            let (mut m, mut e) = strip_factors(mantissa, scale10);
            while e % 3 != 0 {
                m = m.checked_mul(10)?;
                e -= 1;
            }
            let suffix = match (format, e) {
                (_, 0) => String::new(),
                (Format::DecimalSI, -9) => "n".into(),
                (Format::DecimalSI, -6) => "u".into(),
                (Format::DecimalSI, -3) => "m".into(),
                (Format::DecimalSI, 3) => "k".into(),
                (Format::DecimalSI, 6) => "M".into(),
                (Format::DecimalSI, 9) => "G".into(),
                (Format::DecimalSI, 12) => "T".into(),
                (Format::DecimalSI, 15) => "P".into(),
                (Format::DecimalSI, 18) => "E".into(),
                _ => format!("e{e}"),
            };
            Some(format!("{sign}{m}{suffix}"))
        }
    }
}

/// Go keeps the original spelling when its fast parser finds it already canonical.
fn reuses_spelling(s: &str, p: &Parsed) -> bool {
    let shifted = format!("{}{}", p.num, p.denom);
    match p.format {
        Format::DecimalExponent | Format::DecimalSI => {
            let precision = 18 - (p.num.len() + p.denom.len()) as i32;
            let scale = p.exponent - p.denom.len() as i32;
            precision >= 0
                && scale >= -9
                && shifted.parse::<i64>().is_ok()
                && scale % 3 == 0
                && !shifted.ends_with("000")
                && !shifted.starts_with('0')
                && !s.is_empty()
        }
        Format::BinarySI => {
            if p.exponent < 0 || !p.denom.is_empty() {
                return false;
            }
            let precision = 15 - p.num.len() as i32 - (p.exponent as f32 * 3.0 / 10.0) as i32 - 1;
            let Ok(value) = shifted.parse::<i64>() else {
                return false;
            };
            precision >= 0
                && value.checked_mul(1i64 << p.exponent).is_some()
                && p.exponent % 10 == 0
                && value & 0x07 != 0
        }
    }
}

/// The integer value of a quantity, rounded up (Go's `Quantity.Value()`).
pub fn ceil_value(s: &str) -> Option<i64> {
    const NANO: i128 = 1_000_000_000;
    let n = nano_value(s)?;
    let m = (n.abs() + NANO - 1) / NANO;
    i64::try_from(if n < 0 { -m } else { m }).ok()
}

/// The value of a quantity in nano units, rounded up, for comparing two quantities (the API
/// server compares them exactly; nano units are exact for every quantity it stores).
pub fn nano_value(s: &str) -> Option<i128> {
    let p = parse(s)?;
    let digits = format!("{}{}", p.num, p.denom);
    let mut m: i128 = digits.parse().ok()?;
    let mut scale: i32 = 9 - (p.denom.len() as i32);
    if p.base == 10 {
        scale = scale.checked_add(p.exponent)?;
    } else {
        m = m.checked_mul(1i128.checked_shl(p.exponent as u32)?)?;
    }
    let value = if scale >= 0 {
        m.checked_mul(10i128.checked_pow(scale as u32)?)?
    } else {
        let div = 10i128.checked_pow((-scale) as u32)?;
        m.checked_add(div - 1)? / div
    };
    Some(if p.negative { -value } else { value })
}

fn strip_factors(mut m: i128, mut e: i32) -> (i128, i32) {
    while m != 0 && m % 10 == 0 {
        m /= 10;
        e += 1;
    }
    (m, e)
}

#[cfg(test)]
mod tests {
    use super::{canonical, ceil_value, is_positive, nano_value};

    #[test]
    fn values_for_comparison_and_rounding() {
        assert_eq!(nano_value("500m"), Some(500_000_000));
        assert_eq!(nano_value("1Ki"), Some(1024 * 1_000_000_000));
        assert_eq!(nano_value("-2"), Some(-2_000_000_000));
        assert_eq!(nano_value("1n"), Some(1));
        assert_eq!(ceil_value("1500m"), Some(2));
        assert_eq!(ceil_value("-1500m"), Some(-2));
        assert_eq!(ceil_value("2Gi"), Some(2 << 30));
        assert_eq!(ceil_value("x"), None);
    }

    #[test]
    fn positive_quantities() {
        for q in ["1", "0.5", "8Gi", "1e3", "+2"] {
            assert!(is_positive(q), "{q}");
        }
        for q in ["0", "0.0", "-1Gi", "0Mi", "abc", ""] {
            assert!(!is_positive(q), "{q}");
        }
    }

    #[test]
    fn absurd_exponents_are_invalid() {
        assert!(!super::parse_ok("1e-2147483648"));
        assert!(!super::parse_ok("10e2147483647"));
        assert!(super::parse_ok("1e400"));
    }

    #[test]
    fn canonical_forms() {
        for (input, want) in [
            ("0.5", "500m"),
            ("1", "1"),
            ("12", "12"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("32Gi", "32Gi"),
            ("50Gi", "50Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("1.5", "1500m"),
            ("2000m", "2"),
            ("100m", "100m"),
            ("1e3", "1e3"),
            ("12e6", "12e6"),
            ("1.0", "1"),
            ("0", "0"),
            ("0.0", "0"),
            ("512", "512"),
            ("40Gi", "40Gi"),
            ("0.1Ki", "102400m"),
            ("-0.5", "-500m"),
            ("0.0000000001", "1n"),
            ("1e400", "10e399"),
            ("5.", "5."),
            ("10G", "10G"),
            ("1000k", "1M"),
        ] {
            assert_eq!(canonical(input), want, "{input}");
        }
    }
}
