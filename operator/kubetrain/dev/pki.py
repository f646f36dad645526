"""The dev cluster's public-key infrastructure.

One self-signed CA signs every certificate: the API server's serving certificate (valid for
127.0.0.1, localhost and the in-cluster `kubernetes.default.svc` names) and one client
certificate per identity (the admin, the controller manager, the scheduler, kwok, Kueue and
the `local` node), and the serving certificates of webhook servers (Kueue's). A separate RSA
key pair signs service-account tokens. Files are written once and reused, so that a second
`kubetrain dev up` keeps every credential it handed out.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubetrain.dev.processes import DevClusterError

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate's subject: CN is the user name, O the groups."""

    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = ClientIdentity("admin", "kubetrain-admin", ("system:masters",))
CONTROLLER_MANAGER = ClientIdentity("controller-manager", "system:kube-controller-manager")
SCHEDULER = ClientIdentity("scheduler", "system:kube-scheduler")
KWOK = ClientIdentity("kwok", "kubetrain:kwok", ("system:masters",))
KUEUE = ClientIdentity("kueue", "kubetrain:kueue", ("system:masters",))
APISERVER_KUBELET_CLIENT = ClientIdentity(
    "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
)


def node_identity(node_name: str) -> ClientIdentity:
    """A kubelet's identity: the Node authorizer and NodeRestriction apply to it."""
    return ClientIdentity(f"node-{node_name}", f"system:node:{node_name}", ("system:nodes",))


@dataclass(frozen=True)
class Pki:
    """Paths of the generated PKI files under one directory."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.root / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.root / "apiserver.key"

    @property
    def kubelet_serving_cert(self) -> Path:
        return self.root / "kubelet.crt"

    @property
    def kubelet_serving_key(self) -> Path:
        return self.root / "kubelet.key"

    @property
    def sa_public_key(self) -> Path:
        return self.root / "sa.pub"

    @property
    def sa_private_key(self) -> Path:
        return self.root / "sa.key"

    def client_cert(self, who: ClientIdentity) -> Path:
        return self.root / f"{who.file_stem}.crt"

    def client_key(self, who: ClientIdentity) -> Path:
        return self.root / f"{who.file_stem}.key"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: rsa.RSAPublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _load_ca(pki: Pki) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DevClusterError(
            f"{pki.ca_key} is not an RSA private key; remove it and {pki.ca_cert} to make a new CA"
        )
    return cert, key


def _ensure_ca(pki: Pki) -> None:
    if pki.ca_cert.exists() and pki.ca_key.exists():
        return
    key = _new_key()
    name = _name("kubetrain-dev-ca")
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(pki.ca_key, key)
    _write_cert(pki.ca_cert, cert)


def _issue(
    pki: Pki,
    cert_path: Path,
    key_path: Path,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> None:
    if cert_path.exists() and key_path.exists():
        return
    ca_cert, ca_key = _load_ca(pki)
    key = _new_key()
    builder = _builder(subject, ca_cert.subject, key.public_key()).add_extension(
        x509.ExtendedKeyUsage([usage]), critical=False
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    _write_key(key_path, key)
    _write_cert(cert_path, builder.sign(ca_key, hashes.SHA256()))


def ensure_serving_cert(pki: Pki, cert: Path, key: Path, common_name: str) -> None:
    """A serving certificate for a server on 127.0.0.1 (a webhook), signed by the CA."""
    cert.parent.mkdir(parents=True, exist_ok=True)
    _issue(
        pki,
        cert,
        key,
        _name(common_name),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )


def ensure(root: Path, clients: list[ClientIdentity]) -> Pki:
    """Create whatever is missing of the CA, serving, client and service-account keys."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    pki = Pki(root)
    _ensure_ca(pki)
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("10.96.0.1")),
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
    ]
    _issue(
        pki,
        pki.serving_cert,
        pki.serving_key,
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans,
    )
    ensure_serving_cert(
        pki, pki.kubelet_serving_cert, pki.kubelet_serving_key, "kubetrain-local-kubelet"
    )
    for who in clients:
        _issue(
            pki,
            pki.client_cert(who),
            pki.client_key(who),
            _name(who.user, who.groups),
            ExtendedKeyUsageOID.CLIENT_AUTH,
        )
    if not (pki.sa_private_key.exists() and pki.sa_public_key.exists()):
        key = _new_key()
        _write_key(pki.sa_private_key, key)
        pki.sa_public_key.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return pki
