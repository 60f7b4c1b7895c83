//! A small parser for Kubernetes CronJob schedules (the robfig/cron "standard" dialect:
//! 5 fields, names, ranges, lists, steps and @-macros) and a next-fire-time calculator.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cron {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// `*` (or `?`) in day-of-month / day-of-week: the two day fields are then ANDed,
    /// otherwise ORed (classic cron semantics).
    dom_star: bool,
    dow_star: bool,
}

/// A schedule and the `TZ=`/`CRON_TZ=` prefix it carried, if any.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Schedule {
    pub cron: Cron,
    pub tz_prefix: Option<String>,
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

pub(crate) fn parse(spec: &str) -> Result<Schedule, String> {
    let mut s = spec.trim();
    let mut tz_prefix = None;
    if let Some(rest) = s.strip_prefix("CRON_TZ=").or_else(|| s.strip_prefix("TZ=")) {
        let (zone, rest) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| "a time zone prefix with no schedule after it".to_string())?;
        tz_prefix = Some(zone.to_string());
        s = rest.trim();
    }
    let expanded;
    if let Some(m) = s.strip_prefix('@') {
        expanded = match m.to_ascii_lowercase().as_str() {
            "yearly" | "annually" => "0 0 1 1 *",
            "monthly" => "0 0 1 * *",
            "weekly" => "0 0 * * 0",
            "daily" | "midnight" => "0 0 * * *",
            "hourly" => "0 * * * *",
            x if x.starts_with("every") => {
                return Err("@every is not supported by Kubernetes CronJobs".into());
            }
            _ => return Err(format!("unknown macro @{m}")),
        };
        s = expanded;
    }
    let f: Vec<&str> = s.split_whitespace().collect();
    if f.len() != 5 {
        return Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
            f.len()
        ));
    }
    let (minute, _) = field(f[0], "minute", 0, 59, &[])?;
    let (hour, _) = field(f[1], "hour", 0, 23, &[])?;
    let (dom, dom_star) = field(f[2], "day-of-month", 1, 31, &[])?;
    let (month, _) = field(f[3], "month", 1, 12, MONTHS)?;
    let (dow, dow_star) = field(f[4], "day-of-week", 0, 6, DAYS)?;
    Ok(Schedule {
        cron: Cron {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
        },
        tz_prefix,
    })
}

fn value(s: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let v = match names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        Some(i) => min + i as u32,
        None => s
            .parse::<u32>()
            .map_err(|_| format!("{what} {s:?} is not a number"))?,
    };
    if v < min || v > max {
        return Err(format!("{what} {v} is out of range {min}-{max}"));
    }
    Ok(v)
}

/// One field: a comma list of `*`, `v`, `a-b`, each with an optional `/step`.
fn field(f: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in f.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step = s
                    .parse::<u32>()
                    .map_err(|_| format!("{what} step {s:?} is not a number"))?;
                if step == 0 {
                    return Err(format!("{what} step must be at least 1"));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            star |= step.unwrap_or(1) == 1;
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, what, min, max, names)?,
                value(b, what, min, max, names)?,
            )
        } else if range.is_empty() {
            return Err(format!("{what} has an empty value in {f:?}"));
        } else {
            let v = value(range, what, min, max, names)?;
            // `N/step` means `N-max/step`.
            (v, if step.is_some() { max } else { v })
        };
        if lo > hi {
            return Err(format!("{what} range {range} runs backwards"));
        }
        let step = step.unwrap_or(1) as usize;
        for v in (lo..=hi).step_by(step) {
            bits |= 1 << v;
        }
    }
    Ok((bits, star))
}

