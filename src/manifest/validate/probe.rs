//! Checks for liveness, readiness and startup probes.

use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Checker;
use crate::manifest::names;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Liveness,
    Readiness,
    Startup,
}

pub fn check(checker: &mut Checker<'_>, path: &str, probe: &Probe, which: Which) {
    let handlers = [
        probe.exec.is_some(),
        probe.http_get.is_some(),
        probe.tcp_socket.is_some(),
        probe.grpc.is_some(),
    ];
    match handlers.iter().filter(|set| **set).count() {
        0 => checker.required(
            path,
            "give the probe one handler: `exec`, `httpGet`, `tcpSocket` or `grpc`",
        ),
        1 => {}
        _ => checker.forbidden(path, "may not specify more than 1 handler type"),
    }
    let positive = [
        ("periodSeconds", probe.period_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("failureThreshold", probe.failure_threshold),
        ("successThreshold", probe.success_threshold),
    ];
    for (field, value) in positive {
        if let Some(v) = value
            && v < 1
        {
            checker.invalid(
                &format!("{path}.{field}"),
                v,
                "must be greater than or equal to 1",
            );
        }
    }
    if let Some(v) = probe.initial_delay_seconds
        && v < 0
    {
        checker.invalid(
            &format!("{path}.initialDelaySeconds"),
            v,
            "must be greater than or equal to 0",
        );
    }
    if which != Which::Readiness
        && let Some(v) = probe.success_threshold
        && v > 1
    {
        checker.invalid(&format!("{path}.successThreshold"), v, "must be 1");
    }
    if let Some(v) = probe.termination_grace_period_seconds
        && v <= 0
    {
        checker.invalid(
            &format!("{path}.terminationGracePeriodSeconds"),
            v,
            "must be greater than 0",
        );
    }
    if let Some(get) = &probe.http_get {
        port(checker, &format!("{path}.httpGet.port"), &get.port);
    }
    if let Some(tcp) = &probe.tcp_socket {
        port(checker, &format!("{path}.tcpSocket.port"), &tcp.port);
    }
    if let Some(grpc) = &probe.grpc {
        port(
            checker,
            &format!("{path}.grpc.port"),
            &IntOrString::Int(grpc.port),
        );
    }
}

/// A probe's port: a number, or the name of one of the container's ports.
fn port(checker: &mut Checker<'_>, path: &str, port: &IntOrString) {
    match port {
        IntOrString::Int(p) if !(1..=65535).contains(p) => {
            checker.invalid(path, p, "must be between 1 and 65535, inclusive");
        }
        IntOrString::Int(_) => {}
        IntOrString::String(name) => checker.name(path, name, names::iana_svc_name),
    }
}
