"""A small reader of the app's HTML, enough to check what a user sees in a page."""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

CJK = re.compile(r"[\u4e00-\u9fff]")
SEPARATE = {"td", "th", "tr", "li", "dt", "dd", "p", "div", "section", "h1", "h2", "h3", "br"}
VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


def has_cjk(text: str) -> bool:
    """Whether the text contains Chinese characters."""
    return bool(CJK.search(text or ""))


@dataclass
class Node:
    """An element with its attributes and children (strings or nodes)."""

    tag: str
    attrs: dict[str, str]
    children: list = field(default_factory=list)

    @property
    def text(self) -> str:
        """The element's text with runs of white space collapsed."""
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag in SEPARATE:
                parts.append(f" {child.text} ")  # cells and blocks read as separate words
            else:
                parts.append(child.text)
        return re.sub(r"\s+", " ", "".join(parts)).strip()

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self):
        """This node and every node below it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs) -> list["Node"]:
        """Nodes of the tag (any when None) whose attributes equal the given ones.

        ``class_`` matches one class among several.
        """
        wanted_class = attrs.pop("class_", None)
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag)
            and all(n.attrs.get(k) == v for k, v in attrs.items())
            and (wanted_class is None or wanted_class in n.classes)
        ]

    def find(self, tag: str | None = None, **attrs) -> "Node | None":
        found = self.find_all(tag, **attrs)
        return found[0] if found else None


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    """The page as a tree of nodes."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


class Page:
    """A rendered page as a user sees it: its text, its inputs and their messages."""

    def __init__(self, html: str):
        self.html = html
        self.root = parse(html)

    @property
    def text(self) -> str:
        body = self.root.find("body") or self.root
        return body.text

    @property
    def title(self) -> str:
        node = self.root.find("title")
        return node.text if node else ""

    @property
    def h1(self) -> str:
        node = self.root.find("h1")
        return node.text if node else ""

    def by_id(self, element_id: str) -> Node | None:
        return self.root.find(id=element_id)

    def value(self, name: str, form_id: str | None = None) -> str | list[str] | None:
        """What the input, textarea or select of that name shows (None when absent)."""
        scope = self.by_id(form_id) if form_id else self.root
        for node in scope.iter():
            if node.attrs.get("name") != name:
                continue
            if node.tag == "textarea":
                text = "".join(c for c in node.children if isinstance(c, str))
                # HTML drops one newline right after <textarea>, as browsers do.
                return (
                    text.removeprefix("\r\n")
                    if text.startswith("\r\n")
                    else text.removeprefix("\n")
                )
            if node.tag == "select":
                chosen = [o.attrs.get("value", o.text) for o in node.find_all("option")]
                selected = [
                    o.attrs.get("value", o.text)
                    for o in node.find_all("option")
                    if "selected" in o.attrs
                ]
                return selected[0] if selected else (chosen[0] if chosen else "")
            if node.tag == "input":
                if node.attrs.get("type") in ("checkbox", "radio"):
                    continue
                return node.attrs.get("value", "")
        return None

    def checked(self, name: str) -> list[str]:
        """Values of the checked checkboxes or radios of that name."""
        return [
            n.attrs.get("value", "on")
            for n in self.root.find_all("input", name=name)
            if "checked" in n.attrs
        ]

    def field_errors(self, name: str) -> list[str]:
        """The messages shown beside a form field."""
        for box in self.root.find_all("div", class_="field"):
            if any(n.attrs.get("name") == name for n in box.iter()):
                return [e.text for e in box.find_all("small", class_="error")]
        raise AssertionError(f"no field named {name!r} on the page")

    def alerts(self) -> list[str]:
        """Flash messages and page errors shown at the top."""
        return [n.text for n in self.root.find_all(class_="flash")]

    def rows(self, table_id: str) -> list[str]:
        """The text of each body row of a table."""
        table = self.by_id(table_id)
        if table is None:
            return []
        body = table.find("tbody") or table
        return [tr.text for tr in body.find_all("tr")]

    def links(self) -> list[str]:
        return [a.attrs["href"] for a in self.root.find_all("a") if "href" in a.attrs]


def page(response) -> Page:
    """Read a test client's response as a page."""
    return Page(response.get_data(as_text=True))


def facts(p: Page) -> dict[str, str]:
    """The label → value pairs of the page's fact lists (<dl class="facts">)."""
    pairs = {}
    for dl in p.root.find_all("dl"):
        label = None
        for child in dl.children:
            if isinstance(child, Node) and child.tag == "dt":
                label = child.text
            elif isinstance(child, Node) and child.tag == "dd" and label is not None:
                pairs[label] = child.text
    return pairs
