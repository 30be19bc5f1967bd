"""Streaming readers for CommerceML files (the 1C exchange format).

``import.xml`` carries the catalogue (``<Товар>`` elements), ``offers.xml`` the
prices and stock (``<Предложение>``). Files are read with iterparse, one item
at a time, and each item is dropped once handled, so memory stays flat however
large the file. Namespaces (``urn:1C.ru:commerceml_2``) are ignored.
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import iterparse

CATALOGUE_FILE = "import.xml"
OFFERS_FILE = "offers.xml"
PRODUCT_TAG = "Товар"
OFFER_TAG = "Предложение"
PRICE_TYPE_TAG = "ТипЦены"


class ImportDataError(Exception):
    """The exchange data cannot be imported; the message is for the operator."""


class ItemError(ValueError):
    """One item is invalid: it is counted as an error and skipped."""


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _child_text(elem, name):
    for child in elem:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def _child(elem, name):
    for child in elem:
        if _local(child.tag) == name:
            return child
    return None


def _parse_error(path, exc):
    line, column = getattr(exc, "position", (None, None))
    where = f" at line {line}, column {column}" if line else ""
    reason = str(exc).split(":", 1)[0]
    hint = ""
    if "invalid token" in reason or "encoding" in reason:
        hint = (
            ". If the file is not UTF-8, its XML declaration must name its real encoding, "
            'e.g. <?xml version="1.0" encoding="windows-1251"?>'
        )
    return ImportDataError(f"{path.name} is not well-formed XML ({reason}){where}{hint}")


def iter_items(path, item_tag, on_other=None):
    """Yield every ``item_tag`` element of ``path``; each is cleared after use.

    ``on_other(elem)`` is called for other completed elements one level below
    the item's container's siblings (used for price types). Raises
    ImportDataError for a missing or malformed file."""
    if not path.is_file():
        raise ImportDataError(f"{path.name} is missing from {path.parent} (IMPORT_DATA_DIR)")
    stack = []
    try:
        for event, elem in iterparse(path, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                stack.append(elem)
                continue
            stack.pop()
            name = _local(elem.tag)
            if name == item_tag:
                yield elem
                if stack:
                    stack[-1].remove(elem)
            elif on_other is not None and on_other(name, elem) and stack:
                stack[-1].remove(elem)
    except ET.ParseError as exc:
        raise _parse_error(path, exc) from None
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise ImportDataError(
            f"{path.name} declares a DTD or entities, which an exchange file never needs: {exc}"
        ) from None
    except (LookupError, ValueError) as exc:  # e.g. an unknown encoding in the declaration
        raise ImportDataError(f"{path.name} cannot be decoded: {exc}") from None


def count_items(path, item_tag):
    """First pass: check the whole file is well-formed and count its items."""
    return sum(1 for _ in iter_items(path, item_tag))


@dataclass
class ProductRow:
    external_id: str
    name: str
    sku: str = ""
    description: str = ""
    unit: str = ""


@dataclass
class OfferRow:
    product_external_id: str
    prices: list = field(default_factory=list)  # (price_type, Decimal amount, currency)
    quantity: Decimal | None = None


def read_product(elem):
    external_id = _child_text(elem, "Ид")
    name = _child_text(elem, "Наименование")
    if not external_id:
        raise ItemError("a product has no <Ид>")
    if not name:
        raise ItemError(f"product {external_id} has no <Наименование>")
    unit_elem = _child(elem, "БазоваяЕдиница")
    unit = ""
    if unit_elem is not None:
        unit = (unit_elem.get("НаименованиеПолное") or unit_elem.text or "").strip()
    return ProductRow(
        external_id=external_id[:100],
        name=name[:500],
        sku=_child_text(elem, "Артикул")[:100],
        description=_child_text(elem, "Описание"),
        unit=unit[:50],
    )


def _decimal(text, what, offer_id):
    try:
        value = Decimal(text.replace(",", ".").replace("\u00a0", "").replace(" ", ""))
    except InvalidOperation:
        raise ItemError(f"offer {offer_id}: {what} {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ItemError(f"offer {offer_id}: {what} {text!r} is not a non-negative number")
    return value


def read_offer(elem, price_types, want_prices=True, want_stock=True):
    offer_id = _child_text(elem, "Ид")
    if not offer_id:
        raise ItemError("an offer has no <Ид>")
    row = OfferRow(product_external_id=offer_id.split("#", 1)[0])
    if want_prices:
        prices = _child(elem, "Цены")
        for price in prices if prices is not None else ():
            if _local(price.tag) != "Цена":
                continue
            type_id = _child_text(price, "ИдТипаЦены")
            type_name, default_currency = price_types.get(type_id, (type_id, ""))
            if not type_name:
                raise ItemError(f"offer {offer_id}: a price has no <ИдТипаЦены>")
            amount = _decimal(_child_text(price, "ЦенаЗаЕдиницу"), "price", offer_id)
            row.prices.append((type_name[:200], amount, (_child_text(price, "Валюта") or default_currency)[:10]))
    if want_stock:
        quantity = _child_text(elem, "Количество")
        if quantity:
            row.quantity = _decimal(quantity, "quantity", offer_id)
    return row


def read_price_type(elem):
    """(id, (name, currency)) of a <ТипЦены>."""
    type_id = _child_text(elem, "Ид")
    return type_id, (_child_text(elem, "Наименование") or type_id, _child_text(elem, "Валюта"))
