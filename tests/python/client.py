#!/usr/bin/env python3
"""The official Python Kubernetes client (PyPI `kubernetes`) drives a running `wpod serve`.

Usage: client.py KUBECONFIG

Prints one line per step; on any failure prints `FAIL: ...` to stderr and exits non-zero.
Every wait is bounded. tests/all/python_client.rs starts the server and runs this.
"""

import json
import sys
import time
import traceback

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NS = "default"
POD = "py-hello"
CONFIG_MAP = "py-config"
LABEL = "app=py"
WAIT_SECONDS = 60


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def step(message):
    print(message, flush=True)


def pod_manifest(name):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "py"}),
        spec=client.V1PodSpec(
            termination_grace_period_seconds=1,
            containers=[
                client.V1Container(
                    name="main",
                    image="busybox",
                    command=["sh", "-c", "echo hello from python; sleep 1000"],
                )
            ],
        ),
    )


def expect_api_error(status, call, *args, **kwargs):
    """Runs `call` and returns the ApiException it must raise, with HTTP status `status`."""
    try:
        call(*args, **kwargs)
    except ApiException as e:
        check(
            e.status == status,
            f"{call.__name__}: expected HTTP {status}, got {e.status} {e.reason}: {e.body}",
        )
        return e
    raise Failure(f"{call.__name__}: expected HTTP {status}, but the call succeeded")


