//! [`eventually`]: poll a condition until it holds or a timeout passes, the one way the
//! integration tests wait for the cluster (or a server) to reach a state.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// The error type a polled check may return: anything converts into it with `?`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often [`eventually`] runs its check.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What one run of an [`eventually`] check says: `Some(value)` when the condition holds,
/// `None` when not yet, or (for a `Result`) an error that is remembered for the timeout
/// message and does not stop the polling.
///
/// Implemented for `Option<T>` and for `Result<Option<T>, BoxError>`. The error type is fixed
/// (not any `E: Display`) so that a check written as `|| async { let x = api.get(..).await?;
/// Ok(..) }` needs no type annotation: `?` converts any error into [`BoxError`].
pub trait Check<T> {
    /// `Ok(Some(value))` when met, `Ok(None)` when not yet, `Err(text)` for an error.
    fn into_check(self) -> Result<Option<T>, String>;
}

impl<T> Check<T> for Option<T> {
    fn into_check(self) -> Result<Option<T>, String> {
        Ok(self)
    }
}

impl<T> Check<T> for Result<Option<T>, BoxError> {
    fn into_check(self) -> Result<Option<T>, String> {
        self.map_err(|e| e.to_string())
    }
}

/// [`eventually`]'s condition did not hold within its timeout.
///
/// `Debug` prints the same text as `Display`, so a test returning `Result<(), Box<dyn Error>>`
/// shows a readable line.
#[derive(Clone, PartialEq, Eq)]
pub struct WaitError {
    /// What was waited for, as the caller named it.
    pub what: String,
    /// The timeout that passed.
    pub timeout: Duration,
    /// The last error the check returned, if it returned any.
    pub last_error: Option<String>,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: not within {:?}", self.what, self.timeout)?;
        if let Some(last) = &self.last_error {
            write!(f, " (last error: {last})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for WaitError {}

/// Runs `check` every [`POLL_INTERVAL`] until it gives `Some(value)` and returns that value;
/// after `timeout` without one, fails with a [`WaitError`] naming `what`, the timeout and the
/// last error the check returned. Errors from the check do not end the wait.
///
/// `check` returns `Option<T>` or `Result<Option<T>, BoxError>` (see [`Check`]).
pub async fn eventually<T, F, Fut, C>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
    C: Check<T>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await.into_check() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() > deadline {
            return Err(WaitError {
                what: what.to_string(),
                timeout,
                last_error,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test]
    async fn returns_the_value_once_the_check_holds() {
        let polls = Cell::new(0);
        let got = eventually("the third poll", Duration::from_secs(30), || async {
            polls.set(polls.get() + 1);
            (polls.get() == 3).then(|| format!("poll {}", polls.get()))
        })
        .await;
        assert_eq!(got, Ok("poll 3".to_string()));
        assert_eq!(polls.get(), 3);
    }

    #[tokio::test]
    async fn errors_are_retried_until_the_check_holds() {
        let polls = Cell::new(0);
        let got = eventually("a flaky check", Duration::from_secs(30), || async {
            polls.set(polls.get() + 1);
            if polls.get() < 3 {
                return Err(format!("failure {}", polls.get()).into());
            }
            Ok(Some(polls.get()))
        })
        .await;
        assert_eq!(got, Ok(3));
    }

    #[tokio::test]
    async fn a_check_that_never_holds_names_what_and_the_last_error() {
        let polls = Cell::new(0);
        let err = eventually("the impossible", Duration::from_millis(300), || async {
            polls.set(polls.get() + 1);
            Err::<(), _>(format!("failure {}", polls.get()))?;
            Ok(Some(()))
        })
        .await
        .expect_err("a check that never holds must fail");
        let last = format!("failure {}", polls.get());
        assert_eq!(err.what, "the impossible");
        assert_eq!(err.timeout, Duration::from_millis(300));
        assert_eq!(err.last_error.as_deref(), Some(last.as_str()));
        assert_eq!(
            err.to_string(),
            format!("the impossible: not within 300ms (last error: {last})")
        );
    }

    #[tokio::test]
    async fn an_option_check_that_never_holds_has_no_last_error() {
        let err = eventually("nothing", Duration::from_millis(100), || async {
            None::<()>
        })
        .await
        .expect_err("a check that never holds must fail");
        assert_eq!(err.last_error, None);
        assert_eq!(err.to_string(), "nothing: not within 100ms");
    }
}