impl Cron {
    fn day_matches(&self, d: Date) -> bool {
        let dom = self.dom & (1 << d.day()) != 0;
        let dow = self.dow & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first matching minute strictly after `after` (searching at most ~5 years).
    pub(crate) fn next_after(&self, after: DateTime) -> Option<DateTime> {
        let mut date = after.date();
        let (mut h0, mut m0) = (after.hour(), after.minute() + 1);
        for _ in 0..(366 * 5) {
            if self.month & (1 << date.month()) != 0 && self.day_matches(date) {
                for h in h0..24 {
                    if self.hour & (1 << h) == 0 {
                        continue;
                    }
                    let start = if h == h0 { m0 } else { 0 };
                    if let Some(m) = (start..60).find(|m| self.minute & (1 << m) != 0) {
                        return Some(date.at(h, m, 0, 0));
                    }
                }
            }
            date = date.tomorrow().ok()?;
            (h0, m0) = (0, 0);
        }
        None
    }

    /// The next fire time after `t`, in time zone `tz`.
    pub(crate) fn next_fire(&self, t: jiff::Timestamp, tz: &TimeZone) -> Option<jiff::Timestamp> {
        let mut from = t.to_zoned(tz.clone()).datetime();
        // A few tries cover local times skipped or repeated by DST changes.
        for _ in 0..3 {
            let next = self.next_after(from)?;
            let ts = tz.to_zoned(next).ok()?.timestamp();
            if ts > t {
                return Some(ts);
            }
            from = next;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    fn next(spec: &str, after: &str) -> String {
        let s = parse(spec).expect("valid");
        s.cron
            .next_fire(ts(after), &TimeZone::UTC)
            .expect("fires")
            .to_string()
    }

    #[test]
    fn accepts_the_standard_dialect() {
        for ok in [
            "* * * * *",
            "*/5 * * * *",
            "0 0-23/2 * * *",
            "15,45 9-17 * * MON-FRI",
            "0 0 1 jan,Jul ?",
            "5/15 * * * *",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
            "TZ=Europe/Berlin 0 3 * * *",
            "CRON_TZ=UTC @daily",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
        assert_eq!(
            parse("TZ=Europe/Berlin 0 3 * * *")
                .expect("ok")
                .tz_prefix
                .as_deref(),
            Some("Europe/Berlin")
        );
    }

    #[test]
    fn rejects_malformed_and_out_of_range() {
        for (bad, why) in [
            ("61 * * * *", "minute 61 is out of range 0-59"),
            ("* 24 * * *", "hour 24 is out of range 0-23"),
            ("* * 0 * *", "day-of-month 0 is out of range 1-31"),
            ("* * * 13 *", "month 13 is out of range 1-12"),
            ("* * * * 7", "day-of-week 7 is out of range 0-6"),
            ("* * * *", "expected 5 fields"),
            ("*/0 * * * *", "step must be at least 1"),
            ("30-10 * * * *", "runs backwards"),
            ("x * * * *", "not a number"),
            ("1,,2 * * * *", "empty value"),
            ("@every 5m", "@every is not supported"),
            ("@fortnightly", "unknown macro"),
            ("TZ=UTC", "no schedule"),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn computes_next_fire_times() {
        assert_eq!(
            next("*/15 * * * *", "2026-01-01T12:07:30Z"),
            "2026-01-01T12:15:00Z"
        );
        assert_eq!(
            next("0 * * * *", "2026-01-01T12:00:00Z"),
            "2026-01-01T13:00:00Z"
        );
        assert_eq!(
            next("@daily", "2026-01-01T12:00:00Z"),
            "2026-01-02T00:00:00Z"
        );
        // 2026-01-01 is a Thursday; next Monday 09:30 is the 5th.
        assert_eq!(
            next("30 9 * * MON", "2026-01-01T12:00:00Z"),
            "2026-01-05T09:30:00Z"
        );
        // Day-of-month OR day-of-week when both are restricted: the 10th or a Saturday.
        assert_eq!(
            next("0 0 10 * 6", "2026-01-01T12:00:00Z"),
            "2026-01-03T00:00:00Z"
        );
        assert_eq!(
            next("@yearly", "2026-01-01T12:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-01-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        // Feb 31 never comes.
        let never = parse("0 0 31 2 *").expect("valid");
        assert!(
            never
                .cron
                .next_fire(ts("2026-01-01T00:00:00Z"), &TimeZone::UTC)
                .is_none()
        );
    }
}
