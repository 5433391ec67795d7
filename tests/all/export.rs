//! `wpod export`: a pod with the built-in toolbox, an unmodified wasi:http component and a
//! Service, and an nginx Deployment, rewritten for runwasi and SpinKube clusters; the output is
//! checked by the real kubectl (`apply --dry-run=client` against `wpod serve`), and the images
//! pushed to a real registry are read back and checked against the OCI image and wasm artifact
//! media types. crun's refusal of components is said plainly.

use std::io::{Read as _, Write as _};
use std::path::Path;

use serde_json::Value;

use crate::image_store::Registry;
use crate::serve::{kubectl, serve};
use crate::support::*;

fn manifest(wasm: &Path) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: hello, labels: {{app: hello}}}}
spec:
  containers:
  - name: server
    image: {}
    ports: [{{containerPort: 8080}}]
  - name: client
    image: busybox
    command: [sh, -c]
    args: ['wget -q -O- http://localhost:8080/; sleep 3600']
---
apiVersion: v1
kind: Service
metadata: {{name: hello}}
spec:
  selector: {{app: hello}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{{containerPort: 80}}]
",
        wasm.display()
    )
}

/// The registry's answer to GET `path` with `accept`: its JSON body.
fn registry_get(host: &str, path: &str, accept: &str) -> Value {
    let mut s = std::net::TcpStream::connect(host).expect("the registry answers");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {out}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn pushed_manifest(host: &str, image: &str) -> Value {
    let rest = image
        .strip_prefix(&format!("{host}/"))
        .unwrap_or_else(|| panic!("{image} is not in {host}"));
    let (repo, tag) = rest.rsplit_once(':').expect("a tag");
    registry_get(host, &format!("/v2/{repo}/manifests/{tag}"), OCI_MANIFEST)
}

fn export(store: &Path, args: &[&str]) -> Run {
    finish(
        wpod()
            .env("WPOD_IMAGE_STORE", store)
            .arg("export")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run wpod export"),
    )
}

/// Every document of the output, as kubectl reads it (`kubectl apply --dry-run=client -o json`
/// against a wpod serve, which knows every kind the output has).
fn applied(s: &Scratch, yaml: &str) -> Vec<Value> {
    let file = s.write("exported.yaml", yaml);
    let (server, config) = serve(&s.dir.join("serve"), free_port());
    let (ok, out, err) = kubectl(
        &config,
        &[
            "apply",
            "--dry-run=client",
            "--validate=false",
            "-o",
            "json",
            "-f",
            &file.to_string_lossy(),
        ],
    );
    drop(server);
    assert!(ok, "kubectl refused the export: {err}\n{yaml}");
    let list: Value = serde_json::from_str(&out).expect("kubectl's JSON");
    match list["kind"].as_str() {
        Some("List") => list["items"].as_array().cloned().unwrap_or_default(),
        _ => vec![list],
    }
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {objects:#?}"))
}

#[test]
fn runwasi_gets_a_runtime_class_rewritten_pods_and_its_images_pushed() {
    let s = Scratch::new("export-runwasi");
    let registry = Registry::start(&s.dir.join("registry"));
    let host = registry.host.clone();
    let wasm = crate::wstd_example::build();
    let file = s.write("app.yaml", manifest(&wasm));
    let r = export(
        &s.dir.join("store"),
        &[
            "--target",
            "runwasi",
            "--registry",
            &format!("{host}/demo"),
            "--insecure-registry",
            &host,
            &file.to_string_lossy(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let objects = applied(&s, &r.stdout);
    let class = find(&objects, "RuntimeClass", "wasm");
    assert_eq!(class["handler"], "wasm", "{class:#}");
    let pod = find(&objects, "Pod", "hello");
    assert_eq!(pod["spec"]["runtimeClassName"], "wasm", "{pod:#}");
    let server = &pod["spec"]["containers"][0];
    let client = &pod["spec"]["containers"][1];
    // The shim finds the program by the command's first word; the toolbox's applet follows.
    assert_eq!(
        client["command"],
        serde_json::json!([
            "/busybox.wasm",
            "sh",
            "-c",
            "wget -q -O- http://localhost:8080/; sleep 3600"
        ]),
        "{client:#}"
    );
    assert!(client.get("args").is_none(), "{client:#}");
    // Nothing the manifest did not have appears (no `initContainers: null`).
    assert!(!r.stdout.contains("null"), "{}", r.stdout);
    assert_eq!(
        server["env"][0],
        serde_json::json!({"name": "WASMTIME_HTTP_PROXY_SOCKET_ADDR", "value": "0.0.0.0:8080"}),
        "{server:#}"
    );
    let web = find(&objects, "Deployment", "web");
    assert_eq!(web["spec"]["template"]["spec"]["runtimeClassName"], "wasm");
    let nginx = &web["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        nginx["command"],
        serde_json::json!(["/nginx.wasm", "-g", "daemon off;"]),
        "{nginx:#}"
    );
    assert_eq!(
        find(&objects, "Service", "hello")["spec"]["ports"][0]["targetPort"],
        8080
    );
    // The images are in the registry, as ordinary OCI images whose layer holds the program.
    for c in [server, client, nginx] {
        let image = c["image"].as_str().expect("an image");
        assert!(image.starts_with(&format!("{host}/demo/")), "{image}");
        let m = pushed_manifest(&host, image);
        assert_eq!(m["mediaType"], OCI_MANIFEST, "{image}: {m:#}");
        assert_eq!(
            m["config"]["mediaType"], "application/vnd.oci.image.config.v1+json",
            "{image}: {m:#}"
        );
        assert_eq!(
            m["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar",
            "{image}: {m:#}"
        );
    }
    drop(registry);
}

#[test]
fn spinkube_takes_wasi_http_components_as_wasm_artifacts_and_crun_refuses_components() {
    let s = Scratch::new("export-spin");
    let registry = Registry::start(&s.dir.join("registry"));
    let host = registry.host.clone();
    let wasm = crate::wstd_example::build();
    let only_server = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hello}}\nspec:\n  containers:\n  - name: server\n    \
         image: {}\n    ports: [{{containerPort: 8080}}]\n",
        wasm.display()
    );
    let file = s.write("server.yaml", only_server);
    let store = s.dir.join("store");
    let args = |target: &'static str| {
        vec![
            "--target".to_string(),
            target.to_string(),
            "--registry".to_string(),
            host.clone(),
            "--insecure-registry".to_string(),
            host.clone(),
            file.to_string_lossy().into_owned(),
        ]
    };
    let spin = args("spinkube");
    let r = export(&store, &spin.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{r:?}");
    let objects = applied(&s, &r.stdout);
    assert_eq!(
        find(&objects, "RuntimeClass", "wasmtime-spin-v2")["handler"],
        "spin"
    );
    let server = &find(&objects, "Pod", "hello")["spec"]["containers"][0];
    assert_eq!(server["command"], serde_json::json!(["/"]), "{server:#}");
    assert_eq!(
        server["env"][0],
        serde_json::json!({"name": "SPIN_HTTP_LISTEN_ADDR", "value": "0.0.0.0:8080"})
    );
    // The CNCF wasm OCI artifact: its config and one application/wasm layer, the component.
    let m = pushed_manifest(&host, server["image"].as_str().expect("image"));
    assert_eq!(m["mediaType"], OCI_MANIFEST, "{m:#}");
    assert_eq!(
        m["config"]["mediaType"], "application/vnd.wasm.config.v0+json",
        "{m:#}"
    );
    let layers = m["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{m:#}");
    assert_eq!(layers[0]["mediaType"], "application/wasm", "{m:#}");
    let size = std::fs::metadata(&wasm).expect("the wasm").len();
    assert_eq!(layers[0]["size"], size, "{m:#}");

    // The toolbox is no Spin application, and crun runs no components: both say what to use.
    let with_busybox = s.write(
        "busybox.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
    );
    for (target, said) in [
        ("spinkube", "is not a wasi:http component"),
        ("crun", "crun runs WASI preview 1 modules only"),
    ] {
        let r = export(
            &store,
            &[
                "--target",
                target,
                "--registry",
                &host,
                &with_busybox.to_string_lossy(),
            ],
        );
        assert_eq!(r.code, 2, "{target}: {r:?}");
        assert!(
            r.stderr.contains(said) && r.stderr.contains("--target runwasi"),
            "{target}: {r:?}"
        );
    }
    drop(registry);
}
