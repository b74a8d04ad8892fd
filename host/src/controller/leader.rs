//! Leader election: several replicas run, one reconciles.
//!
//! A `coordination.k8s.io/v1` Lease held with `kube-lease-manager` (which
//! renews it with server-side apply, so two candidates cannot both take it).
//! A replica waits as a standby until it holds the Lease, then starts the
//! controller. A leader that loses the Lease exits at once (code 2), so
//! nothing it has in flight writes after another replica took over;
//! Kubernetes restarts it as a standby. On a clean shutdown the Lease is
//! released (holder cleared). A standby takes over within the Lease's
//! duration either way: kube-lease-manager 0.13 lets a standby sleep until
//! the expiry it last saw rather than watch for a release, so keep the
//! duration short (15 s by default).

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which Lease, and who we are.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease: String,
    /// This replica's identity in the Lease (the pod name in a cluster).
    pub identity: String,
    /// How long the Lease is valid after its last renewal: the longest a
    /// standby waits when the leader dies without releasing it.
    pub duration: Duration,
}

/// Held leadership; [`Leadership::release`] hands it over.
#[derive(Debug)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
    /// Ends the process when the Lease is lost.
    monitor: JoinHandle<()>,
    /// Renews the Lease; releases it once every receiver is gone.
    manager: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
}

impl Leadership {
    /// Release the Lease (a clean shutdown): clear its holder, so the next
    /// candidate that looks takes it.
    pub async fn release(self) {
        self.monitor.abort();
        let _ = self.monitor.await;
        drop(self.leading);
        match self.manager.await {
            Ok(Ok(_)) => tracing::info!("released the lease"),
            Ok(Err(error)) => tracing::warn!(%error, "could not release the lease"),
            Err(error) => tracing::warn!(%error, "lease manager task failed"),
        }
    }
}

/// Wait until this replica holds the Lease. Then watch it in the
/// background: losing it ends the process.
pub async fn lead(
    client: Client,
    election: &LeaderElection,
) -> Result<Leadership, LeaseManagerError> {
    let seconds = election.duration.as_secs().max(2);
    let manager = LeaseManagerBuilder::new(client, &election.lease)
        .with_namespace(&election.namespace)
        .with_identity(&election.identity)
        .with_duration(seconds)
        .with_grace((seconds / 3).max(1))
        .build()
        .await?;
    let (mut leading, manager) = manager.watch().await;
    tracing::info!(
        lease = %format!("{}/{}", election.namespace, election.lease),
        identity = %election.identity,
        "waiting for the lease (standby)"
    );
    while !*leading.borrow_and_update() {
        if leading.changed().await.is_err() {
            return Err(LeaseManagerError::InconsistentState(
                "the lease watch ended before the lease was acquired".into(),
            ));
        }
    }
    tracing::info!(identity = %election.identity, "holding the lease: leading");
    let mut watching = leading.clone();
    let monitor = tokio::spawn(async move {
        loop {
            let lost = watching.changed().await.is_err() || !*watching.borrow();
            if lost {
                tracing::error!(
                    "lost the lease: stopping at once so that only the new leader writes"
                );
                std::process::exit(2);
            }
        }
    });
    Ok(Leadership {
        leading,
        monitor,
        manager,
    })
}
