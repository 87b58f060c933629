"""Deterministic §301-UV benchmark corpus, built from the published seed examples.

The eight DGUV example messages (``sgb301.examples``) are the templates: their segment
order, message identifiers and value pools (ICD and OPS codes, Entgeltarten,
Fachabteilungen) are read from the published texts, then every message gets fresh,
internally consistent values from one seeded ``random.Random``:

* case number (INV-6, digits), Unfalltag or ``BK`` (INV-10);
* patient name, first name, street and town in ISO 8859-1 (umlauts, ß, accents), sex,
  birth date, postcode;
* admission / discharge / invoice dates (real calendar dates, leap days included) and
  times; amounts with decimal comma (the REC amount is the sum of the ENT lines);
* hospital IKs ``26…`` with a valid IK check digit (``sgb301.ik_check_digit``);
* the number of EAD / NDG / FAB / ENT repetitions.

Message types: AUFN, ENTL, RECH (hospital → UV-Träger, FKT-4 and UNB receiver are the UV
test IK 120591481) and KOUB (UV-Träger → hospital, sender 120591481), KOUBs in their own
interchanges. Inside an interchange UNH references run 00001, 00002, …; UNT segment
counts and the UNZ message count are computed (the published RECH examples carry wrong
UNT counts on purpose; generated ones are correct). Every interchange is UV test data
(application reference ``TUVK0001``).

``build_corpus(n_messages, per_interchange, seed)`` returns the interchanges as bytes.
Run as a script to print statistics; ``--check`` validates every message with
``sgb301.Validator()`` and fails on any rejection::

    uv run python benchmarks/corpus.py --messages 100000 --check
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import sgb301
from sgb301 import examples

__all__ = [
    "DEFAULT_MESSAGES",
    "DEFAULT_PER_INTERCHANGE",
    "DEFAULT_SEED",
    "TEST_IK",
    "VerifyResult",
    "build_corpus",
    "corpus_stats",
    "fast_path_hits",
    "verify",
]

DEFAULT_MESSAGES = 100_000
DEFAULT_PER_INTERCHANGE = 100
DEFAULT_SEED = 301

TEST_IK = examples.TEST_IK  # 120591481, the DGUV test IK (receiver of all KH→KT messages)
APPLICATION_REFERENCE = "TUVK0001"  # marks UV test data (TUVK0…)

# Share of each message type in the corpus (KOUBs travel in separate interchanges).
TYPE_WEIGHTS = {"AUFN": 0.30, "ENTL": 0.25, "RECH": 0.25, "KOUB": 0.20}
KH_TYPES = ("AUFN", "ENTL", "RECH")

# ---- value pools beyond what the seed examples contain ------------------------------

LAST_NAMES = (
    "Mustermann", "Müller", "Schröder", "Weiß", "Groß", "Köhler", "Bäcker", "Jäger",
    "Schäfer", "Krüger", "Hoffmann", "Schmidt", "Meyer", "Wagner", "Becker", "Schulz",
    "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Braun",
    "Hartmann", "Krämer", "Lange", "Möller", "König", "Günther", "Böhm", "Kühn", "Fuß",
    "Spieß", "Strauß", "Özdemir", "Çelik", "Sørensen", "Núñez", "Lefèvre", "Åberg",
    "Müller-Lüdenscheidt", "Schmidt-Rößler", "de la Cruz", "von Bülow", "Nguyen",
    "Haßelbeck", "Dürr", "Thäle", "Töpfer",
)
FIRST_NAMES = (
    "Max", "Erika", "Jürgen", "Jörg", "Björn", "Sören", "Zoë", "Renée", "Günther",
    "Käthe", "Hélène", "José", "Ömer", "Françoise", "Ingrid", "Søren", "Anja", "Uwe",
    "Lena", "Müge", "Chloé", "Noël", "Jens", "Gülay", "Mia", "Lukas", "Ana María",
    "Hans-Jürgen", "Marie-Thérèse", "Ludwig",
)
STREETS = (
    "Musterstraße", "Hauptstraße", "Königsallee", "Am Mühlbach", "Lindenstraße",
    "Goethestraße", "Schloßplatz", "Jägerweg", "Bahnhofstraße", "Große Brüdergasse",
    "Züricher Straße", "Rue de Genève", "Uferstraße", "Kölner Landstraße",
)
TOWNS = (
    ("12345", "Musterhausen"), ("80331", "München"), ("50667", "Köln"),
    ("40213", "Düsseldorf"), ("23552", "Lübeck"), ("37073", "Göttingen"),
    ("90762", "Fürth"), ("97070", "Würzburg"), ("45468", "Mülheim an der Ruhr"),
    ("60311", "Frankfurt am Main"), ("66111", "Saarbrücken"), ("49074", "Osnabrück"),
    ("72070", "Tübingen"), ("35390", "Gießen"), ("52428", "Jülich"), ("31675", "Bückeburg"),
    ("01067", "Dresden"), ("18055", "Rostock"),
)
# Names with an apostrophe: only used when ``released_share`` > 0 (needs ``?'``).
RELEASED_NAMES = ("O'Connor", "D'Angelo", "Dell'Orto", "N'Diaye")

ICD_EXTRA = (
    "S82.6", "S52.50", "S42.20", "S72.10", "S06.0", "S32.01", "S83.2", "S62.61",
    "T14.03", "S92.3", "S13.4", "S80.0", "M23.2", "S43.1", "S27.0", "S01.80", "S36.04",
    "T20.2", "T23.2", "S68.1", "S86.0", "U69.10!", "V99!", "W11.9!",
)
OPS_EXTRA = ("5790k1", "5793g", "5794af", "8930", "3200", "5800n5", "1204", "8561", "3205")
DEPARTMENTS_EXTRA = ("1500", "2300", "1600", "3600", "0100", "2000", "1800")
DRGS = ("I09C", "E74Z", "I08F", "I13B", "B80Z", "I68D", "I23B", "X62Z", "I32F", "W61B")
ENT_EXTRA = ("46005000", "47100001", "47100018", "48000001", "75105002", "76M00014")
# Aufnahmegrund: code list (Schlüssel 1) and UV rules 34U02/34U03 → 0[1-5]02.
ADMISSION_REASONS = ("0102", "0102", "0102", "0202", "0302", "0402", "0502")
# Entlassungsgrund: Schlüssel 5, not 00x, not 059 (34U04).
DISCHARGE_REASONS = ("019", "019", "069", "011", "029", "039", "049", "079", "089", "099",
                     "109", "119", "129", "139", "149", "179", "219", "229")
KOS_MARKS = ("01", "01", "01", "02", "03", "04", "05", "07")  # 34U09
SEXES = "mmmmwwwwdx"
TXT_LINES = (
    "Kostenzusage für die stationäre Behandlung",
    "Bitte Durchgangsarztbericht nachreichen",
    "Verlängerung erst nach ärztlicher Begründung",
    "Weiterbehandlung über Heilverfahrenssteuerung",
    "Rückfragen bitte an die Bezirksverwaltung Köln",
)

_START = dt.date(2015, 1, 1).toordinal()
_END = dt.date(2025, 12, 31).toordinal()


# ---- the seed examples as templates ---------------------------------------------------


def _parse(text: str) -> list[list[list[str]]]:
    """Segments → elements → components (the published examples hold no release char)."""
    segments = [s.strip("\r\n") for s in text.split("'")]
    return [[e.split(":") for e in s.split("+")] for s in segments if s]


class _Seed:
    """What the generator takes from the published examples."""

    def __init__(self) -> None:
        self.identifiers: dict[str, list[str]] = {}  # type → UNH-2 components
        self.orders: dict[str, list[str]] = {}  # type → segment tags in published order
        icd: list[str] = []
        ops: list[str] = []
        departments: list[str] = []
        ent: list[str] = []
        for name in examples.MESSAGES:
            segs = _parse(examples.message(name).decode("latin-1"))
            mtype = segs[0][2][0]
            self.identifiers[mtype] = segs[0][2]
            order = self.orders.setdefault(mtype, [])
            for els in segs:
                tag = els[0][0]
                if tag not in order:
                    order.append(tag)
                values = [e[0] for e in els]
                if tag in ("EAD", "NDG"):
                    icd.extend(v for v in values[1:3] if v)
                elif tag == "ETL":
                    icd.extend(v for v in values[5:7] if v)
                    departments.append(values[4])
                elif tag == "AUF":
                    departments.append(values[4])
                elif tag == "FAB":
                    departments.append(values[1])
                    if len(values) > 7 and values[7]:
                        ops.append(values[7])
                elif tag == "ENT" and not values[1].startswith("7010"):
                    ent.append(values[1])
        self.icd = _unique([*icd, *ICD_EXTRA])
        self.ops = _unique([*ops, *OPS_EXTRA])
        self.departments = _unique([*departments, *DEPARTMENTS_EXTRA])
        self.ent = _unique([*ent, *ENT_EXTRA])


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


# ---- value helpers ----------------------------------------------------------------------


def _escape(text: str) -> str:
    """EDIFACT release for free text (UNOC default delimiters)."""
    for ch in "?'+:":
        text = text.replace(ch, "?" + ch)
    return text


def _date(d: dt.date) -> str:
    return f"{d:%Y%m%d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randrange(24):02d}{rng.randrange(60):02d}"


def _amount(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def make_ik(rng: random.Random, klass: str = "26") -> str:
    """A 9-digit IK with a correct check digit (digits 3–8 weighted 2,1,2,1,2,1)."""
    first8 = klass + f"{rng.randrange(1_000_000):06d}"
    ik = first8 + str(sgb301.ik_check_digit(first8))
    assert sgb301.ik_valid(ik), ik
    return ik


def _lanr(rng: random.Random) -> str:
    """A LANR with a valid check digit (digits 1–6 weighted 4,9,4,9,4,9)."""
    digits = [rng.randrange(10) for _ in range(6)]
    total = sum(d * w for d, w in zip(digits, (4, 9, 4, 9, 4, 9), strict=True))
    check = (10 - total % 10) % 10
    lanr = "".join(map(str, digits)) + str(check) + f"{rng.randrange(1, 100):02d}"
    assert sgb301.lanr_valid(lanr), lanr
    return lanr


def _segment(tag: str, *elements: str | Sequence[str]) -> str:
    """One segment without terminator; trailing empty elements/components dropped."""
    parts = [tag]
    for e in elements:
        if isinstance(e, str):
            parts.append(e)
        else:
            comps = list(e)
            while comps and not comps[-1]:
                comps.pop()
            parts.append(":".join(comps))
    while len(parts) > 1 and not parts[-1]:
        parts.pop()
    return "+".join(parts)


class _Case:
    """One patient stay (a fresh one per message); the message reads its values here."""

    def __init__(self, rng: random.Random, seed: _Seed, released: bool) -> None:
        digits = rng.randint(6, 12)
        self.case = str(rng.randrange(10 ** (digits - 1), 10**digits))
        admission = dt.date.fromordinal(rng.randint(_START, _END - 120))
        self.admission = admission
        self.accident: dt.date | None = (
            None if rng.random() < 0.08 else admission - dt.timedelta(rng.randrange(31))
        )
        self.discharge = admission + dt.timedelta(rng.choice((0, 1, 2, 3, 5, 8, 12, 21, 40)))
        self.department = rng.choice(seed.departments)
        self.last = _escape(rng.choice(RELEASED_NAMES)) if released else rng.choice(LAST_NAMES)
        self.first = rng.choice(FIRST_NAMES)
        self.sex = rng.choice(SEXES)
        self.born = dt.date.fromordinal(
            rng.randint(dt.date(1930, 1, 1).toordinal(), dt.date(2010, 12, 31).toordinal())
        )
        self.street = f"{rng.choice(STREETS)} {rng.randint(1, 199)}{rng.choice(('', '', 'a', 'b'))}"
        self.postcode, self.town = rng.choice(TOWNS)
        self.with_address = rng.random() < 0.9


def _icd(rng: random.Random, seed: _Seed, secondary: float) -> tuple[tuple[str, str], ...]:
    """One diagnosis element or a diagnosis plus secondary diagnosis (e.g. ``!`` codes)."""
    main = rng.choice(seed.icd)
    side = rng.choice(("", "", "", "R", "L", "B")) if main[0] in "ST" else ""
    if rng.random() < secondary:
        return (main, side), (rng.choice(seed.icd), "")
    return ((main, side),)


class _Generator:
    def __init__(self, seed: int, released_share: float, line_breaks: bool) -> None:
        self.rng = random.Random(seed)
        self.seed = _Seed()
        self.released_share = released_share
        self.terminator = "'\n" if line_breaks else "'"
        rng = self.rng
        self.hospitals = _unique(make_ik(rng) for _ in range(800))
        self.referrers = self.hospitals[:200]

    # -- segments shared by all types -----------------------------------------------------

    def _head(self, sender: str, receiver: str, c: _Case) -> list[str]:
        """FKT and INV (UNH is added by :meth:`message`)."""
        unfalltag = _date(c.accident) if c.accident else "BK"
        inv = _segment("INV", "", "", "", "", "", c.case, "", "", "", unfalltag)
        return [_segment("FKT", "10", "01", sender, receiver), inv]

    def _nad(self, c: _Case) -> str:
        address = (c.street, c.postcode, c.town) if c.with_address else ("", "", "")
        return _segment("NAD", c.last, c.first, c.sex, _date(c.born), *address)

    # -- message types ------------------------------------------------------------------

    def aufn(self, c: _Case, hospital: str) -> list[str]:
        rng, seed = self.rng, self.seed
        until = c.admission + dt.timedelta(rng.choice((3, 7, 14, 28, 99)))
        shape = rng.random()
        if shape < 0.45:
            auf = _segment("AUF", _date(c.admission), _time(rng), rng.choice(ADMISSION_REASONS),
                           c.department, _date(until), "", "", rng.choice(self.referrers))
        elif shape < 0.8:
            auf = _segment("AUF", _date(c.admission), _time(rng), rng.choice(ADMISSION_REASONS),
                           c.department, _date(until), _lanr(rng),
                           str(rng.randrange(10**8, 10**9)))
        else:
            auf = _segment("AUF", _date(c.admission), _time(rng), rng.choice(ADMISSION_REASONS),
                           c.department)
        segs = [*self._head(hospital, TEST_IK, c), self._nad(c),
                _segment("DPV", str(c.admission.year)), auf]
        segs += [_segment("EAD", *_icd(rng, seed, 0.25)) for _ in range(rng.randint(1, 6))]
        return segs

    def entl(self, c: _Case, hospital: str) -> list[str]:
        rng, seed = self.rng, self.seed
        year = str(c.admission.year)
        diagnosis = _icd(rng, seed, 0.3)
        tail: tuple[str | tuple[str, ...], ...] = diagnosis
        if rng.random() < 0.15:  # transfer: IK of the receiving hospital (ETL-7)
            secondary = diagnosis[1] if len(diagnosis) > 1 else ("",)
            tail = (diagnosis[0], secondary, rng.choice(self.referrers))
        segs = [*self._head(hospital, TEST_IK, c), self._nad(c),
                _segment("DPV", year, year),
                _segment("DAU", _date(c.admission), _date(c.discharge)),
                _segment("ETL", _date(c.discharge), _time(rng), rng.choice(DISCHARGE_REASONS),
                         c.department, *tail)]
        segs += [_segment("NDG", *_icd(rng, seed, 0.2)) for _ in range(rng.randint(0, 12))]
        days = (c.discharge - c.admission).days
        for _ in range(rng.randint(0, 15)):
            day = c.admission + dt.timedelta(rng.randint(0, days))
            segs.append(_segment("FAB", rng.choice((c.department, rng.choice(seed.departments))),
                                 "", "", "", "", _date(day), rng.choice(seed.ops)))
        return segs

    def rech(self, c: _Case, hospital: str) -> list[str]:
        rng, seed = self.rng, self.seed
        start, end = _date(c.admission), _date(c.discharge)
        lines: list[str] = []
        total = 0
        main = rng.randrange(80_000, 2_500_000)
        total += main
        lines.append(_segment("ENT", "7010" + rng.choice(DRGS), _amount(main), start, end, "1"))
        for _ in range(rng.randint(0, 19)):
            cents = rng.randrange(50, 60_000)
            count = rng.choice((1, 1, 1, 2, 3, 5, 10))
            total += cents * count
            extra = (str(rng.randint(1, 3)),) if rng.random() < 0.05 else ()
            lines.append(_segment("ENT", rng.choice(seed.ent), _amount(cents), start, end,
                                  str(count), *extra))
        invoice_day = c.discharge + dt.timedelta(rng.randint(1, 30))
        debitor = (str(rng.randrange(10**7, 10**8)),) if rng.random() < 0.5 else ()
        segs = [*self._head(hospital, TEST_IK, c), self._nad(c), _segment("CUX", "EUR"),
                _segment("REC", str(rng.randrange(1, 10**rng.randint(4, 10))), _date(invoice_day),
                         "52", start, _amount(total), *debitor)]
        if rng.random() < 0.9:
            segs.append(_segment("ZLG", "0,00", "1"))
        if rng.random() < 0.9:
            segs.append(_segment("FAB", c.department))
        return segs + lines

    def koub(self, c: _Case, hospital: str) -> list[str]:
        rng = self.rng
        start = c.admission + dt.timedelta(rng.randint(0, 2))
        until = (_date(start + dt.timedelta(rng.choice((7, 14, 28, 42)))),) if rng.random() < 0.8 \
            else ()
        segs = self._head(TEST_IK, hospital, c)
        if rng.random() < 0.85:
            segs.append(self._nad(c))
        segs.append(_segment("KOS", _date(start), rng.choice(KOS_MARKS), *until))
        segs += [_segment("TXT", rng.choice(TXT_LINES)) for _ in range(rng.choice((0, 0, 0, 1, 2)))]
        return segs

    # -- messages and interchanges ------------------------------------------------------

    def message(self, mtype: str, ref: int, hospital: str) -> str:
        c = _Case(self.rng, self.seed, self.rng.random() < self.released_share)
        body = getattr(self, mtype.lower())(c, hospital)
        segs = [_segment("UNH", f"{ref:05d}", self.seed.identifiers[mtype]), *body]
        # the published segment order is kept (TXT, absent from the seed KOUBs, comes last)
        tags = list(dict.fromkeys(s[:3] for s in segs))
        order = self.seed.orders[mtype]
        assert [t for t in tags if t in order] == [t for t in order if t in tags], tags
        segs.append(_segment("UNT", str(len(segs) + 1), f"{ref:05d}"))
        return self.terminator.join(segs) + self.terminator

    def interchange(self, types: Sequence[str], number: int) -> bytes:
        rng = self.rng
        hospital = rng.choice(self.hospitals)
        koub = types[0] == "KOUB"
        sender, receiver = (TEST_IK, hospital) if koub else (hospital, TEST_IK)
        prepared = dt.datetime.fromordinal(rng.randint(_START, _END)) + dt.timedelta(
            minutes=rng.randrange(24 * 60))
        reference = f"{number % 100_000 or 1:05d}"
        body = "".join(self.message(t, i, hospital) for i, t in enumerate(types, start=1))
        t = self.terminator
        text = (f"UNB+UNOC:3+{sender}+{receiver}+{prepared:%y%m%d:%H%M}+{reference}++"
                f"{APPLICATION_REFERENCE}{t}{body}UNZ+{len(types)}+{reference}{t}")
        return text.encode("latin-1")


def build_corpus(
    n_messages: int = DEFAULT_MESSAGES,
    per_interchange: int = DEFAULT_PER_INTERCHANGE,
    seed: int = DEFAULT_SEED,
    *,
    released_share: float = 0.0,
    line_breaks: bool = False,
    weights: Mapping[str, float] | None = None,
) -> list[bytes]:
    """``n_messages`` generated messages in interchanges of ``per_interchange`` messages.

    Deterministic for equal arguments. KH→KT messages (AUFN, ENTL, RECH, mixed) and KOUBs
    fill separate interchanges; the last interchange of each kind may be shorter; the
    interchange order is shuffled. ``released_share``: fraction of patients whose name
    needs the release character (exercises the slow path; 0 by default).
    ``line_breaks``: a line break after every segment, as in the published examples.
    ``weights``: share per message type (default :data:`TYPE_WEIGHTS`), e.g.
    ``{"RECH": 1}`` for a RECH-only corpus.
    """
    if n_messages < 1 or not 1 <= per_interchange <= 99_999:
        raise ValueError("need n_messages >= 1 and 1 <= per_interchange <= 99999")
    gen = _Generator(seed, released_share, line_breaks)
    rng = gen.rng
    shares = {t: 0.0 for t in TYPE_WEIGHTS} | dict(weights or TYPE_WEIGHTS)
    if set(shares) != set(TYPE_WEIGHTS) or min(shares.values()) < 0:
        raise ValueError(f"weights: non-negative shares of {', '.join(TYPE_WEIGHTS)}")
    kh_weights = [shares[t] for t in KH_TYPES]
    koub_share = shares["KOUB"] / sum(shares.values())
    n_koub = round(n_messages * koub_share) if sum(kh_weights) else n_messages
    if n_messages == 1 and sum(kh_weights):
        n_koub = 0
    kh = rng.choices(KH_TYPES, weights=kh_weights, k=n_messages - n_koub) if sum(kh_weights) \
        else []
    batches = [kh[i : i + per_interchange] for i in range(0, len(kh), per_interchange)]
    batches += [["KOUB"] * min(per_interchange, n_koub - i)
                for i in range(0, n_koub, per_interchange)]
    rng.shuffle(batches)
    return [gen.interchange(types, number) for number, types in enumerate(batches, start=1)]


# ---- faulty messages ------------------------------------------------------------------

_FKT = re.compile(rb"FKT\+(\d\d)\+(\d\d)\+(\d{9})\+(\d{8})(\d)")
_DATE = re.compile(rb"\+(20\d\d)(\d\d)(\d\d)(?=[+:'])")


def _receiver_check_digit(msg: bytes) -> bytes | None:
    """The FKT receiver IK with a wrong check digit (3SW, Prüfstufe 3)."""
    return _FKT.sub(lambda m: b"FKT+%s+%s+%s+%s%d" % (m[1], m[2], m[3], m[4],
                                                      (int(m[5]) + 1) % 10), msg, count=1)


def _impossible_date(msg: bytes) -> bytes | None:
    """The first date after the FKT in month 13."""
    fkt = msg.find(b"FKT+")
    m = _DATE.search(msg, fkt)
    if m is None:
        return None
    return msg[: m.start(2)] + b"13" + msg[m.end(2) :]


def _unknown_processing_code(msg: bytes) -> bytes | None:
    """FKT Verarbeitungskennzeichen outside its code list."""
    return _FKT.sub(lambda m: b"FKT+97+%s+%s+%s%s" % (m[2], m[3], m[4], m[5]), msg, count=1)


DEFECTS = (_receiver_check_digit, _impossible_date, _unknown_processing_code)


def with_defects(corpus: Sequence[bytes], share: float) -> list[bytes]:
    """The corpus with ``share`` of its messages made faulty (one defect each, cycling
    through :data:`DEFECTS`: wrong IK check digit, impossible date, code outside its
    list). Envelopes and UNT counts stay right, so each such message is rejected on its
    own (Prüfstufe 3) and the others stay accepted. Deterministic."""
    out: list[bytes] = []
    k = 0  # messages seen
    for ic in corpus:
        starts = [m.start() for m in re.finditer(rb"UNH\+", ic)]
        end = ic.rfind(b"UNZ+")
        pieces = [ic[: starts[0]]]
        for i, s in enumerate(starts):
            msg = ic[s : starts[i + 1] if i + 1 < len(starts) else end]
            k += 1
            if int(k * share) != int((k - 1) * share):
                faulty = DEFECTS[(k // 3) % len(DEFECTS)](msg)
                msg = faulty if faulty is not None else msg
            pieces.append(msg)
        pieces.append(ic[end:])
        out.append(b"".join(pieces))
    return out


# ---- checks and statistics ------------------------------------------------------------


class VerifyResult:
    """Outcome of validating a corpus: counts and one line per problem."""

    def __init__(self) -> None:
        self.messages = 0
        self.accepted = 0
        self.problems: list[str] = []

    @property
    def ok(self) -> bool:
        return not self.problems and self.accepted == self.messages


def verify(
    corpus: Iterable[bytes], validator: sgb301.Validator | None = None, limit: int = 50
) -> VerifyResult:
    """Validate every interchange; collect file errors and rejected messages."""
    v = validator or sgb301.Validator()
    out = VerifyResult()
    for i, ic in enumerate(corpus):
        report = v.validate(ic)
        for e in report.file_errors:
            out.problems.append(f"interchange {i}: file error {e.code} {e.segment} "
                                f"el {e.element}: {e.text}")
        for m in report.messages:
            out.messages += 1
            if m.accepted:
                out.accepted += 1
                continue
            if len(out.problems) < limit:
                text = ic[m.start : m.end].decode("latin-1")
                errs = "; ".join(
                    f"{e.code} {e.segment}#{e.segment_number} el {e.element}:{e.component} "
                    f"{e.text}" for e in m.errors
                )
                out.problems.append(f"interchange {i} message {m.message} ({m.type}): {errs}\n"
                                    f"    {text}")
            else:
                out.problems.append(f"interchange {i} message {m.message} rejected")
    return out


def fast_path_hits(corpus: Iterable[bytes], validator: sgb301.Validator) -> int | None:
    """How many messages the validator's fast path accepts on its own (diagnostic).

    Reads the private ``Validator._fast``; returns None if the codec has no such thing.
    A clean message that misses the fast path is validated correctly but slowly.
    """
    fast = getattr(validator, "_fast", None)
    if fast is None or not hasattr(fast, "match"):
        return None
    hits = 0
    for ic in corpus:
        scanned = sgb301.scan(ic)
        text = ic.decode("latin-1")  # the fast path matches the latin-1 text
        for span in scanned.messages:
            if span.complete and fast.match(text, span, scanned.delimiters) is not None:
                hits += 1
    return hits


def corpus_stats(corpus: Sequence[bytes]) -> dict[str, int]:
    """Interchanges, bytes, messages and messages per type (counted from UNH segments)."""
    types: Counter[str] = Counter()
    for ic in corpus:
        pos = ic.find(b"UNH+")
        while pos >= 0:
            types[ic[pos + 10 : pos + 14].decode("latin-1")] += 1
            pos = ic.find(b"UNH+", pos + 4)
    return {
        "interchanges": len(corpus),
        "bytes": sum(map(len, corpus)),
        "messages": sum(types.values()),
        **{f"type {t}": n for t, n in sorted(types.items())},
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=DEFAULT_MESSAGES)
    p.add_argument("--per-interchange", type=int, default=DEFAULT_PER_INTERCHANGE)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--released-share", type=float, default=0.0,
                   help="fraction of names needing the release character (default 0)")
    p.add_argument("--line-breaks", action="store_true",
                   help="line break after every segment (as the published examples)")
    p.add_argument("--check", action="store_true",
                   help="validate every message with sgb301.Validator(); exit 1 on rejects")
    p.add_argument("--write", metavar="PATH", help="write all interchanges into one file")
    p.add_argument("--show", type=int, default=0, metavar="N",
                   help="print the first N messages of the first interchange")
    args = p.parse_args(argv)

    print(f"seed: {args.seed}")
    t0 = time.perf_counter()
    corpus = build_corpus(args.messages, args.per_interchange, args.seed,
                          released_share=args.released_share, line_breaks=args.line_breaks)
    print(f"built in {time.perf_counter() - t0:.1f} s")
    for key, value in corpus_stats(corpus).items():
        print(f"{key}: {value}")
    if args.show:
        first = corpus[0]
        spans = sgb301.scan(first).messages[: args.show]
        print(first[spans[0].start : spans[-1].end].decode("latin-1").replace("'", "'\n"))
    if args.write:
        with open(args.write, "wb") as fh:
            fh.write(b"\n".join(corpus))
        print(f"written: {args.write}")
    if args.check:
        v = sgb301.Validator()
        result = verify(corpus, v)
        print(f"accepted: {result.accepted}/{result.messages}")
        hits = fast_path_hits(corpus, v)
        if hits is not None:
            print(f"fast path: {hits}/{result.messages}")
        for line in result.problems[:50]:
            print(line, file=sys.stderr)
        if not result.ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
