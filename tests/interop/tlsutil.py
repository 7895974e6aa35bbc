#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Throw-away certificates for the TLS tests, made with the `openssl` command.

    make_certs(dir) -> Certs       (from Python)
    tlsutil.py DIR                 (from node, the browser test: prints JSON
                                    of the paths below; exit 77 without
                                    openssl)

Everything is ECDSA P-256, valid for two days, and written into dir (a
temporary directory the caller removes); nothing here is ever committed.

  ca            the server CA (clients trust ca.pem)
  localhost     signed by ca: DNS:localhost, IP:127.0.0.1 (the default pair)
  localhost2    signed by ca, the same names, another key (rotation)
  other         signed by ca: DNS:other.localhost (SNI)
  wrongca       another CA that signed nothing the hub serves
  wrong         signed by wrongca: DNS:localhost, IP:127.0.0.1
  clientca      the CA of client certificates (--tls-client-ca)
  client        signed by clientca: CN=alice,OU=tests,O=ringcast
  badclient     self-signed client certificate: CN=mallory
  garbage.pem   not PEM at all
  mismatch.key  a valid key that belongs to no certificate above
"""
import json
import os
import shutil
import subprocess
import sys


class Pair:
    def __init__(self, d, name):
        self.name = name
        self.cert = os.path.join(d, name + ".pem")
        self.key = os.path.join(d, name + ".key")

    def as_dict(self):
        return {"cert": self.cert, "key": self.key}


class Certs:
    """Paths of the files make_certs() wrote (attributes named as above)."""

    def as_dict(self):
        out = {}
        for k, v in vars(self).items():
            out[k] = v.as_dict() if isinstance(v, Pair) else v
        return out


def have_openssl():
    return shutil.which("openssl") is not None


def _run(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    if r.returncode:
        raise RuntimeError(f"openssl {' '.join(args)}: exit {r.returncode}: "
                           f"{r.stderr.decode(errors='replace')[-500:]}")
    return r.stdout


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def _ca(d, name, subject):
    p = Pair(d, name)
    _run("req", "-x509", *_EC, "-keyout", p.key, "-out", p.cert,
         "-days", "2", "-subj", subject, "-sha256",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-addext", "subjectKeyIdentifier=hash", cwd=d)
    return p


def _leaf(d, name, subject, ca, ext):
    p = Pair(d, name)
    csr = os.path.join(d, name + ".csr")
    extfile = os.path.join(d, name + ".ext")
    with open(extfile, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid\n" + ext + "\n")
    _run("req", "-new", *_EC, "-keyout", p.key, "-out", csr, "-subj", subject,
         cwd=d)
    _run("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
         "-set_serial", "0x" + os.urandom(8).hex(), "-days", "2", "-sha256",
         "-extfile", extfile, "-out", p.cert, cwd=d)
    os.unlink(csr)
    os.unlink(extfile)
    return p


def _self_signed(d, name, subject, ext):
    p = Pair(d, name)
    _run("req", "-x509", *_EC, "-keyout", p.key, "-out", p.cert,
         "-days", "2", "-subj", subject, "-sha256",
         "-addext", ext, cwd=d)
    return p


SERVER_EXT = ("extendedKeyUsage=serverAuth\n"
              "subjectAltName=DNS:localhost,IP:127.0.0.1")
CLIENT_EXT = "extendedKeyUsage=clientAuth"
CLIENT_SUBJECT = "/O=ringcast/OU=tests/CN=alice"
# How rc_conn_tls_subject() (RFC 2253: most specific first) reads it.
CLIENT_SUBJECT_RFC2253 = "CN=alice,OU=tests,O=ringcast"


def make_certs(d):
    """Write the files listed above into directory d; returns Certs."""
    os.makedirs(d, exist_ok=True)
    c = Certs()
    c.dir = d
    c.ca = _ca(d, "ca", "/O=ringcast/CN=ringcast test CA")
    c.localhost = _leaf(d, "localhost", "/O=ringcast/CN=localhost", c.ca,
                        SERVER_EXT)
    c.localhost2 = _leaf(d, "localhost2", "/O=ringcast/CN=localhost", c.ca,
                         SERVER_EXT)
    c.other = _leaf(d, "other", "/O=ringcast/CN=other.localhost", c.ca,
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=DNS:other.localhost")
    c.wrongca = _ca(d, "wrongca", "/O=elsewhere/CN=some other CA")
    c.wrong = _leaf(d, "wrong", "/O=elsewhere/CN=localhost", c.wrongca,
                    SERVER_EXT)
    c.clientca = _ca(d, "clientca", "/O=ringcast/CN=ringcast client CA")
    c.client = _leaf(d, "client", CLIENT_SUBJECT, c.clientca, CLIENT_EXT)
    c.badclient = _self_signed(d, "badclient", "/O=ringcast/CN=mallory",
                               CLIENT_EXT)
    c.garbage = os.path.join(d, "garbage.pem")
    with open(c.garbage, "wb") as f:
        f.write(b"-----BEGIN CERTIFICATE-----\nthis is not base64 !!\n"
                b"-----END CERTIFICATE-----\n" + os.urandom(64))
    mismatch = _self_signed(d, "mismatch", "/CN=nobody",
                            "basicConstraints=CA:FALSE")
    c.mismatch_key = mismatch.key
    os.unlink(mismatch.cert)
    return c


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} DIR", file=sys.stderr)
        return 2
    if not have_openssl():
        print("SKIP: no openssl command", file=sys.stderr)
        return 77
    print(json.dumps(make_certs(sys.argv[1]).as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
