"""SSRF checks on webhook URLs: the URL's form and every address its name resolves to."""

import pytest

from annotation.errors import Invalid
from integrations.webhooks.signing import signature_compute, signature_verify
from integrations.webhooks.targets import address_is_public, target_check


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook",
    "http://localhost:8000/hook",  # a name: refused for what it resolves to
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://10.1.2.3/", "http://172.16.0.5/", "http://192.168.1.1/", "http://[fd00::1]/",
    "http://100.64.0.1/",  # shared address space
    "http://0.0.0.0/",
    "http://0x7f000001/",  # loopback spelled in hex: refused by its resolved address
    "http://224.0.0.1/",
])
def test_private_loopback_and_link_local_targets_are_refused(url):
    with pytest.raises(Invalid) as error:
        target_check(url, allow_private=False)
    assert error.value.field == "url"


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://example.org/", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("http:///nohost", "must name a host"),
    ("https://user:pw@93.184.215.14/", "credentials"),
    ("http://93.184.215.14:99999/", "not a valid URL"),
    ("http://no-such-host.invalid/", "does not resolve"),
])
def test_malformed_urls_are_refused_with_the_reason(url, message):
    with pytest.raises(Invalid, match=message):
        target_check(url, allow_private=False)


def test_a_public_address_passes_and_keeps_path_and_query():
    target = target_check("https://93.184.215.14:8443/hooks/palate?team=a", allow_private=False)
    assert target.addresses == ("93.184.215.14",) and target.port == 8443
    assert target.path == "/hooks/palate?team=a" and target.scheme == "https"


def test_the_setting_allows_private_targets():
    target = target_check("http://localhost:9/x", allow_private=True)
    assert set(target.addresses) <= {"127.0.0.1", "::1"} and target.addresses


def test_address_classification():
    assert address_is_public("93.184.215.14") and address_is_public("2606:4700:4700::1111")
    assert not address_is_public("::ffff:10.0.0.1") and not address_is_public("fe80::1%eth0")


def test_signatures_verify_only_with_the_secret_body_and_a_recent_timestamp():
    body = b'{"event":"snapshot.built"}'
    signature = signature_compute(secret="s3cret", timestamp=1_000_000, body=body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert signature_verify(secret="s3cret", timestamp="1000000", signature=signature, body=body,
                            now=1_000_100)
    assert not signature_verify(secret="other", timestamp="1000000", signature=signature, body=body,
                                now=1_000_100)
    assert not signature_verify(secret="s3cret", timestamp="1000000", signature=signature,
                                body=body + b" ", now=1_000_100)
    assert not signature_verify(secret="s3cret", timestamp="1000001", signature=signature, body=body,
                                now=1_000_100)  # the timestamp is signed too
    assert not signature_verify(secret="s3cret", timestamp="1000000", signature=signature, body=body,
                                now=1_000_000 + 301)  # a replay after the tolerance
