//! `wpod validate` and `wpod run` on bad manifests: positions, suggestions, exit code 2.

use crate::support::*;

const TYPO: &str = "apiVersion: v1
kind: Pod
metadata:
  name: typo
spec:
  containers:
    - name: app
      image: testkit
      imagePullPolcy: IfNotPresent
";

#[test]
fn misspelled_field_has_position_and_suggestion() {
    let s = Scratch::new("typo");
    let f = s.write("pod.yaml", TYPO);
    let path = f.to_string_lossy().into_owned();
    let r = run_args(&["validate", &path]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains(&format!("{path}:9:7")), "{r:?}");
    assert!(
        r.stderr.contains("spec.containers[0].imagePullPolcy"),
        "{r:?}"
    );
    assert!(r.stderr.contains("imagePullPolicy"), "{r:?}");
    // `run` refuses the same manifest before running anything.
    let r = run_args(&["run", &path]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("nothing was run"), "{r:?}");
}

#[test]
fn valid_manifest_passes() {
    let r = run_args(&[
        "validate",
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/two-containers.yaml"),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("valid"), "{r:?}");
}

#[test]
fn every_error_is_reported_at_once() {
    let s = Scratch::new("many");
    let f = s.write(
        "pod.yaml",
        "apiVersion: v1
kind: Pod
metadata: {name: Bad_Name}
spec:
  restartPolicy: Sometimes
  containers:
    - {name: app, image: testkit}
    - {name: app, image: testkit}
",
    );
    let r = run_args(&["validate", &f.to_string_lossy()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("metadata.name"), "{r:?}");
    assert!(r.stderr.contains("spec.restartPolicy"), "{r:?}");
    assert!(r.stderr.contains("spec.containers[1].name"), "{r:?}");
}

#[test]
fn every_example_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let r = run_args(&["validate", &path.to_string_lossy()]);
            assert_eq!(r.code, 0, "{}: {r:?}", path.display());
            n += 1;
        }
    }
    assert!(n >= 4);
}
