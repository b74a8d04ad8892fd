//! Fault injection: failing, delaying and cutting requests on purpose.
//!
//! Owns the queue of pending faults and the handle tests use to add them. Matching
//! happens in `server` before a request touches the store; a matched fault is used up.

use crate::Shared;
use std::sync::Arc;
use std::time::Duration;

/// Which requests a fault applies to; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection".
    pub verb: Option<String>,
    /// The plural resource name, e.g. "configmaps" (which also matches its status
    /// subresource), or "deployments/status" for the status subresource alone.
    pub resource: Option<String>,
}

impl Match {
    /// Every request to a resource.
    pub fn any() -> Match {
        Match::default()
    }

    /// Requests with this verb.
    pub fn verb(verb: impl Into<String>) -> Match {
        Match {
            verb: Some(verb.into()),
            resource: None,
        }
    }

    /// Narrows to one plural resource name.
    pub fn resource(mut self, plural: impl Into<String>) -> Match {
        self.resource = Some(plural.into());
        self
    }

    fn matches(&self, verb: &str, resource: &str) -> bool {
        self.verb.as_deref().is_none_or(|v| v == verb)
            && self
                .resource
                .as_deref()
                .is_none_or(|r| r == resource || resource.strip_suffix("/status") == Some(r))
    }
}

#[derive(Debug)]
struct Fail {
    left: usize,
    matcher: Match,
    status: u16,
    retry_after: Option<u64>,
}

#[derive(Debug)]
struct Delay {
    left: usize,
    matcher: Match,
    delay: Duration,
}

/// The pending faults.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    fails: Vec<Fail>,
    delays: Vec<Delay>,
}

/// An injected failure for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Injected {
    pub status: u16,
    pub retry_after: Option<u64>,
}

impl FaultQueue {
    /// Takes the first matching failure, if any.
    pub fn take_fail(&mut self, verb: &str, resource: &str) -> Option<Injected> {
        let i = self
            .fails
            .iter()
            .position(|f| f.left > 0 && f.matcher.matches(verb, resource))?;
        let f = &mut self.fails[i];
        f.left -= 1;
        let out = Injected {
            status: f.status,
            retry_after: f.retry_after,
        };
        if f.left == 0 {
            self.fails.remove(i);
        }
        Some(out)
    }

    /// Takes the first matching delay, if any.
    pub fn take_delay(&mut self, verb: &str, resource: &str) -> Option<Duration> {
        let i = self
            .delays
            .iter()
            .position(|d| d.left > 0 && d.matcher.matches(verb, resource))?;
        let d = &mut self.delays[i];
        d.left -= 1;
        let out = d.delay;
        if d.left == 0 {
            self.delays.remove(i);
        }
        Some(out)
    }
}

/// A cloneable handle to inject faults into a running [`crate::ApiServer`].
#[derive(Debug, Clone)]
pub struct Faults {
    pub(crate) shared: Arc<Shared>,
}

impl Faults {
    /// The next `n` matching requests fail with `status` and a `Status` body; 429 and 503
    /// carry `Retry-After` when `retry_after_secs` is set.
    pub fn fail_next(&self, n: usize, matcher: Match, status: u16, retry_after_secs: Option<u64>) {
        self.shared.faults().fails.push(Fail {
            left: n,
            matcher,
            status,
            retry_after: retry_after_secs,
        });
    }

    /// The next `n` matching requests wait `delay` before being served.
    pub fn delay_next(&self, n: usize, matcher: Match, delay: Duration) {
        self.shared.faults().delays.push(Delay {
            left: n,
            matcher,
            delay,
        });
    }

    /// Ends every open watch stream now (clients see a clean end of stream).
    pub fn drop_watches(&self) {
        self.shared.drops.send_modify(|epoch| *epoch += 1);
    }

    /// Forgets the event history: a watch resuming from an older resourceVersion gets an
    /// `ERROR` event with a 410 Expired `Status`. Open watches are ended too, so clients
    /// have to resume.
    pub fn expire_watches(&self) {
        self.shared.with_state(|s| s.expire_history());
        self.drop_watches();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_covers_the_status_subresource() {
        let m = Match::verb("patch").resource("pods");
        assert!(m.matches("patch", "pods"));
        assert!(m.matches("patch", "pods/status"));
        assert!(!m.matches("get", "pods"));
        let s = Match::any().resource("pods/status");
        assert!(s.matches("update", "pods/status"));
        assert!(!s.matches("update", "pods"));
        assert!(Match::any().matches("watch", "configmaps"));
    }
}
