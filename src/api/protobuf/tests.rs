//! Bodies the real kubectl (v1.32) sent for `kubectl create ...`, captured with `-v=9`.

use serde_json::json;

fn decoded(bytes: &[u8]) -> serde_json::Value {
    super::to_json(bytes).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_configmap_from_kubectl_create() {
    assert_eq!(
        decoded(include_bytes!("../../../tests/data/protobuf/configmap.pb")),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo3"},
               "data": {"a": "b", "c": "d"}})
    );
}

#[test]
fn a_secrets_bytes_become_base64() {
    let s = decoded(include_bytes!("../../../tests/data/protobuf/secret.pb"));
    assert_eq!(s["data"], json!({"password": "aHVudGVyMg=="}));
    assert!(
        s.get("type").is_none(),
        "kubectl leaves the type to the server: {s}"
    );
}

#[test]
fn a_namespace_and_a_service_account() {
    let ns = decoded(include_bytes!("../../../tests/data/protobuf/namespace.pb"));
    assert_eq!(ns["metadata"], json!({"name": "ns2"}));
    let sa = decoded(include_bytes!(
        "../../../tests/data/protobuf/serviceaccount.pb"
    ));
    assert_eq!(
        (sa["kind"].as_str(), &sa["metadata"]),
        (Some("ServiceAccount"), &json!({"name": "robot2"}))
    );
}

#[test]
fn a_deployment_keeps_an_explicit_zero_and_drops_go_zero_values() {
    let d = decoded(include_bytes!("../../../tests/data/protobuf/deployment.pb"));
    assert_eq!(
        (d["apiVersion"].as_str(), d["kind"].as_str()),
        (Some("apps/v1"), Some("Deployment"))
    );
    assert_eq!(
        d["spec"]["replicas"], 0,
        "--replicas=0 is a pointer set to zero: {d}"
    );
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {"app": "web2"}})
    );
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx");
    assert_eq!(c["ports"], json!([{"containerPort": 80}]));
    assert!(
        d["metadata"].get("creationTimestamp").is_none(),
        "a zero time is unset: {d}"
    );
}

#[test]
fn malformed_bodies_are_errors() {
    assert!(super::to_json(b"").is_err());
    assert!(super::to_json(b"k8s\0\x0a\xff").is_err());
    assert!(super::to_json(b"{\"kind\": \"Pod\"}").is_err());
    // A kind the schema does not hold.
    let mut unknown = b"k8s\0\x0a\x0b\x0a\x02v1\x12\x05Thing\x12\x00".to_vec();
    unknown.truncate(unknown.len());
    assert!(super::to_json(&unknown).unwrap_err().contains("Thing"));
}
