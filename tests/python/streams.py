"""The official Python client's streaming calls against `wpod serve`: exec (output, stdin, exit
code) and port forwarding (an HTTP request to nginx through the pod's localhost, and the error a
port without a listener gives). Prints one line per check: `ok <what>` or raises.

usage: streams.py KUBECONFIG POD
"""
import sys

from kubernetes import client, config
from kubernetes.stream import portforward, stream

config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
pod = sys.argv[2]

out = stream(api.connect_get_namespaced_pod_exec, pod, "default",
             command=["sh", "-c", "echo $HOSTNAME"], stderr=True, stdin=False,
             stdout=True, tty=False)
assert out == pod + "\n", repr(out)
print("ok exec output")

resp = stream(api.connect_get_namespaced_pod_exec, pod, "default",
              command=["sh", "-c", "read line; echo got $line; exit 4"], stderr=True,
              stdin=True, stdout=True, tty=False, _preload_content=False)
resp.write_stdin("hello\n")
resp.run_forever(timeout=20)
got = resp.read_stdout()
assert got == "got hello\n", repr(got)
assert resp.returncode == 4, resp.returncode
resp.close()
print("ok exec stdin and exit code")

pf = portforward(api.connect_get_namespaced_pod_portforward, pod, "default", ports="80,81")
sock = pf.socket(80)
sock.setblocking(True)
sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
reply = b""
while True:
    chunk = sock.recv(65536)
    if not chunk:
        break
    reply += chunk
assert reply.startswith(b"HTTP/1.1 200 OK") and b"Welcome to nginx" in reply, reply[:200]
sock.close()
print("ok port-forward 80")
bad = pf.socket(81)
bad.setblocking(True)
assert bad.recv(100) == b""
error = pf.error(81)
assert error and "error forwarding port 81 to pod " + pod in error, error
print("ok port-forward error", error)
pf.close()
