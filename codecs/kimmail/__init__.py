"""``kimmail``: KIM mails to a Medizinischer Dienst (pure, no I/O).

:func:`analyse` turns one raw mail (as fetched from the KIM client module) into a
:class:`MailVerdict`: accepted with its MiMa-Aktenzeichen and insured person, or
quarantined with reasons and a German notice for the sender. It never raises.

>>> looks_like_mail(b"UNB+UNOC:3+260510223+120591481'")
False
>>> reason("KIM06").text
'Die Mail betrifft mehr als einen Versicherten.'
"""

from .analyse import FormReader, TextLayer, analyse
from .cda import CdaInfo, is_cda, read_cda
from .config import KimConfig, KimLimits, MdConfig
from .errors import CdaError, KimError, LimitError, MimeError
from .headers import looks_like_mail
from .kvnr import kvnr_check_digit, kvnr_valid
from .model import (
    ACCEPTED,
    QUARANTINED,
    ROLES,
    Attachment,
    MailVerdict,
    Reason,
)
from .reasons import CATALOGUE, CodeInfo, notice_for, reason

__all__ = [
    "ACCEPTED",
    "CATALOGUE",
    "QUARANTINED",
    "ROLES",
    "Attachment",
    "CdaError",
    "CdaInfo",
    "CodeInfo",
    "FormReader",
    "KimConfig",
    "KimError",
    "KimLimits",
    "LimitError",
    "MailVerdict",
    "MdConfig",
    "MimeError",
    "Reason",
    "TextLayer",
    "analyse",
    "is_cda",
    "kvnr_check_digit",
    "kvnr_valid",
    "looks_like_mail",
    "notice_for",
    "read_cda",
    "reason",
]
