"""Credentials in URLs never reach a message, and missing credentials say how to give them (issue 28).

Against the local moto server only: botocore refuses ``user:password@host`` as a bucket
name before any request, and a missing credential is found before any request too.
"""

from __future__ import annotations

import traceback

import pytest

import dask_zarrio as dz
from dask_zarrio.errors import StoreError, redact_url
from tests.servers.s3 import s3_options

SECRET = "hunter2-SECRET"


@pytest.mark.parametrize("text", [
    f'Invalid bucket name "user:{SECRET}@host": Bucket name must match',  # botocore: no scheme
    f"bucket user:{SECRET}@127.0.0.1:9000 not found",
    f"(user:{SECRET}@host)",
    f"'user:{SECRET}@host/b'",
    f"user:p@{SECRET}@host/b",  # an unencoded @ in the password
    f"user:{SECRET}:more@host",
    f"s3://user:{SECRET}@host/b and again user:{SECRET}@host",
    f"user%40corp:{SECRET}@host",
])
def test_redact_hides_a_password_before_at_in_any_text(text):
    assert SECRET not in redact_url(text)
    assert "***" in redact_url(text)


@pytest.mark.parametrize("text", [
    "https://example.org:443/a.zarr", "no secret here: 12:30", "user@host:path", "a::b", "s3://b/a.zarr?x=1",
])
def test_redact_leaves_plain_text_alone(text):
    assert redact_url(text) == text


def _url(s3_endpoint: str, bucket: str) -> str:
    host = s3_endpoint.split("://", 1)[1]
    return f"s3://user:{SECRET}@{host}/{bucket}/a.zarr"


@pytest.mark.parametrize("call", [
    lambda url, opts: dz.read(url, storage_options=opts),
    lambda url, opts: dz.info(url, storage_options=opts),
    lambda url, opts: dz.open_group(url, storage_options=opts),
    lambda url, opts: dz.verify(url, storage_options=opts),
], ids=["read", "info", "open_group", "verify"])
def test_a_password_in_an_s3_url_is_a_store_error_without_it(s3_endpoint, bucket, call):
    with pytest.raises(StoreError) as info:
        call(_url(s3_endpoint, bucket), s3_options(s3_endpoint))
    shown = "".join(traceback.format_exception(info.value))  # the chain a traceback or a log shows
    assert SECRET not in shown and "***" in str(info.value)


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """An environment where botocore finds no credentials (and never asks an instance-metadata host)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "nonexistent"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "nonexistent-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def anonymous_options(endpoint: str) -> dict:
    """Like s3_options, without the key and secret."""
    options = s3_options(endpoint)
    del options["key"], options["secret"]
    return options


def test_missing_credentials_say_how_to_give_them(s3_endpoint, bucket, no_aws_credentials):
    with pytest.raises(StoreError) as info:
        dz.info(f"s3://{bucket}/a.zarr", storage_options=anonymous_options(s3_endpoint))
    message = str(info.value)
    for hint in ("anon", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", bucket):
        assert hint in message
