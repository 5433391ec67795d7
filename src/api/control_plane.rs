//! The API's objects and controllers without the HTTP server: how `wpod run` runs manifests
//! with Deployments, ReplicaSets and Services. Objects are kept in memory and created as
//! `kubectl apply` would create them, so a run and `wpod serve` behave alike.

use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::BodyExt as _;
use serde_json::Value;

use super::objects::{self, key};
use super::store::Store;
use super::{Api, Say, controllers, discovery, logs, namespaces, pods, workloads};
use crate::net::Cluster;
use crate::node::Node;

pub struct ControlPlane {
    api: Arc<Api>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ControlPlane {
    /// Starts the controllers over an empty store; `base_dir` is where relative image paths of
    /// pods resolve.
    pub fn start(
        node: Arc<Node>,
        cluster: Arc<Cluster>,
        base_dir: PathBuf,
        say: Say,
    ) -> anyhow::Result<Self> {
        let api = Arc::new(Api {
            store: Store::in_memory()?,
            node,
            token: String::new(),
            signer: None,
            ca_pem: None,
            base_dir,
            logs: Arc::new(logs::LogStore::default()),
            cluster,
            say,
        });
        namespaces::ensure_defaults(&api)?;
        workloads::ensure_cluster_services(&api);
        let tasks = vec![
            tokio::spawn(pods::follow(Arc::clone(&api))),
            tokio::spawn(controllers::run(Arc::clone(&api))),
        ];
        Ok(ControlPlane { api, tasks })
    }

    /// Creates a manifest's object (in its namespace, made if missing) as `kubectl apply` does;
    /// Ok is what kubectl would print (`deployment.apps/web created`).
    pub async fn apply(&self, object: Value) -> Result<String, String> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("v1");
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let r = discovery::of_kind(api_version, kind)
            .ok_or_else(|| format!("wpod does not serve {kind} in {api_version}"))?;
        let ns = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        if r.namespaced && self.api.store.get(&key("namespaces", "", &ns)).is_none() {
            let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let made = objects::create_object(
                &self.api,
                discovery::find("", "namespaces").unwrap_or(r),
                "",
                namespace,
            );
            answer(made).await?;
        }
        let created = answer(objects::create_object(&self.api, r, &ns, object)).await?;
        let group = if r.group.is_empty() {
            String::new()
        } else {
            format!(".{}", r.group)
        };
        Ok(format!(
            "{}{group}/{} created",
            r.singular,
            objects::name_of(&created)
        ))
    }

    /// `Complete` or `Failed` once the Job has ended (None while it runs or when it is unknown).
    pub fn job_outcome(&self, namespace: &str, name: &str) -> Option<&'static str> {
        let job = self.api.store.get(&key("jobs", namespace, name))?;
        controllers::job_finished(&job)
    }

    /// Stops the controllers, so that stopping the pods does not make them make new ones.
    pub fn stop_controllers(&self) {
        for t in &self.tasks[1..] {
            t.abort();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The created object, or the apiserver's message of why not.
async fn answer(response: hyper::Response<super::status::Body>) -> Result<Value, String> {
    let ok = response.status().is_success();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if ok {
        Ok(value)
    } else {
        Err(value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("refused")
            .to_string())
    }
}
