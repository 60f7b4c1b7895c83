//! Kubernetes resource quantities (`512Mi`, `1.5Gi`, `250m`, `2`, `1e3`) as numbers and back:
//! the one parser every crate uses. Formatted values are rounded *down* to the unit they are
//! written in, so a raise never exceeds `before × factor`.

/// Parses a Kubernetes Quantity (`100m`, `0.5`, `128Mi`, `1G`, `1e3`, `1Ki`) into base units
/// (cores for CPU, bytes for memory). `None` if the text is not a valid quantity or its value
/// is not a finite number (`1e400`).
pub fn parse(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits_start = i;
    let mut digits = 0;
    while let Some(&c) = b.get(i) {
        if c.is_ascii_digit() {
            digits += 1;
        } else if c != b'.' {
            break;
        }
        i += 1;
    }
    if digits == 0 || s[digits_start..i].matches('.').count() > 1 {
        return None;
    }
    let number: f64 = s[..i].parse().ok()?;
    let suffix = &s[i..];
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => {
            // Decimal exponent: `1e3`, `5E-2`.
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let body = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            10f64.powi(exp.parse::<i32>().ok()?)
        }
    };
    Some(number * mult).filter(|v| v.is_finite())
}

const MI: f64 = 1024.0 * 1024.0;

/// Bytes as `NGi` or `NMi` (rounded down to whole Mi), or plain bytes below 1Mi.
pub fn format_memory(bytes: f64) -> String {
    if bytes < MI {
        return format!("{}", bytes.max(0.0).floor() as u64);
    }
    let mi = (bytes / MI + 1e-9).floor() as u64;
    if mi.is_multiple_of(1024) {
        format!("{}Gi", mi / 1024)
    } else {
        format!("{mi}Mi")
    }
}

/// Cores as `N` or `Nm` (rounded down to whole millicores, at least 1m).
pub fn format_cpu(cores: f64) -> String {
    let m = ((cores * 1000.0 + 1e-9).floor() as u64).max(1);
    if m.is_multiple_of(1000) {
        format!("{}", m / 1000)
    } else {
        format!("{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_decimal_and_milli_quantities() {
        assert_eq!(parse("512Mi"), Some(512.0 * MI));
        assert_eq!(parse("1Gi"), Some(1024.0 * MI));
        assert_eq!(parse("1.5Gi"), Some(1536.0 * MI));
        assert_eq!(parse("250m"), Some(0.25));
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("1k"), Some(1000.0));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse(" 100M "), Some(1e8));
        assert_eq!(parse("-1.5e-3"), Some(-0.0015));
        assert_eq!(parse("5E2"), Some(500.0));
        for bad in [
            "", "Mi", "1.2.3", "12X", "abc", "1e", "1e400", "1Ei5", "e3", ".", "1e3.5",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_round_down_to_the_unit() {
        assert_eq!(format_memory(512.0 * MI), "512Mi");
        assert_eq!(format_memory(2048.0 * MI), "2Gi");
        assert_eq!(format_memory(768.5 * MI), "768Mi");
        assert_eq!(format_memory(1000.0), "1000");
        assert_eq!(format_cpu(0.25), "250m");
        assert_eq!(format_cpu(2.0), "2");
        assert_eq!(format_cpu(0.3754), "375m");
        assert_eq!(format_cpu(0.0), "1m");
    }

    #[test]
    fn formatted_values_parse_back_no_higher() {
        for bytes in [1.0, 1e6, 3.3 * MI, 5000.0 * MI, 1.9e12] {
            let back = parse(&format_memory(bytes)).expect("parse");
            assert!(back <= bytes + 1e-6 && back > bytes * 0.99 - MI, "{bytes}");
        }
        for cores in [0.001, 0.5, 1.2345, 7.0] {
            let back = parse(&format_cpu(cores)).expect("parse");
            assert!(back <= cores + 1e-9, "{cores}");
        }
    }
}
