//! Small helpers: Go-style durations, Kubernetes timestamps and quantities, stable ids.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

/// Formats a duration the way Go's `time.Duration.String()` does (`10s`, `1m20s`, `5m0s`,
/// `412.5ms`), as the kubelet's messages print them.
pub(crate) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, prec) = if nanos < 1_000 {
            ("ns", 0)
        } else if nanos < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        return format!("{}{unit}", frac(nanos, prec));
    }
    let total_secs = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let secs = total_secs % 60;
    let mins = total_secs / 60 % 60;
    let hours = total_secs / 3600;
    let secs = frac(secs * 1_000_000_000 + sub, 9);
    if hours > 0 {
        format!("{hours}h{mins}m{secs}s")
    } else if mins > 0 {
        format!("{mins}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `v / 10^prec` with the fraction's trailing zeros (and a bare point) removed.
fn frac(v: u128, prec: u32) -> String {
    let scale = 10u128.pow(prec);
    let int = v / scale;
    let fraction = v % scale;
    if fraction == 0 {
        return int.to_string();
    }
    let digits = format!("{fraction:0width$}", width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// `metav1.Time`: RFC 3339 with whole seconds.
pub(crate) fn time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `metav1.MicroTime`: RFC 3339 with microseconds.
pub(crate) fn micro_time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Go's `time.RFC3339Nano` (trailing zeros of the fraction removed), as container runtimes
/// print log timestamps.
pub(crate) fn rfc3339_nano(ts: Timestamp) -> String {
    let base = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = ts.subsec_nanosecond();
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let digits = format!("{nanos:09}");
        format!("{base}.{}Z", digits.trim_end_matches('0'))
    }
}

/// Parses a Kubernetes quantity (`600Mi`, `1Gi`, `512M`, `1e9`, `250m`) into its value.
pub(crate) fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * factor)
}

/// A stable pseudo-random 64-bit value for `parts`.
pub(crate) fn hash64(parts: &[&str]) -> u64 {
    let mut h = DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

/// 64 hex digits derived from `parts` (a fake sha256 / container id).
pub(crate) fn hex64(parts: &[&str]) -> String {
    (0..4u8)
        .map(|i| {
            let mut h = DefaultHasher::new();
            i.hash(&mut h);
            for p in parts {
                p.hash(&mut h);
            }
            format!("{:016x}", h.finish())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(
            go_duration(Duration::from_nanos(412_345_678)),
            "412.345678ms"
        );
        assert_eq!(go_duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("600Mi"), Some(600.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("12345"), Some(12345.0));
        assert_eq!(parse_quantity("lots"), None);
    }

    #[test]
    fn timestamps() {
        let ts: Timestamp = "2021-03-04T05:06:07.120Z".parse().unwrap_or_default();
        assert_eq!(time(ts), "2021-03-04T05:06:07Z");
        assert_eq!(micro_time(ts), "2021-03-04T05:06:07.120000Z");
        assert_eq!(rfc3339_nano(ts), "2021-03-04T05:06:07.12Z");
    }
}
