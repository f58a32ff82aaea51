"""tlsutil: a private PKI for the TLS tests (test_tls.py, test_tls_clients.py),
made with the openssl CLI: a CA (EC P-256: fast) and certificates it signs,
with a chosen serial and subjectAltNames."""

import os
import subprocess

import weirtest


def openssl(*args, stdin=None, timeout=10):
    return subprocess.run([weirtest.require_tool("openssl")] + list(args), input=stdin,
                          capture_output=True, timeout=timeout)


def make_ca(d, name="ca", cn="Weir Test CA"):
    """d/name.pem and d/name.key: a self-signed CA. Returns the .pem path."""
    r = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", os.path.join(d, name + ".key"), "-out",
                os.path.join(d, name + ".pem"), "-days", "2", "-subj", "/CN=" + cn)
    assert r.returncode == 0, r.stderr
    return os.path.join(d, name + ".pem")


def make_cert(d, name, cn, serial, sans, ca="ca"):
    """name.pem (signed by d/ca) and name.key, with that serial and SANs."""
    key, csr, ext = (os.path.join(d, name + s) for s in (".key", ".csr", ".ext"))
    r = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
    assert r.returncode == 0, r.stderr
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % ",".join(sans))
    r = openssl("x509", "-req", "-in", csr, "-CA", os.path.join(d, ca + ".pem"), "-CAkey",
                os.path.join(d, ca + ".key"), "-set_serial", str(serial), "-days", "2",
                "-extfile", ext, "-out", os.path.join(d, name + ".pem"))
    assert r.returncode == 0, r.stderr
    return os.path.join(d, name + ".pem"), key


def wait_closed(socks, timeout):
    """Reads each socket until the node closes it (an alert may come first,
    or a reset), at most timeout seconds each."""
    for s in socks:
        s.settimeout(timeout)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
