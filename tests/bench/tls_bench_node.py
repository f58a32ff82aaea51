"""tls_bench_node(): the node of the TLS benches (tls_cpu.py, tls_handshake.py),
with a fresh self-signed P-256 certificate for localhost / 127.0.0.1."""
import subprocess

from weirtest import Node, free_ports


def tls_bench_node(wd, log_level="warn", rtmps=False, nofile=None, max_handshakes=None):
    """A Node (not started) in wd/node with https.listen on a free loopback
    port (node.https_port) and wd/cert.pem, wd/key.pem as tls.cert, tls.key;
    connection limits raised for thousands of players. rtmps: rtmps.listen
    too (node.rtmps_port). nofile: the node's open-file limit. max_handshakes:
    tls.max_handshakes (None: the node's default)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", wd + "/key.pem",
                    "-out", wd + "/cert.pem", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    https_port, rtmps_port = free_ports(2)
    over = {
        "tls": {"cert": wd + "/cert.pem", "key": wd + "/key.pem"},
        "https": {"listen": "127.0.0.1:%d" % https_port},
        "limits": {"max_connections": 5000, "max_connections_per_address": 5000},
        "log": {"level": log_level}}
    if max_handshakes is not None:
        over["tls"]["max_handshakes"] = max_handshakes
    if rtmps:
        over["rtmps"] = {"listen": "127.0.0.1:%d" % rtmps_port}
    node = Node(wd + "/node", over, nofile=nofile)
    node.https_port = https_port
    node.rtmps_port = rtmps_port if rtmps else None
    return node
