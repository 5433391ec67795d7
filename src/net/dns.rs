//! The cluster DNS's answers (what CoreDNS' kubernetes plugin serves), for the Linux backend's
//! server in the node namespace and the wasm pod network's datagrams to the kube-dns address.
//!
//! A records for Services, headless endpoints and pods; SRV records for named ports
//! (`_<port>._<proto>.<svc>.<ns>.svc.cluster.local`) with the targets' A records as additional
//! data; NXDOMAIN for other names (wpod forwards nothing outside the cluster).

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::services::Services;

/// How long an answer may be cached (CoreDNS' default for cluster records).
const TTL: u32 = 5;
/// The largest DNS message over UDP without EDNS.
const UDP_MAX: usize = 512;

/// The reply to one query, or None for what does not parse as a query.
pub fn answer(query: &[u8], services: &Services) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.authoritative = true;
    if request.metadata.op_code != OpCode::Query || request.queries.len() != 1 {
        reply.metadata.response_code = ResponseCode::NotImp;
        return reply.to_vec().ok();
    }
    let question = request.queries[0].clone();
    // The name comes fully qualified: the client's resolver applied its search path.
    let name = question.name().to_ascii();
    let found = match question.query_type() {
        RecordType::SRV => services.srv(&name).map(|records| {
            for r in records {
                let Ok(target) = Name::from_ascii(&r.target) else {
                    continue;
                };
                let srv = SRV::new(0, r.weight, r.port, target.clone());
                reply.add_answer(Record::from_rdata(
                    question.name().clone(),
                    TTL,
                    RData::SRV(srv),
                ));
                reply.add_additional(Record::from_rdata(target, TTL, RData::A(A(r.ip))));
            }
        }),
        query_type => services.resolve_fqdn(&name).map(|ips| {
            if query_type == RecordType::A {
                for ip in ips {
                    reply.add_answer(Record::from_rdata(
                        question.name().clone(),
                        TTL,
                        RData::A(A(ip)),
                    ));
                }
            }
        }),
    };
    if found.is_none() {
        reply.metadata.response_code = ResponseCode::NXDomain;
    }
    reply.add_query(question);
    let bytes = reply.to_vec().ok()?;
    if bytes.len() > UDP_MAX {
        let mut truncated = Message::response(request.metadata.id, request.metadata.op_code);
        truncated.metadata.truncation = true;
        return truncated.to_vec().ok();
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netns::Proto;
    use crate::net::services::{Endpoint, Service, ServicePort};
    use hickory_proto::op::Query;
    use std::net::Ipv4Addr;

    fn services(headless: bool) -> Services {
        let table = Services::default();
        let endpoint = |last: u8, hostname: Option<&str>| Endpoint {
            ip: Ipv4Addr::new(10, 88, 0, last),
            pod: format!("db-{last}"),
            ready: true,
            hostname: hostname.map(str::to_string),
            targets: vec![Some(5432)],
        };
        table.set(Service {
            namespace: "default".into(),
            name: "db".into(),
            cluster_ip: (!headless).then_some(Ipv4Addr::new(10, 96, 0, 20)),
            ports: vec![ServicePort {
                name: Some("pg".into()),
                port: 5433,
                protocol: Proto::Tcp,
                node_port: None,
            }],
            endpoints: vec![endpoint(5, Some("primary")), endpoint(6, None)],
            affinity: None,
            external_name: None,
        });
        table
    }

    fn ask(services: &Services, name: &str, kind: RecordType) -> Message {
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii(name).expect("name"), kind));
        let reply = answer(&q.to_vec().expect("bytes"), services).expect("a reply");
        Message::from_vec(&reply).expect("parses")
    }

    fn srvs(m: &Message) -> Vec<(u16, String)> {
        m.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some((s.port, s.target.to_ascii())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_named_port_of_a_cluster_ip_service_has_one_srv_record() {
        let m = ask(
            &services(false),
            "_pg._tcp.db.default.svc.cluster.local.",
            RecordType::SRV,
        );
        assert_eq!(
            srvs(&m),
            vec![(5433, "db.default.svc.cluster.local.".to_string())]
        );
        assert_eq!(m.additionals.len(), 1);
    }

    #[test]
    fn a_headless_service_has_one_per_ready_pod_named_by_hostname_or_address() {
        let table = services(true);
        let m = ask(
            &table,
            "_pg._tcp.db.default.svc.cluster.local.",
            RecordType::SRV,
        );
        assert_eq!(
            srvs(&m),
            vec![
                (5432, "primary.db.default.svc.cluster.local.".to_string()),
                (5432, "10-88-0-6.db.default.svc.cluster.local.".to_string()),
            ]
        );
        // Each target resolves.
        let a = ask(
            &table,
            "10-88-0-6.db.default.svc.cluster.local.",
            RecordType::A,
        );
        assert_eq!(a.answers.len(), 1);
    }

    #[test]
    fn unknown_ports_and_protocols_are_nxdomain() {
        let table = services(false);
        for name in [
            "_http._tcp.db.default.svc.cluster.local.",
            "_pg._udp.db.default.svc.cluster.local.",
            "_pg._tcp.nope.default.svc.cluster.local.",
        ] {
            let m = ask(&table, name, RecordType::SRV);
            assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
        }
    }
}
