"""The client signer is usable by agents and the simulator without Django."""

import subprocess
import sys

from tests.conftest import REPO_ROOT

SCRIPT = """
import sys
from apps.sensors.signing import generate_private_key, private_key_pem, sign_request
key = generate_private_key()
headers = sign_request(method="post", url="https://ingest.example.org/api/v1/sensor/pulses",
                       body=b"{}", content_type="application/json", serial="S-1",
                       private_key=private_key_pem(key))
assert set(headers) == {"Content-Type", "Content-Digest", "Signature-Input", "Signature"}
assert 'keyid="S-1"' in headers["Signature-Input"] and "nonce=" in headers["Signature-Input"]
assert '"@method" "@target-uri" "content-digest" "content-type"' in headers["Signature-Input"]
assert not any(name == "django" or name.startswith("django.") for name in sys.modules)
print("ok")
"""


def test_signing_module_imports_without_django():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_each_signature_gets_a_fresh_nonce():
    from apps.sensors.signing import generate_private_key, sign_request

    key = generate_private_key()
    inputs = {
        sign_request(
            method="POST",
            url="http://testserver/x",
            body=b"{}",
            content_type="application/json",
            serial="S-1",
            private_key=key,
        )["Signature-Input"]
        for _ in range(20)
    }
    assert len(inputs) == 20
