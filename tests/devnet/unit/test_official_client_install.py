"""When the official Python client's virtualenv cannot be made, the tests that need it skip only
if pip could not reach the index (`scripts.official_client_venv.index_unreachable`); any other
pip failure fails them. The samples are pip 23's output, recorded here against a refused port,
an unknown host and (for the others) the messages pip prints for those failures."""

from __future__ import annotations

import pytest
from scripts.official_client_venv import index_unreachable

_NO_MATCH = (
    "ERROR: Could not find a version that satisfies the requirement dydx-v4-client==1.1.5 "
    "(from versions: none)\nERROR: No matching distribution found for dydx-v4-client==1.1.5\n"
)
_RETRY = "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) "


@pytest.mark.parametrize(
    "output",
    [
        _RETRY
        + "after connection broken by 'NewConnectionError(\"HTTPSConnection(host='127.0.0.1', "
        "port=9): Failed to establish a new connection: [Errno 111] Connection refused\")': "
        "/simple/dydx-v4-client/\n" + _NO_MATCH,
        _RETRY + "after connection broken by 'NameResolutionError(\"HTTPSConnection(host='no-such-"
        "host.invalid', port=443): Failed to resolve 'no-such-host.invalid' ([Errno -2] Name or "
        "service not known)\")': /simple/dydx-v4-client/\n" + _NO_MATCH,
        _RETRY + "after connection broken by 'ConnectTimeoutError(<pip._vendor.urllib3.connection."
        "HTTPSConnection object at 0x7f>, 'Connection to pypi.org timed out. (connect timeout=15)')"
        "': /simple/dydx-v4-client/\n" + _NO_MATCH,
    ],
    ids=["refused", "unknown-host", "connect-timeout"],
)
def test_no_connection_to_the_index_is_a_skip(output: str) -> None:
    assert index_unreachable(output)


@pytest.mark.parametrize(
    "output",
    [
        _NO_MATCH,  # the index answered: the version is not there
        _RETRY + "after connection broken by 'SSLError(SSLCertVerificationError(1, '[SSL: "
        "CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in "
        "certificate chain (_ssl.c:1006)'))': /simple/dydx-v4-client/\n" + _NO_MATCH,
        _RETRY + "after connection broken by 'ProxyError('Cannot connect to proxy.', OSError("
        "'Tunnel connection failed: 403 Forbidden'))': /simple/dydx-v4-client/\n" + _NO_MATCH,
        "error: subprocess-exited-with-error\n  Building wheel for ed25519-blake2b failed\n",
    ],
    ids=["no-such-version", "tls", "proxy-refused", "build-failed"],
)
def test_other_pip_failures_are_failures(output: str) -> None:
    assert not index_unreachable(output)
