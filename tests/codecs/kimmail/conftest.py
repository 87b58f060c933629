"""Fixtures for the ``kimmail`` tests: mails from :mod:`kimfixtures.mails`, fake readers.

The real form reader is used on text-layer Muster 86 PDFs (fast: no OCR). Cases the
fixtures cannot draw (an unconfident reading, an OCR source) use :func:`fake_reader`,
which answers from a marker in the bytes: ``FAKE-M86|<akz>|<md>|<kvnr>|<source>|<0/1>``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kimfixtures.mails import fake_reader

from kimmail import KimConfig, MailVerdict, analyse

_CONFIG = KimConfig()


@pytest.fixture
def run_fake() -> Callable[..., MailVerdict]:
    """``analyse`` with the fake reader."""

    def run(raw: bytes, config: KimConfig = _CONFIG) -> MailVerdict:
        return analyse(raw, config, reader=fake_reader)

    return run
