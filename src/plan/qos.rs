//! The pod's QoS class, as the kubelet computes it (`pkg/apis/core/v1/helper/qos`).

use k8s_openapi::api::core::v1 as api;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }

    /// Guaranteed when every container has equal cpu and memory requests and limits, BestEffort
    /// when none sets any, Burstable otherwise.
    pub fn of(spec: &api::PodSpec) -> Self {
        let containers: Vec<&api::Container> = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .collect();
        let resources = |c: &api::Container| c.resources.clone().unwrap_or_default();
        let any = containers.iter().any(|c| {
            let r = resources(c);
            r.limits.is_some_and(|l| !l.is_empty()) || r.requests.is_some_and(|l| !l.is_empty())
        });
        if !any {
            return QosClass::BestEffort;
        }
        let guaranteed = containers.iter().all(|c| {
            let r = resources(c);
            let limits = r.limits.unwrap_or_default();
            let requests = r.requests.unwrap_or_default();
            // A request left out defaults to the limit.
            ["cpu", "memory"]
                .iter()
                .all(|k| match (limits.get(*k), requests.get(*k)) {
                    (Some(limit), Some(request)) => limit == request,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
        });
        if guaranteed {
            QosClass::Guaranteed
        } else {
            QosClass::Burstable
        }
    }
}
