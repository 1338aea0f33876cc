"""Where a response rule looks: each path, selector and regex compiled once, found in full.

A selector is compiled when the configuration is validated (a bad one is a configuration
error, never a runtime failure) and cached by (source, path), so the hot path only looks
it up. `find` returns every value the selector points at, as text, in document order; an
answer that is not the kind the selector reads (HTML where JSON was expected) has none.

XML and HTML are parsed by lxml with entities, DTDs and the network off; the gateway has
already bounded the body's size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import jsonpath
from cssselect import SelectorError
from lxml import etree, html
from lxml.cssselect import CSSSelector

from pingtree.patterns import Pattern, compile_pattern

if TYPE_CHECKING:
    from pingtree.delivery.responses import BuyerResponse as Answer

# A cookie rule with this path reads every cookie, as `name=value`.
ALL_COOKIES = ("*", "$")
NOT_JSON = object()
_XML_DECLARATION = re.compile(r"^<\?xml[^>]*\?>")


@dataclass(frozen=True)
class Found:
    """What a selector found: every value, and the named groups of a regex's first match."""

    values: list[str]
    groups: dict[str, str] = field(default_factory=dict)


class Selector(Protocol):
    """A compiled path into an answer."""

    def find(self, answer: Answer) -> Found: ...


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _node_text(node: Any) -> str:
    """What XPath's string() gives: an element's text content, an attribute's value."""
    if isinstance(node, etree._Element):
        return "".join(node.itertext())
    return _text(node)


class _Status:
    def find(self, answer: Answer) -> Found:
        return Found([str(answer.status)])


class _Body:
    def find(self, answer: Answer) -> Found:
        return Found([answer.text])


@dataclass(frozen=True)
class _Header:
    name: str

    def find(self, answer: Answer) -> Found:
        return Found(answer.header_values(self.name))


@dataclass(frozen=True)
class _Cookie:
    """Set-Cookie values by cookie name; `*` gives every cookie as `name=value`."""

    name: str

    def find(self, answer: Answer) -> Found:
        values: list[str] = []
        for header in answer.header_values("Set-Cookie"):
            pair = header.split(";", 1)[0]
            name, sep, value = pair.partition("=")
            if not sep:
                continue
            name, value = name.strip(), value.strip().strip('"')
            if self.name in ALL_COOKIES:
                values.append(f"{name}={value}")
            elif name.lower() == self.name.lower():
                values.append(value)
        return Found(values)


MAX_MATCHES = 1000
"""Matches of a regex source kept from one answer (a price or a reference is one of them;
an answer of a megabyte of matches is not a buyer's answer)."""


@dataclass(frozen=True)
class _Regex:
    """Every match over the body (up to MAX_MATCHES): group 1 if the pattern has groups, else
    the whole match. A pattern that runs past its time limit raises patterns.TooSlow."""

    pattern: Pattern

    def find(self, answer: Answer) -> Found:
        values: list[str] = []
        groups: dict[str, str] = {}
        for match in self.pattern.finditer(answer.text, MAX_MATCHES):
            values.append(match.group(1) if self.pattern.groups else match.group(0))
            if not groups:
                groups = {k: v for k, v in match.groupdict().items() if v is not None}
        return Found(values, groups)


_SIMPLE_JSON = re.compile(r"^\$?(?:\.[A-Za-z_][\w-]*|\[\d+\]|\['[^'\\]*'\]|\[\"[^\"\\]*\"\])*$")
_SIMPLE_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


# The dotted paths pingtree read before JSONPath (`$.first name`, `$.codes.0` for a key "0"):
# kept working when the library refuses them, with the meaning they always had.
_LEGACY_JSON = re.compile(r"^\$?(?:\.?[^.\[\]'\"?*@$()]+|\[\d+\]|\['[^']+'\])+$")
_LEGACY_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\['([^']+)'\]")


