"""``sgb301``: a pure, I/O-free codec for §301 SGB V EDIFACT (GKV and DGUV "301-UV").

Tokenize interchanges zero-copy, validate them in Prüfstufen 1–3, decode the segments
the rules read, and build the FEHL/KOUB replies of a data acceptance point.

>>> from sgb301 import Validator
>>> Validator().validate(b"").file_errors[0].code
'1SW01'
"""

# First, before any module it may replace: the compiled core, if built for these sources.
from . import _native

#: Whether the compiled modules (mypyc) are in use, and a line saying which build or why
#: not (for the start-up log); see :mod:`sgb301._native`.
NATIVE, NATIVE_STATUS = _native.activate(__path__, __name__)
#: The environment variables the codec reads: the build's directory, and pure Python.
NATIVE_SETTINGS = (_native.ENV_DIR, _native.ENV_PURE)
#: For the router's packages with compiled modules: ``activate_native(__path__, __name__)``.
activate_native = _native.activate

from .catalogue import CATALOGUE, CodeInfo, text_for
from .decoder import decode
from .delimiters import DEFAULT, Delimiters
from .errors import EdifactSyntaxError, LayoutError, ReplyError, Sgb301Error
from .ik import ik_check_digit, ik_valid, lanr_valid
from .message_types import MESSAGE_TYPES, MessageType
from .model import (
    ACCEPTED,
    REJECTED,
    DecodedMessage,
    Interchange,
    InterchangeReport,
    MessageSpan,
    MessageVerdict,
    Violation,
)
from .rules import MODES, TEST_MARKER, UV_TEST_IK
from .tokenizer import Token, scan, split_elements, tokenize, unescape
from .validator import ValidationOptions, Validator, validate

__all__ = [
    "ACCEPTED",
    "CATALOGUE",
    "DEFAULT",
    "MESSAGE_TYPES",
    "MODES",
    "NATIVE",
    "NATIVE_SETTINGS",
    "NATIVE_STATUS",
    "REJECTED",
    "TEST_MARKER",
    "UV_TEST_IK",
    "CodeInfo",
    "DecodedMessage",
    "Delimiters",
    "EdifactSyntaxError",
    "Interchange",
    "InterchangeReport",
    "LayoutError",
    "MessageSpan",
    "MessageType",
    "MessageVerdict",
    "ReplyError",
    "Sgb301Error",
    "Token",
    "ValidationOptions",
    "Validator",
    "Violation",
    "activate_native",
    "decode",
    "ik_check_digit",
    "ik_valid",
    "lanr_valid",
    "scan",
    "split_elements",
    "text_for",
    "tokenize",
    "unescape",
    "validate",
]
