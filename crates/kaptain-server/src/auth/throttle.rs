//! Throttling of failed authentication, per client address: after [`LIMIT`] failures within
//! [`WINDOW`], the address gets 429 until the window ends, without the credential being
//! checked (no store or JWKS work for a flood). The audit log gets one record for the first
//! failure of a window and one summary for the rest, instead of a chained record per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an address may have within [`WINDOW`] before it is throttled.
pub const LIMIT: u32 = 10;
/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (older windows are dropped first).
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug)]
struct Window {
    start: Instant,
    failures: u32,
    /// Failures of this window not written to the audit log.
    unaudited: u32,
}

/// What to write to the audit log for one failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFailure {
    /// Write this failure (the first of its window); `suppressed` more failures of the
    /// address's previous window were not written and are summed up with it.
    Record { suppressed: u32 },
    /// Count it only.
    Suppress,
}

/// How many failed authentications an address may have, and in what window
/// (`kaptain serve --auth-throttle 10/m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimit {
    pub limit: u32,
    pub window: Duration,
}

impl Default for ThrottleLimit {
    fn default() -> Self {
        ThrottleLimit {
            limit: LIMIT,
            window: WINDOW,
        }
    }
}

impl std::str::FromStr for ThrottleLimit {
    type Err = String;

    /// `N/s`, `N/m` or `N/h` (N ≥ 1 failures per second, minute or hour).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{s}` is not N/s, N/m or N/h (failures per second, minute or hour; e.g. 10/m)")
        };
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = n.trim().parse().map_err(|_| bad())?;
        if limit == 0 {
            return Err(format!("`{s}`: the limit must be at least 1"));
        }
        let window = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(ThrottleLimit { limit, window })
    }
}

impl std::fmt::Display for ThrottleLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.window.as_secs() {
            1 => "s",
            3600 => "h",
            _ => "m",
        };
        write!(f, "{}/{unit}", self.limit)
    }
}

/// Failed authentications per client address.
#[derive(Debug)]
pub struct Throttle {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(LIMIT, WINDOW)
    }
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Self {
        Throttle {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_limit(limit: ThrottleLimit) -> Self {
        Throttle::new(limit.limit, limit.window)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long `peer` must wait, when it has used up its failures.
    pub fn blocked(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        let windows = self.lock();
        let w = windows.get(&peer)?;
        let end = w.start + self.window;
        (w.failures >= self.limit && now < end).then(|| end - now)
    }

    /// Counts a failure of `peer` and says what to audit.
    pub fn failed(&self, peer: IpAddr, now: Instant) -> AuditFailure {
        let mut windows = self.lock();
        if windows.len() >= MAX_ADDRESSES && !windows.contains_key(&peer) {
            let window = self.window;
            windows.retain(|_, w| now.duration_since(w.start) < window);
            if windows.len() >= MAX_ADDRESSES {
                // Still full of live windows: forget the oldest.
                if let Some(oldest) = windows.iter().min_by_key(|(_, w)| w.start).map(|(k, _)| *k) {
                    windows.remove(&oldest);
                }
            }
        }
        match windows.get_mut(&peer) {
            Some(w) if now.duration_since(w.start) < self.window => {
                w.failures += 1;
                w.unaudited += 1;
                AuditFailure::Suppress
            }
            prev => {
                let suppressed = prev.map_or(0, |w| w.unaudited);
                windows.insert(
                    peer,
                    Window {
                        start: now,
                        failures: 1,
                        unaudited: 0,
                    },
                );
                AuditFailure::Record { suppressed }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn limits_parse_as_failures_per_unit_and_print_back() {
        for (text, limit, secs) in [("10/m", 10, 60), ("3/s", 3, 1), (" 500 / h ", 500, 3600)] {
            let l: ThrottleLimit = text.parse().expect(text);
            assert_eq!((l.limit, l.window.as_secs()), (limit, secs), "{text}");
            assert_eq!(l.to_string().parse::<ThrottleLimit>(), Ok(l));
        }
        for bad in ["10", "0/m", "-1/m", "10/d", "x/m", ""] {
            let e = bad.parse::<ThrottleLimit>().expect_err(bad);
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
        assert_eq!(ThrottleLimit::default().to_string(), "10/m");
    }

    #[test]
    fn an_address_is_throttled_after_the_limit_until_its_window_ends() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let t0 = Instant::now();
        assert_eq!(t.failed(a, t0), AuditFailure::Record { suppressed: 0 });
        assert_eq!(t.failed(a, t0), AuditFailure::Suppress);
        assert!(t.blocked(a, t0).is_none());
        assert_eq!(t.failed(a, t0), AuditFailure::Suppress);
        assert!(t.blocked(a, t0).is_some());
        // Another address is not affected.
        assert!(t.blocked(b, t0).is_none());
        // The window ends: the next failure is recorded with the two suppressed before it.
        let later = t0 + Duration::from_secs(61);
        assert!(t.blocked(a, later).is_none());
        assert_eq!(t.failed(a, later), AuditFailure::Record { suppressed: 2 });
    }

    #[test]
    fn memory_is_bounded() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 50) {
            t.failed(IpAddr::V4(Ipv4Addr::from(i)), now);
        }
        assert!(t.lock().len() <= MAX_ADDRESSES);
    }
}
