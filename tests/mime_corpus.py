"""A corpus of awkward real-world MIME shapes, built in code so the project keeps it exactly.

Every entry is raw bytes as an IMAP worker would hand them over; the ingest path must store
and give back each of them byte for byte.
"""

from __future__ import annotations

import base64

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 8


def _b64(data: bytes, width: int = 76, eol: bytes = b"\r\n") -> bytes:
    encoded = base64.b64encode(data)
    return eol.join(encoded[i : i + width] for i in range(0, len(encoded), width)) + eol


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def corpus() -> dict[str, bytes]:
    """Name -> raw message."""
    messages: dict[str, bytes] = {}
    messages["plain crlf"] = _crlf(
        "From: Jane <jane@example.com>\nTo: sam@acme.io\nSubject: Re: quick question\n"
        "Message-ID: <r1@example.com>\nIn-Reply-To: <email_1@acme.io>\n\nSounds good, Tuesday?\n"
    )
    messages["plain lf only"] = (
        b"From: jane@example.com\nTo: sam@acme.io\nSubject: lf\n\nbody\nwith lines\n"
    )
    messages["header only"] = b"From: a@b.co\r\nSubject: nothing else\r\n"
    messages["no body"] = b"From: a@b.co\r\nSubject: empty\r\n\r\n"
    messages["no headers"] = b"\r\njust a body\r\n"
    messages["duplicate headers and folding"] = _crlf(
        "Received: from a by b;\n\tMon, 1 Jan 2024 00:00:00 +0000\nReceived: from c by d;\n"
        " Mon, 1 Jan 2024 00:00:01 +0000\nSubject: =?utf-8?q?caf=C3=A9?= and\n =?iso-8859-1?q?na=EFve?=\n"
        "From: =?utf-8?b?SsOpcsO0bWU=?= <j@example.fr>\n\nBonjour\n"
    )
    messages["very long line"] = _crlf("From: a@b.co\nSubject: long\n\n") + b"x" * 20000 + b"\r\n"
    messages["latin-1 8bit"] = (
        b"From: a@b.co\r\nSubject: latin\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 cr\xe8me\r\n"
    )
    messages["8bit header bytes"] = (
        b"From: J\xc3\xa9r\xc3\xb4me <j@x.fr>\r\nSubject: \xe9t\xe9\r\n\r\nhi\r\n"
    )
    messages["alternative + related with inline image"] = (
        _crlf(
            "From: jane@example.com\nTo: sam@acme.io\nSubject: inline\nMIME-Version: 1.0\n"
            'Content-Type: multipart/related; boundary="REL"\n\npreamble text\n--REL\n'
            'Content-Type: multipart/alternative; boundary="ALT"\n\n--ALT\n'
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
            "Hi Sam =E2=80=94 see the logo=\n below.\n--ALT\nContent-Type: text/html; charset=utf-8\n\n"
            '<p>Hi Sam <img src="cid:logo@x"></p>\n--ALT--\n--REL\nContent-Type: image/png\n'
            "Content-ID: <logo@x>\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\n"
        )
        + _b64(PNG)
        + b"--REL--\r\nepilogue\r\n"
    )
    messages["mixed with pdf (76 col base64)"] = (
        _crlf(
            "From: jane@example.com\nSubject: deck\nMIME-Version: 1.0\n"
            'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain\n\nSee attached\n'
            '--b1\nContent-Type: application/pdf; name="deck.pdf"\n'
            'Content-Disposition: attachment; filename="deck.pdf"\nContent-Transfer-Encoding: base64\n\n'
        )
        + _b64(PDF)
        + b"--b1--\r\n"
    )
    messages["odd base64 line length, LF"] = (
        b"From: a@b.co\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\n"
        b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
        + _b64(PDF, width=60, eol=b"\n")
        + b"--zz--\n"
    )
    messages["rfc 2231 and encoded-word filenames"] = (
        _crlf(
            'From: a@b.co\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="x"\n\n--x\n'
            "Content-Type: application/octet-stream\n"
            "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.pdf\n"
            "Content-Transfer-Encoding: base64\n\n"
        )
        + _b64(b"euro")
        + _crlf(
            '--x\nContent-Type: application/octet-stream; name="=?utf-8?b?w6l0w6kucGRm?="\n'
            "Content-Transfer-Encoding: base64\n\n"
        )
        + _b64(b"ete")
        + b"--x--\r\n"
    )
    messages["missing final boundary"] = _crlf(
        'From: a@b.co\nContent-Type: multipart/mixed; boundary="open"\n\n--open\n'
        "Content-Type: text/plain\n\nfirst\n--open\nContent-Type: text/plain\n\nsecond, never closed\n"
    )
    messages["garbage after last boundary"] = (
        _crlf(
            'From: a@b.co\nContent-Type: multipart/mixed; boundary="g"\n\n--g\nContent-Type: text/plain\n\n'
            "ok\n--g--\n"
        )
        + b"\x00\xff garbage \r\n--g\r\nnot a part\r\n"
    )
    messages["binary part"] = (
        b'From: a@b.co\r\nContent-Type: multipart/mixed; boundary="bin"\r\n\r\n--bin\r\n'
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        + bytes(range(256))
        + b"\r\n--bin--\r\n"
    )
    messages["boundary never appears"] = _crlf(
        'From: a@b.co\nContent-Type: multipart/mixed; boundary="nope"\n\njust text\n'
    )
    messages["nested three deep"] = _crlf(
        'From: a@b.co\nContent-Type: multipart/mixed; boundary="a"\n\n--a\n'
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\n'
        'Content-Type: multipart/alternative; boundary="c"\n\n--c\nContent-Type: text/plain\n\ndeep\n'
        "--c--\n--b--\n--a\nContent-Type: message/rfc822\n\nFrom: inner@x.co\nSubject: fwd\n\ninner body\n--a--\n"
    )
    messages["transport padding on delimiters"] = (
        b"From: a@b.co\r\nContent-Type: multipart/mixed; boundary=pad\r\n\r\n--pad  \r\n"
        b"Content-Type: text/plain\r\n\r\npadded\r\n--pad--\t\r\n"
    )
    return messages


def bounce_for(message_id: str) -> bytes:
    """A delivery status notification (RFC 3464) for the message with this Message-ID."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        "To: sam@acme.io\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"\r\n\r\n'
        "--dsn\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your "
        "message could not be delivered.\r\n"
        "--dsn\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n"
        "\r\nFinal-Recipient: rfc822; jane@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--dsn\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: sam@acme.io\r\n"
        f"To: jane@example.com\r\nSubject: Quick question\r\nMessage-ID: {message_id}\r\n"
        "--dsn--\r\n"
    ).encode()


OUT_OF_OFFICE = (
    b"From: Jane Doe <jane@example.com>\r\nTo: sam@acme.io\r\n"
    b"Subject: Automatic reply: Quick question, Jane\r\nAuto-Submitted: auto-replied\r\n"
    b"X-Auto-Response-Suppress: All\r\nIn-Reply-To: <email_2@acme.io>\r\n\r\n"
    b"I am out of the office until Monday with limited access to email.\r\n"
)
