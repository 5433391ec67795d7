//! NodePorts, as kube-proxy opens them on a node: each `nodePort` of a NodePort or LoadBalancer
//! Service listens on the host's loopback (127.0.0.1:30000-32767, wpod's node being this
//! machine), and every connection goes to a ready endpoint of the Service, as one to its
//! ClusterIP would, dialled from the node.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use super::Node;
use crate::net::netns::Proto;
use crate::net::services::{Route, Services};

/// Shows what is published (and what could not be).
pub type Say = Arc<dyn Fn(&str) + Send + Sync>;

/// Follows the Services for as long as the node runs.
pub async fn run(node: Arc<Node>, services: Arc<Services>, say: Say) {
    let mut changes = services.subscribe();
    // node port -> (the Service port it serves, its listener's task)
    let mut open: HashMap<u16, (SocketAddrV4, tokio::task::JoinHandle<()>)> = HashMap::new();
    // What failed to bind, so it is said once.
    let mut refused: HashMap<u16, SocketAddrV4> = HashMap::new();
    loop {
        let wanted = services.node_ports();
        open.retain(|port, (vip, task)| {
            let keep = wanted.iter().any(|(p, v, _, _)| p == port && v == vip);
            if !keep {
                task.abort();
            }
            keep
        });
        refused.retain(|port, vip| wanted.iter().any(|(p, v, _, _)| p == port && v == vip));
        for (port, vip, ns, name) in wanted {
            if open.contains_key(&port) || refused.get(&port) == Some(&vip) {
                continue;
            }
            let host = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
            match crate::net::publish::bind_host(host) {
                Ok((_, listener)) => {
                    say(&format!(
                        "service {ns}/{name}: node port {port} published on 127.0.0.1:{port}"
                    ));
                    let task =
                        tokio::spawn(serve(listener, vip, ns, node.clone(), services.clone()));
                    open.insert(port, (vip, task));
                }
                Err(why) => {
                    say(&format!("service {ns}/{name}: node port {port}: {why}"));
                    refused.insert(port, vip);
                }
            }
        }
        if changes.changed().await.is_err() {
            break;
        }
    }
    for (_, (_, task)) in open {
        task.abort();
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    vip: SocketAddrV4,
    namespace: String,
    node: Arc<Node>,
    services: Arc<Services>,
) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            return;
        };
        let (node, services, namespace) = (node.clone(), services.clone(), namespace.clone());
        tokio::spawn(async move {
            // The node's own address on the pod network is where NodePort traffic comes from.
            let Route::To { addr, pod, .. } =
                services.route(vip, Proto::Tcp, crate::net::cluster::NODE_IP)
            else {
                return;
            };
            if let Ok(mut backend) = node.dial(&namespace, &pod, addr.port()).await {
                let _ = client.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
            }
        });
    }
}
