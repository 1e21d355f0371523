"""Email and SMS providers: a real SMTP server (aiosmtpd) and a real HTTP receiver on loopback,
and the outbox when neither is configured."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import pytest
from aiosmtpd.smtp import AuthResult

from serve import email as mailer
from serve.settings import Settings
from tests.smtp_inbox import Inbox, smtp_inbox
from tests.unit.loopback import http_server, json_answer

MESSAGE = {"to": "ada@example.com", "from": "Acme <no-reply@acme.test>", "subject": "Sign in",
           "text": "Open https://app.test/cb?token=tk_1&type=magiclink",
           "html": '<a href="https://app.test/cb?token=tk_1&amp;type=magiclink">Sign in</a>'}


@pytest.fixture
def smtp():
    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        inbox.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret:/@")

    with smtp_inbox(inbox, authenticator=authenticator, auth_require_tls=False) as server:
        yield server


async def test_smtp_delivers_a_multipart_alternative_message(smtp, tmp_path):
    settings = Settings(data_dir=str(tmp_path), smtp_url=smtp["url"])
    await mailer.send_email(settings, MESSAGE)
    envelope, msg = smtp["inbox"].received[0]
    assert envelope.rcpt_tos == ["ada@example.com"] and envelope.mail_from == "no-reply@acme.test"
    assert msg.get_content_type() == "multipart/alternative" and msg["Subject"] == "Sign in"
    assert msg["From"] == "Acme <no-reply@acme.test>" and msg["Message-ID"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "token=tk_1&type=magiclink" in text and "token=tk_1&amp;type=magiclink" in html
    assert not (tmp_path / "outbox").exists()


async def test_smtp_logs_in_with_the_url_credentials(smtp, tmp_path):
    url = smtp["url"].replace("smtp://", "smtp://mailer:s3cret%3A%2F%40@")
    await mailer.send_email(Settings(data_dir=str(tmp_path), smtp_url=url), MESSAGE)
    assert smtp["inbox"].logins == [("mailer", "s3cret:/@")] and smtp["inbox"].received


def test_smtp_urls_parse():
    server = mailer.parse_smtp_url("smtp://u%40x:p@mail.test:2525?starttls=true")
    assert (server.host, server.port, server.user, server.password, server.starttls,
            server.tls) == ("mail.test", 2525, "u@x", "p", True, False)
    assert mailer.parse_smtp_url("smtps://mail.test").port == 465
    assert mailer.parse_smtp_url("smtp://mail.test").port == 25
    for bad in ("http://mail.test", "smtp://", "mail.test:25"):
        with pytest.raises(ValueError):
            mailer.parse_smtp_url(bad)


async def test_without_smtp_each_message_is_an_eml_file_in_the_outbox(tmp_path):
    settings = Settings(data_dir=str(tmp_path))
    await mailer.send_email(settings, MESSAGE)
    await mailer.send_email(settings, {**MESSAGE, "to": "bob@example.com", "html": None})
    files = sorted(mailer.outbox_dir(settings, "email").glob("*.eml"))
    assert mailer.outbox_dir(settings, "email") == tmp_path / "outbox" / "email"
    assert len(files) == 2 and not list(files[0].parent.glob(".*"))
    first, second = (message_from_bytes(f.read_bytes(), policy=policy.default) for f in files)
    assert {first["To"], second["To"]} == {"ada@example.com", "bob@example.com"}
    plain = first if first["To"] == "bob@example.com" else second
    assert plain.get_content_type() == "text/plain"


async def test_header_injection_is_refused(tmp_path):
    with pytest.raises(ValueError):
        await mailer.send_email(Settings(data_dir=str(tmp_path)),
                                {**MESSAGE, "subject": "hi\r\nBcc: eve@example.com"})


async def test_sms_posts_to_the_configured_endpoint(tmp_path):
    with http_server(json_answer(200, {"queued": True})) as peer:
        settings = Settings(data_dir=str(tmp_path), sms_url=peer["url"] + "/sms")
        await mailer.send_sms(settings, "+15555550123", "Your code is 123456")
        got = peer["requests"][0]
    assert got["method"] == "POST" and got["path"] == "/sms"
    assert json.loads(got["body"]) == {"to": "+15555550123", "body": "Your code is 123456"}
    assert not (tmp_path / "outbox").exists()


async def test_sms_endpoint_failures_raise(tmp_path):
    import httpx

    with http_server(json_answer(500, {})) as peer:
        with pytest.raises(httpx.HTTPStatusError):
            await mailer.send_sms(Settings(data_dir=str(tmp_path), sms_url=peer["url"]),
                                  "+15555550123", "x")


async def test_without_an_sms_url_messages_go_to_the_outbox(tmp_path):
    settings = Settings(data_dir=str(tmp_path))
    await mailer.send_sms(settings, "+15555550123", "Your code is 654321")
    [path] = mailer.outbox_dir(settings, "sms").glob("*.json")
    record = json.loads(path.read_text())
    assert record["to"] == "+15555550123" and "654321" in record["body"]
    assert record["created_at"].endswith("Z")


def test_raybase_up_says_where_messages_go_without_secrets(tmp_path):
    local = mailer.describe(Settings(data_dir=str(tmp_path)))
    assert local == [f"auth email: outbox {tmp_path}/outbox/email (one .eml file per message)",
                     f"auth SMS: outbox {tmp_path}/outbox/sms (one .json file per message)"]
    remote = mailer.describe(Settings(data_dir=str(tmp_path),
                                      smtp_url="smtp://u:pw@mail.test:2525?starttls=true",
                                      sms_url="https://k:secret@sms.test/send"))
    assert remote == ["auth email: SMTP at mail.test:2525", "auth SMS: POST to sms.test"]


async def test_attachments_and_several_recipients(smtp, tmp_path):
    settings = Settings(data_dir=str(tmp_path), smtp_url=smtp["url"])
    await mailer.send_email(settings, {
        **MESSAGE, "to": ["ada@example.com", "bob@example.com"], "html": None,
        "attachments": [{"filename": "r.csv", "content_type": "text/csv; charset=utf-8",
                         "content": b"n\r\n1\r\n"},
                        {"filename": "r.pdf", "content_type": "application/pdf",
                         "content": b"%PDF-1.4 \x00\xff"}]})
    envelope, msg = smtp["inbox"].received[0]
    assert envelope.rcpt_tos == ["ada@example.com", "bob@example.com"]
    assert msg.get_content_type() == "multipart/mixed"
    assert "token=tk_1" in msg.get_body(("plain",)).get_content()
    got = [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
           for p in msg.iter_attachments()]
    assert got == [("r.csv", "text/csv", b"n\r\n1\r\n"),
                   ("r.pdf", "application/pdf", b"%PDF-1.4 \x00\xff")]
