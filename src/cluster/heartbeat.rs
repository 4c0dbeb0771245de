//! The heartbeat task: every third of the lease it writes this node's row (address, load,
//! CPU) and renews the leases of its spaces. A space missing from the renewal, or found
//! fenced by the writer, was taken by another node: it leaves the world and its people are
//! sent to the new owner.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use plaza_systems::Input;
use tokio::sync::watch;

use super::Cluster;
use crate::edge::Edge;
use crate::edge::conn::Envelope;

/// Beats until `stop` turns true. The first beat is [`crate::Server::start`]'s, written
/// before the node serves; this task's come a period after it.
pub(crate) async fn run(cluster: Arc<Cluster>, edge: Arc<Edge>, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_millis(cluster.lease_ms / 3);
    let mut cpu = CpuMeter::default();
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            () = cluster.fences.lost_signal.notified() => {}
            _ = stop.changed() => return,
        }
        unload_lost(&cluster, &edge).await;
        let result = beat(&cluster, &edge, cpu.share()).await;
        match (&result, failing) {
            (Err(error), false) => {
                tracing::warn!(%error, "cluster heartbeat failed; leases run out in lease_ms unless it recovers");
            }
            (Ok(()), true) => tracing::info!("cluster heartbeat recovered"),
            _ => {}
        }
        failing = result.is_err();
    }
}

/// One heartbeat: the node's row, then the leases.
pub(crate) async fn beat(
    cluster: &Arc<Cluster>,
    edge: &Arc<Edge>,
    cpu: f32,
) -> Result<(), crate::store::StoreError> {
    let sessions = edge.telemetry.sessions.load(Ordering::Relaxed);
    if let Some(row) = cluster.row(sessions, cpu) {
        cluster.store.heartbeat(&row).await?;
    }
    // Only spaces owned before the renewal began can be missing from it: one claimed
    // meanwhile may have committed after the renewal looked.
    let owned = cluster.fences.all();
    let renewed = cluster
        .store
        .renew_leases(&cluster.node, cluster.lease_ms)
        .await?;
    for (space, epoch) in owned {
        if !renewed.iter().any(|r| r.space == space && r.epoch == epoch) {
            cluster.fences.lost(space, epoch);
        }
    }
    for asked in renewed {
        if let Some(to) = asked.moving_to
            && to != *cluster.node
        {
            super::handoff::start(cluster, edge, asked.space, to);
        }
    }
    Ok(())
}

/// Takes the spaces found lost out of the world, sending their people to the new owner.
async fn unload_lost(cluster: &Cluster, edge: &Edge) {
    let lost = cluster.fences.take_lost();
    if lost.is_empty() {
        return;
    }
    // One look at the cluster for all of them (a node waking from a freeze may have lost
    // many at once); without it, people are told to join again and are routed then.
    let (owners, nodes) = match (
        cluster.store.owners().await,
        cluster.store.nodes(cluster.lease_ms).await,
    ) {
        (Ok(owners), Ok(nodes)) => (owners, nodes),
        _ => (Vec::new(), Vec::new()),
    };
    for space in lost {
        let to = owners
            .iter()
            .find(|o| o.space == space)
            .and_then(|owner| super::live_among(&nodes, &owner.node));
        tracing::warn!(%space, to = ?to.as_ref().map(|t| &t.node), "space taken by another node; unloading it here");
        edge.submit(Envelope::Input(Input::SpaceUnload { space, to }));
    }
}

/// This process's CPU use between two readings, as a share of one core.
#[derive(Debug)]
struct CpuMeter {
    last: Option<(Instant, u64)>,
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self {
            last: process_cpu_ticks().map(|ticks| (Instant::now(), ticks)),
        }
    }
}

impl CpuMeter {
    fn share(&mut self) -> f32 {
        let now = (Instant::now(), process_cpu_ticks().unwrap_or(0));
        let share = match self.last {
            Some((at, ticks)) if now.0 > at => {
                // Linux reports CPU time in clock ticks of 1/100 s (USER_HZ).
                let cpu_secs = now.1.saturating_sub(ticks) as f64 / 100.0;
                (cpu_secs / (now.0 - at).as_secs_f64()) as f32
            }
            _ => 0.0,
        };
        self.last = Some(now);
        share
    }
}

/// User plus system CPU ticks of this process (`/proc/self/stat` fields 14 and 15).
fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces; fields are counted after its closing paren.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}
