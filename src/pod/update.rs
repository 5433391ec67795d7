//! A new version of a running pod. The API server lets a pod's spec change only in a few fields
//! (the node checks that before it sends one); of those the kubelet acts on a new active deadline
//! and on container images: a
//! container whose image changed is killed ("Container X definition changed") and started again
//! with the new image, whatever the restart policy (computePodActions in kuberuntime_manager.go).

use std::sync::Arc;

use super::actions::Key;
use super::worker::PodWorker;
use crate::plan::PodPlan;

impl PodWorker {
    /// `new` has the same containers, in the same order, as the plan the pod runs.
    pub(super) fn update(&mut self, new: PodPlan) {
        let grace = self.plan.grace_period;
        let now = self.config.clock.now();
        let keys = (0..self.init.len())
            .map(Key::Init)
            .chain((0..self.app.len()).map(Key::App));
        let wanted = new.init_containers.iter().chain(&new.containers);
        for (key, c) in keys.zip(wanted) {
            let terminating = self.terminating;
            let slot = self.slot_mut(key);
            if slot.plan.image == c.image {
                continue;
            }
            slot.plan = c.clone();
            slot.status.image = c.image.clone();
            slot.image = None;
            if terminating {
                continue;
            }
            if slot.running.is_some() {
                slot.changed = true;
                let message = format!("Container {} definition changed, will be restarted", c.name);
                self.kill(key, message, grace);
            } else if slot.blocked || slot.restart_at.is_some() {
                // Waiting for an image that did not exist, or in back-off: the new image goes now.
                slot.blocked = false;
                slot.restart_at = Some(now);
                slot.backoff = Default::default();
                slot.pull_backoff = Default::default();
                slot.pull_retry_at = None;
            }
        }
        // A new activeDeadlineSeconds (the node let only a new or shorter one through) counts
        // from the pod's start, as the kubelet's active deadline handler reads it.
        if new.active_deadline != self.plan.active_deadline
            && let Some(start) = self.started
        {
            self.deadline_at = new.active_deadline.map(|d| super::clock::later(start, d));
        }
        let mut plan = new;
        // The pod keeps its identity; what it runs is what its slots now hold.
        plan.uid = self.plan.uid.clone();
        plan.manifest.metadata.uid = Some(self.plan.uid.clone());
        self.plan = Arc::new(plan);
    }
}
