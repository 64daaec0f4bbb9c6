"""A small ACME client (RFC 8555) for the ACME server's tests: it signs what it is told,
so that tests can also send what a real client never would (issue 13)."""
import base64
import hashlib
import hmac as hmaclib
import http.client
import json
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from cin import Response


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _int(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


def jwk_of(key):
    pub = key.public_key()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = 48 if key.curve.name == "secp384r1" else 32
        nums = pub.public_numbers()
        return {"crv": "P-384" if size == 48 else "P-256", "kty": "EC",
                "x": _int(nums.x, size), "y": _int(nums.y, size)}
    if isinstance(key, rsa.RSAPrivateKey):
        nums = pub.public_numbers()
        return {"e": _int(nums.e), "kty": "RSA", "n": _int(nums.n)}
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": b64(raw)}


def alg_of(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES384" if key.curve.name == "secp384r1" else "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    return "EdDSA"


def sign(key, alg, data):
    if alg not in ("ES256", "ES384", "RS256", "EdDSA"):
        alg = alg_of(key)  # a header that lies about its algorithm
    if alg in ("ES256", "ES384"):
        h = hashes.SHA384() if alg == "ES384" else hashes.SHA256()
        size = 48 if alg == "ES384" else 32
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def thumbprint(jwk):
    keys = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    canon = json.dumps({k: jwk[k] for k in keys[jwk["kty"]]}, separators=(",", ":"),
                       sort_keys=True)
    return b64(hashlib.sha256(canon.encode()).digest())


def csr_der(names, key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
    b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                        critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER), key


def ari_id(cert):
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    serial = cert.serial_number
    raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # DER: a leading 0 when high
    return b64(aki.key_identifier) + "." + b64(raw)


class AcmeClient:
    def __init__(self, port, key=None, host=None, mount="/certinext"):
        self.port = port
        self.host = host or f"localhost:{port}"
        self.base = f"https://{self.host}{mount}/acme/"
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.kid = None
        self._nonce = None
        self.dir = None

    # -- transport --
    def request(self, method, url, body=None, ctype="application/jose+json", tls=True,
                headers=None):
        assert url.startswith("https://")
        path = url.split(self.host, 1)[1]
        h = {"Host": self.host}
        if body is not None:
            h["Content-Type"] = ctype
        h.update(headers or {})
        if tls:
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                            context=ssl._create_unverified_context())
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            headers = {}
            for k, v in r.getheaders():
                k = k.lower()
                headers[k] = headers[k] + ", " + v if k in headers and k == "link" else v
            resp = Response(r.status, headers, data.decode("utf-8", "replace"))
            resp.raw = data
            if "replay-nonce" in headers:
                self._nonce = headers["replay-nonce"]
            return resp
        finally:
            c.close()

    def directory(self):
        r = self.request("GET", self.base + "directory")
        assert r.status == 200, r
        self.dir = r.json
        return r.json

    def nonce(self):
        if self._nonce:
            n, self._nonce = self._nonce, None
            return n
        if not self.dir:
            self.directory()
        r = self.request("HEAD", self.dir["newNonce"])
        self._nonce = None
        return r.headers["replay-nonce"]

    # -- JWS --
    def jws(self, url, payload, key=None, kid=True, nonce=None, protected_extra=None,
            alg=None):
        key = key or self.key
        prot = {"alg": alg or alg_of(key), "url": url}
        if nonce is not False:
            prot["nonce"] = nonce or self.nonce()
        if kid and self.kid:
            prot["kid"] = self.kid
        else:
            prot["jwk"] = jwk_of(key)
        prot.update(protected_extra or {})
        p64 = b64(json.dumps(prot))
        if payload is None:
            pay64 = ""
        elif isinstance(payload, (bytes, str)):
            pay64 = b64(payload)
        else:
            pay64 = b64(json.dumps(payload))
        sig = sign(key, prot["alg"], f"{p64}.{pay64}".encode())
        return {"protected": p64, "payload": pay64, "signature": b64(sig)}

    def post(self, url, payload, **kw):
        ctype = kw.pop("ctype", "application/jose+json")
        body = json.dumps(self.jws(url, payload, **kw)).encode()
        return self.request("POST", url, body, ctype=ctype)

    # -- flows --
    def eab(self, kid, hmac_b64, url=None, jwk=None):
        prot = b64(json.dumps({"alg": "HS256", "kid": kid, "url": url or self.dir["newAccount"]}))
        pay = b64(json.dumps(jwk or jwk_of(self.key)))
        mac = hmaclib.new(unb64(hmac_b64), f"{prot}.{pay}".encode(), hashlib.sha256).digest()
        return {"protected": prot, "payload": pay, "signature": b64(mac)}

    def register(self, kid, hmac_b64, **extra):
        if not self.dir:
            self.directory()
        payload = {"termsOfServiceAgreed": True, **extra}
        if kid:
            payload["externalAccountBinding"] = self.eab(kid, hmac_b64)
        r = self.post(self.dir["newAccount"], payload, kid=False)
        if r.status in (200, 201):
            self.kid = r.headers["location"]
        return r

    def new_order(self, names, **extra):
        return self.post(self.dir["newOrder"],
                         {"identifiers": [{"type": "dns", "value": n} for n in names], **extra})

    def finalize(self, order, names=None, der=None):
        if der is None:
            der, _ = csr_der(names or [i["value"] for i in order["identifiers"]])
        return self.post(order["finalize"], {"csr": b64(der)})
