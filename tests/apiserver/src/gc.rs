//! The garbage collector: a background task that deletes dependents whose owners are
//! gone.
//!
//! Like the real controller it runs after the deletion that orphaned them, not inside it:
//! the owner's DELETE returns first and dependents disappear shortly after (their DELETED
//! events follow). An object is collected when it has `ownerReferences` and none of the
//! owner uids exists any more; dependents with finalizers get a `deletionTimestamp`.
//! `propagationPolicy=Foreground` is treated as Background; `Orphan` strips the
//! ownerReference synchronously (see `store`). The rules themselves live in
//! `State::collect_garbage`; this module only schedules them.

use crate::Shared;
use std::sync::Arc;

/// Runs a collection pass every time a deletion wakes it, until the runtime shuts down.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        shared.gc_wake.notified().await;
        let n = shared.with_state(|s| s.collect_garbage());
        if n > 0 {
            tracing::debug!(collected = n, "garbage collection pass");
        }
    }
}