def main(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()

    namespaces = [n.metadata.name for n in v1.list_namespace().items]
    check(
        "default" in namespaces and "kube-system" in namespaces,
        f"namespaces default and kube-system exist, got {namespaces}",
    )
    step(f"ok: list_namespace: {', '.join(sorted(namespaces))}")

    nodes = [n.metadata.name for n in v1.list_node().items]
    check(nodes == ["wpod"], f"one node named wpod, got {nodes}")
    step("ok: list_node: wpod")

    # List, then watch from the list's resourceVersion (as informers do): the watch then replays
    # the create as ADDED however fast the pod starts, and follows it to Running (MODIFIED).
    selector = f"metadata.name={POD}"
    listed = v1.list_namespaced_pod(NS, field_selector=selector)
    check(not listed.items, f"no pod {POD} before the test, found one")
    since = listed.metadata.resource_version
    check(since, f"the pod list has a metadata.resourceVersion, got {since!r}")

    created = v1.create_namespaced_pod(NS, pod_manifest(POD))
    check(created.metadata.name == POD, f"created pod is named {created.metadata.name}")
    check(created.metadata.uid, "created pod has a uid")
    step(f"ok: create_namespaced_pod {POD} (uid {created.metadata.uid})")

    seen = []
    running = False
    deadline = time.monotonic() + WAIT_SECONDS
    w = watch.Watch()
    try:
        for event in w.stream(
            v1.list_namespaced_pod,
            namespace=NS,
            field_selector=selector,
            resource_version=since,
            timeout_seconds=WAIT_SECONDS,
            # The server ends the watch after timeout_seconds; should it not, no read may stall
            # longer than that either.
            _request_timeout=(10, WAIT_SECONDS + 5),
        ):
            obj = event["object"]
            check(
                isinstance(obj, client.V1Pod),
                f"watch event {event['type']} carries a V1Pod, got {type(obj).__name__}: "
                f"{event.get('raw_object')}",
            )
            check(obj.metadata.name == POD, f"the field selector let through {obj.metadata.name}")
            phase = obj.status.phase if obj.status else None
            seen.append((event["type"], phase))
            if event["type"] == "MODIFIED" and phase == "Running":
                running = True
                w.stop()
            elif time.monotonic() > deadline:
                w.stop()
    except Failure:
        raise
    except Exception as e:  # a read timeout: the server neither sent events nor ended the watch
        raise Failure(
            f"watch of {POD} broke off after {seen} with {type(e).__name__}: {e} "
            f"(the server should end a watch after timeoutSeconds={WAIT_SECONDS})"
        )
    check(running, f"the watch saw the pod reach Running within {WAIT_SECONDS}s, saw {seen}")
    check(seen[0][0] == "ADDED", f"the watch's first event is ADDED, saw {seen}")
    step(f"ok: watch {POD}: {' '.join(f'{t}({p})' for t, p in seen)}")

    log = ""
    deadline = time.monotonic() + WAIT_SECONDS
    while "hello from python" not in log and time.monotonic() < deadline:
        log = v1.read_namespaced_pod_log(POD, NS)
        if "hello from python" not in log:
            time.sleep(0.2)
    check("hello from python" in log, f"the pod's log says hello from python, got {log!r}")
    step("ok: read_namespaced_pod_log: hello from python")

    pod = v1.read_namespaced_pod(POD, NS)
    check(
        pod.kind == "Pod" and pod.api_version == "v1",
        f"the pod read back says kind Pod, apiVersion v1; got {pod.kind!r}, {pod.api_version!r}",
    )
    check(pod.status.phase == "Running", f"pod phase Running, got {pod.status.phase}")
    check(pod.status.pod_ip, f"pod has status.podIP, got {pod.status.pod_ip!r}")
    check(pod.spec.node_name == "wpod", f"spec.nodeName is wpod, got {pod.spec.node_name!r}")
    check(
        pod.spec.termination_grace_period_seconds == 1,
        f"terminationGracePeriodSeconds kept, got {pod.spec.termination_grace_period_seconds}",
    )
    step(f"ok: read_namespaced_pod: podIP {pod.status.pod_ip}, node {pod.spec.node_name}")

    e = expect_api_error(409, v1.create_namespaced_pod, NS, pod_manifest(POD))
    check(e.body and "AlreadyExists" in e.body, f"409 body has reason AlreadyExists: {e.body}")
    status = json.loads(e.body)
    check(
        status.get("kind") == "Status" and status.get("reason") == "AlreadyExists",
        f"409 body is a Status with reason AlreadyExists: {e.body}",
    )
    step("ok: create_namespaced_pod again: 409 AlreadyExists")

    cm = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=CONFIG_MAP),
        data={"greeting": "hello", "multi": "line one\nline two\n"},
    )
    v1.create_namespaced_config_map(NS, cm)
    back = v1.read_namespaced_config_map(CONFIG_MAP, NS)
    check(
        back.kind == "ConfigMap" and back.api_version == "v1",
        f"the ConfigMap read back says kind ConfigMap, apiVersion v1; got {back.kind!r}, {back.api_version!r}",
    )
    check(
        back.data == {"greeting": "hello", "multi": "line one\nline two\n"},
        f"ConfigMap data round-trips, got {back.data}",
    )
    step(f"ok: create and read_namespaced_config_map {CONFIG_MAP}")

    for name in ("py-two", "py-three"):
        v1.create_namespaced_pod(NS, pod_manifest(name))
    names = sorted(p.metadata.name for p in v1.list_namespaced_pod(NS, label_selector=LABEL).items)
    check(names == ["py-hello", "py-three", "py-two"], f"three pods labelled {LABEL}, got {names}")
    step(f"ok: list_namespaced_pod label_selector={LABEL}: {', '.join(names)}")

    v1.delete_collection_namespaced_pod(NS, label_selector=LABEL)
    step(f"ok: delete_collection_namespaced_pod label_selector={LABEL}")
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        left = [p.metadata.name for p in v1.list_namespaced_pod(NS, label_selector=LABEL).items]
        if not left:
            break
        check(time.monotonic() < deadline, f"pods gone within {WAIT_SECONDS}s, still {left}")
        time.sleep(0.2)
    step("ok: all pods labelled app=py gone")

    v1.delete_namespaced_config_map(CONFIG_MAP, NS)
    e = expect_api_error(404, v1.read_namespaced_config_map, CONFIG_MAP, NS)
    check(e.body and "NotFound" in e.body, f"404 body has reason NotFound: {e.body}")
    step(f"ok: delete_namespaced_config_map {CONFIG_MAP}; read gives 404 NotFound")

    step("PASS")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: client.py KUBECONFIG", file=sys.stderr)
        sys.exit(2)
    try:
        main(sys.argv[1])
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
    except ApiException as e:
        traceback.print_exc()
        print(
            f"FAIL: unexpected API error: HTTP {e.status} {e.reason}: {e.body}",
            file=sys.stderr,
        )
        sys.exit(1)
    except Exception as e:  # anything else: the client choked on a response, or a bug here
        traceback.print_exc()
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