def _legacy_steps(path: str) -> tuple[str | int, ...] | None:
    if not _LEGACY_JSON.match(path):
        return None
    steps: list[str | int] = []
    for name, index, quoted in _LEGACY_STEP.findall(path.removeprefix("$")):
        steps.append(int(index) if index else name or quoted)
    return tuple(steps)


def _simple_steps(path: str) -> tuple[str | int, ...] | None:
    """The keys and indexes of a path with one match at most ($.a.b[0]['c']), else None."""
    if not _SIMPLE_JSON.match(path):
        return None
    steps: list[str | int] = []
    for name, index, single, double in _SIMPLE_STEP.findall(path.removeprefix("$")):
        steps.append(int(index) if index else name or single or double)
    return tuple(steps)


@dataclass(frozen=True)
class _Json:
    path: jsonpath.JSONPath | jsonpath.CompoundJSONPath
    steps: tuple[str | int, ...] | None
    """A singular path walked directly: the same answer as the library's, at a fraction of
    the cost, for the paths most rules use."""

    def _matches(self, document: Any) -> list[Any]:
        if self.steps is None:
            if isinstance(document, str):
                # The library would parse a string document as JSON text once more; a
                # string has no children, so only the root path reaches it.
                return [document] if str(self.path) == "$" else []
            return self.path.findall(document)
        current = document
        for step in self.steps:
            if isinstance(step, str) and step.isdigit() and isinstance(current, list):
                step = int(step)  # `baz.0.cost`, as dotted paths index a list
            if isinstance(step, int):
                if not isinstance(current, list) or step >= len(current):
                    return []
            elif not isinstance(current, dict) or step not in current:
                return []
            current = current[step]
        return [current]

    def find(self, answer: Answer) -> Found:
        document = answer.parsed_json
        if document is NOT_JSON:
            return Found([])
        values: list[str] = []
        for match in self._matches(document):
            # A list of plain values ("errors": ["bad zip", "too old"]) is several values.
            if isinstance(match, list) and not any(isinstance(v, dict | list) for v in match):
                values += [_text(v) for v in match if v is not None]
            elif match is not None:
                values.append(_text(match))
        return Found(values)


@dataclass(frozen=True)
class _XPath:
    path: etree.XPath

    def find(self, answer: Answer) -> Found:
        root = answer.xml_root
        if root is None:
            return Found([])
        result = self.path(root)
        if isinstance(result, list):
            return Found([_node_text(node) for node in result])
        return Found([_node_text(result)])


@dataclass(frozen=True)
class _Css:
    """An HTML CSS selector; `::text` (the default) or `::attr(name)` picks what is read."""

    selector: CSSSelector
    attribute: str | None

    def find(self, answer: Answer) -> Found:
        root = answer.html_root
        if root is None:
            return Found([])
        nodes = self.selector(root)
        if self.attribute is None:
            return Found([_node_text(node) for node in nodes])
        return Found([v for node in nodes if (v := node.get(self.attribute)) is not None])


_CSS_SUFFIX = re.compile(r"::(?:text|attr\(\s*([^()\s]+)\s*\))\s*$")


def _compile_css(path: str) -> _Css:
    suffix = _CSS_SUFFIX.search(path)
    attribute = suffix.group(1) if suffix else None
    selector = path[: suffix.start()] if suffix else path
    if not selector.strip():
        raise ValueError("a CSS selector is needed before ::text or ::attr(name)")
    try:
        return _Css(CSSSelector(selector, translator="html"), attribute)
    except SelectorError as exc:
        raise ValueError(f"not a valid CSS selector: {exc}") from exc


