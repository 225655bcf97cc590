"""TLS to real endpoints: the node client speaks TLS when the endpoint says so, and a TLS
endpoint reached in plaintext (or with an untrusted certificate) is a transport failure that
fails over, never a silent downgrade. The devnet is plaintext, so a minimal TLS gRPC server with a
throw-away certificate (openssl) stands in for a real node's transport here."""

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc

from dydx_router.chain.errors import ChainUnavailable
from dydx_router.chain.node import GrpcEndpoint, NodeClient

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


class LatestBlock(tm_grpc.ServiceServicer):  # type: ignore[misc]
    async def GetLatestBlock(self, request: object, context: object) -> object:
        response = tm_query.GetLatestBlockResponse()
        response.block.header.height = 4242
        return response


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    d: Path = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (d / "key.pem").read_bytes(), (d / "cert.pem").read_bytes()


@pytest.fixture
async def tls_node(certificate: tuple[bytes, bytes]) -> AsyncIterator[str]:
    key, cert = certificate
    server = grpc.aio.server()
    tm_grpc.add_ServiceServicer_to_server(LatestBlock(), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    await server.start()
    try:
        yield f"localhost:{port}"
    finally:
        await server.stop(None)


async def test_tls_endpoint_is_reached_over_tls(
    tls_node: str, certificate: tuple[bytes, bytes]
) -> None:
    async with NodeClient(
        [GrpcEndpoint(tls_node, tls=True)], timeout=5, tls_root_certificates=certificate[1]
    ) as client:
        assert await client.latest_height() == 4242


async def test_plaintext_or_untrusted_tls_is_a_transport_failure(tls_node: str) -> None:
    async with NodeClient([GrpcEndpoint(tls_node, tls=False)], timeout=2) as client:
        with pytest.raises(ChainUnavailable):
            await client.latest_height()
    # The system roots do not trust a self-signed certificate.
    async with NodeClient([GrpcEndpoint(tls_node, tls=True)], timeout=2) as client:
        with pytest.raises(ChainUnavailable):
            await client.latest_height()
