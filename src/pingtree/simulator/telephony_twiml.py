"""Read the TwiML a voice webhook answers, and refuse it the way the carrier would.

Twilio does not raise on bad call control: it logs an error code and plays "an application
error has occurred" to the caller. `TwimlError` carries that code, so a transcript says
which of Twilio's errors pingtree would have caused.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

XML_TYPES = frozenset({"text/xml", "application/xml"})

HTTP_RETRIEVAL_FAILURE = 11200
DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_VALIDATION = 12200
INVALID_CONTENT_TYPE = 12300

SIMULATED_VERBS = frozenset(
    {"Say", "Play", "Pause", "Gather", "Redirect", "Dial", "Hangup", "Reject"}
)
# Real TwiML the simulator does not play: refused with a reason that says so, not as a typo.
OTHER_TWILIO_VERBS = frozenset(
    {"Record", "Enqueue", "Leave", "Sms", "Connect", "Stream", "Pay", "Refer", "Start", "Stop"}
)
GATHER_NOUNS = frozenset({"Say", "Play", "Pause"})
DIAL_NOUNS = frozenset({"Number", "Sip"})
OTHER_DIAL_NOUNS = frozenset({"Client", "Conference", "Queue", "Application", "WhatsApp"})
NUMERIC_ATTRIBUTES = {
    "Say": ("loop",),
    "Play": ("loop",),
    "Pause": ("length",),
    "Gather": ("timeout", "numDigits"),
    "Dial": ("timeout", "timeLimit"),
}


class TwimlError(Exception):
    """Call control the carrier cannot follow; code is Twilio's error code when it has one."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verb:
    """One TwiML element: its name, attributes, text and nested elements."""

    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: tuple[Verb, ...] = ()

    def seconds(self, attr: str, default: float) -> float:
        """A numeric attribute (timeout, length, timeLimit); schema error when not a number."""
        raw = self.attrs.get(attr)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise TwimlError(
                SCHEMA_VALIDATION, f"<{self.name} {attr}={raw!r}>: not a number"
            ) from None
        if value < 0:
            raise TwimlError(SCHEMA_VALIDATION, f"<{self.name} {attr}={raw!r}>: negative")
        return value

    def flag(self, attr: str) -> bool:
        """A true/false attribute."""
        return self.attrs.get(attr, "").strip().lower() == "true"

    def method(self) -> str:
        """The HTTP method for the verb's URL: POST unless it says GET."""
        method = self.attrs.get("method", "POST").strip().upper() or "POST"
        if method not in ("GET", "POST"):
            raise TwimlError(SCHEMA_VALIDATION, f"<{self.name} method={method!r}>: GET or POST")
        return method


def check_content_type(content_type: str | None) -> None:
    """Twilio reads TwiML only from an XML content type."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in XML_TYPES or mime.endswith("+xml"):
        return
    raise TwimlError(
        INVALID_CONTENT_TYPE, f"content type {mime or '(none)'!r} is not XML (text/xml expected)"
    )


def parse_twiml(text: str) -> tuple[Verb, ...]:
    """The verbs of a <Response> document, checked against what the simulator can follow."""
    if not text.strip():
        raise TwimlError(DOCUMENT_PARSE_FAILURE, "empty document")
    try:
        # The answer comes from pingtree on 127.0.0.1 in tests and the demo; expat refuses
        # entity bombs and ElementTree never fetches external entities.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"not XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"root element is <{root.tag}>, not <Response>")
    return tuple(_verb(element, "Response") for element in root)


def _verb(element: ET.Element, parent: str) -> Verb:
    name = element.tag
    allowed = {"Response": SIMULATED_VERBS, "Gather": GATHER_NOUNS, "Dial": DIAL_NOUNS}.get(
        parent, frozenset()
    )
    if name not in allowed:
        raise TwimlError(SCHEMA_VALIDATION, _unknown(name, parent))
    children = tuple(_verb(child, name) for child in element)
    verb = Verb(name, dict(element.attrib), (element.text or "").strip(), children)
    _check(verb)
    return verb


def _check(verb: Verb) -> None:
    """Refuse at load what Twilio's schema refuses, so the document at fault is the one named."""
    for attr in NUMERIC_ATTRIBUTES.get(verb.name, ()):
        verb.seconds(attr, 0)
    if verb.name in ("Gather", "Dial", "Redirect"):
        verb.method()
    if verb.name == "Redirect" and not verb.text:
        raise TwimlError(SCHEMA_VALIDATION, "<Redirect> without a URL")
    if verb.name == "Dial" and not verb.text and not any(c.text for c in verb.children):
        raise TwimlError(SCHEMA_VALIDATION, "<Dial> without a number or SIP URI")


def _unknown(name: str, parent: str) -> str:
    if parent == "Response" and name in OTHER_TWILIO_VERBS:
        return f"<{name}> is TwiML the simulator does not follow"
    if parent == "Dial" and name in OTHER_DIAL_NOUNS:
        return f"<Dial><{name}> is TwiML the simulator does not follow (Number or Sip)"
    if parent in ("Response", "Gather", "Dial"):
        return f"<{name}> is not allowed in <{parent}>"
    return f"<{parent}> takes no nested elements, got <{name}>"