@lru_cache(maxsize=4096)
def compile_selector(source: str, path: str) -> Selector:
    """The compiled selector for a source (status, body, header, cookie, regex, json, xpath,
    css) and its path; ValueError saying why when the path is not valid."""
    if source == "status":
        return _Status()
    if source == "body":
        return _Body()
    if source == "header":
        return _Header(path.strip())
    if source == "cookie":
        return _Cookie(path.strip())
    if source == "regex":
        return _Regex(compile_pattern(path))
    if source == "json":
        try:
            json_path = jsonpath.compile(path.strip())
        except jsonpath.JSONPathError as exc:
            legacy = _legacy_steps(path.strip())
            if legacy is None:
                raise ValueError(f"not a valid JSONPath: {_first_line(exc)}") from exc
            return _Json(jsonpath.compile("$"), legacy)
        return _Json(json_path, _simple_steps(path.strip()))
    if source == "xpath":
        # ElementTree's `{uri}tag` (what pingtree read before lxml): answers are read by
        # local names, so the namespace goes.
        path = re.sub(r"\{[^{}]*\}(?=[\w*])", "", path)
        try:
            compiled = etree.XPath(path.strip(), smart_strings=False)
            # lxml resolves functions, variables and namespace prefixes only when a path
            # runs: one run on an empty document finds those mistakes now, not at an answer.
            compiled(etree.fromstring("<answer/>"))
        except etree.XPathError as exc:
            hint = ""
            if "namespace prefix" in str(exc):
                hint = " (answers are read by local names: write //Body, not //soap:Body)"
            raise ValueError(f"not a valid XPath 1.0 expression: {exc}{hint}") from exc
        return _XPath(compiled)
    if source == "css":
        return _compile_css(path.strip())
    raise ValueError(f"unknown source {source!r}")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@cache
def _xml_parser() -> etree.XMLParser:
    # No entity expansion, no DTD, no network: a buyer's answer cannot make us fetch or
    # expand anything. huge_tree off keeps libxml2's own depth and size limits.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


@cache
def _html_parser() -> html.HTMLParser:
    return html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)


def parse_xml(text: str) -> Any:
    """The root element of an XML (or, failing that, HTML) answer; None if neither."""
    body = text.strip()
    if not body.startswith("<"):
        return None
    try:
        # The body is already text: its declaration may not name an encoding any more.
        root = etree.fromstring(_XML_DECLARATION.sub("", body, count=1), _xml_parser())
    except (etree.LxmlError, ValueError):
        # Not well-formed XML (or text XML cannot hold, such as a NUL): read it as HTML.
        return parse_html(body)
    if "xmlns" in body:
        _drop_namespaces(root)
    return root


def _drop_namespaces(root: Any) -> None:
    """Local names only, so `//Result` reads a SOAP or namespaced answer (XPath 1.0 has no
    default namespace, and rules have no prefixes to declare)."""
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.startswith("{"):
            node.tag = etree.QName(node).localname
        for name in [n for n in node.attrib if n.startswith("{")]:
            node.attrib[etree.QName(name).localname] = node.attrib.pop(name)
    etree.cleanup_namespaces(root)


def parse_html(text: str) -> Any:
    """The root element of an HTML answer (lxml repairs what it can); None if empty."""
    if not text.strip():
        return None
    try:
        return html.document_fromstring(
            _XML_DECLARATION.sub("", text.strip(), count=1), _html_parser()
        )
    except (etree.LxmlError, ValueError):
        return None


class RepeatedKey(Exception):
    """A JSON answer names one key twice in one object (`{"status": "rejected", "status":
    "accepted"}`): which it meant is unknown, so neither is read (an error attempt)."""


def _unrepeated(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RepeatedKey(f"the JSON answer names {key[:100]!r} twice in one object")
            seen.add(key)
    return found


def parse_json(text: str) -> Any:
    """The answer's JSON document, or NOT_JSON. Raises RepeatedKey for an answer that
    names a key twice in one object (Python's json takes the last, a buyer's may the first)."""
    try:
        return json.loads(text, object_pairs_hook=_unrepeated)
    except (ValueError, RecursionError):
        return NOT_JSON


def header_pairs(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """Headers as (name, value) pairs, repeats kept; a multidict's items() keeps them all."""
    if isinstance(headers, Mapping):
        return tuple((str(k), str(v)) for k, v in headers.items())
    return tuple((str(k), str(v)) for k, v in headers)
