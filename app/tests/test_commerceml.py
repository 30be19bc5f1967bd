"""The streaming CommerceML readers on real files (no database needed)."""

from decimal import Decimal

import pytest

from imports import commerceml as cml
from imports.sample import write_exchange
from tests.conftest import SMALL_SAMPLE


def test_counts_and_reads_the_shipped_sample():
    assert cml.count_items(SMALL_SAMPLE / "import.xml", cml.PRODUCT_TAG) == 12
    products = [cml.read_product(e) for e in cml.iter_items(SMALL_SAMPLE / "import.xml", cml.PRODUCT_TAG)]
    assert len({p.external_id for p in products}) == 12
    assert products[0].sku == "SKU-000001" and products[0].unit == "pcs"


def test_reads_offers_with_named_price_types():
    types = {}

    def remember(name, elem):
        if name == cml.PRICE_TYPE_TAG:
            type_id, value = cml.read_price_type(elem)
            types[type_id] = value
            return True
        return False

    offers = [cml.read_offer(e, types) for e in cml.iter_items(SMALL_SAMPLE / "offers.xml", cml.OFFER_TAG, remember)]
    assert types == {"retail": ("Retail", "RUB"), "wholesale": ("Wholesale", "RUB")}
    assert len(offers) == 12
    assert [p[0] for p in offers[0].prices] == ["Retail", "Wholesale"]
    assert isinstance(offers[0].quantity, Decimal)


def test_windows_1251_files_are_read_when_declared(tmp_path):
    path = tmp_path / "import.xml"
    path.write_bytes(
        '<?xml version="1.0" encoding="windows-1251"?><КоммерческаяИнформация><Каталог><Товары>'
        "<Товар><Ид>1</Ид><Наименование>Молоток</Наименование></Товар></Товары></Каталог>"
        "</КоммерческаяИнформация>".encode("cp1251")
    )
    [product] = [cml.read_product(e) for e in cml.iter_items(path, cml.PRODUCT_TAG)]
    assert product.name == "Молоток"


def test_items_are_dropped_as_they_are_read(tmp_path):
    write_exchange(tmp_path, 500)
    containers = set()
    for elem in cml.iter_items(tmp_path / "import.xml", cml.PRODUCT_TAG):
        containers.add(len(elem))
    assert containers  # every item was seen


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<Товар><Наименование>x</Наименование></Товар>", "a product has no <Ид>"),
        ("<Товар><Ид>7</Ид></Товар>", "product 7 has no <Наименование>"),
    ],
)
def test_invalid_products_are_item_errors(tmp_path, xml, message):
    path = tmp_path / "import.xml"
    path.write_text(f"<root>{xml}</root>", encoding="utf-8")
    [elem] = list(cml.iter_items(path, cml.PRODUCT_TAG))
    with pytest.raises(cml.ItemError, match=message):
        cml.read_product(elem)


def test_bad_price_is_an_item_error(tmp_path):
    path = tmp_path / "offers.xml"
    path.write_text(
        "<r><Предложение><Ид>9</Ид><Цены><Цена><ИдТипаЦены>t</ИдТипаЦены><ЦенаЗаЕдиницу>abc</ЦенаЗаЕдиницу>"
        "</Цена></Цены></Предложение></r>",
        encoding="utf-8",
    )
    [elem] = list(cml.iter_items(path, cml.OFFER_TAG))
    with pytest.raises(cml.ItemError, match=r"offer 9: price 'abc' is not a number"):
        cml.read_offer(elem, {})


def test_unknown_encoding_is_a_data_error(tmp_path):
    path = tmp_path / "import.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="klingon-8"?><r/>')
    with pytest.raises(cml.ImportDataError, match=r"^import\.xml cannot be decoded: unknown encoding: klingon-8$"):
        cml.count_items(path, cml.PRODUCT_TAG)


def test_dtd_and_entities_are_refused(tmp_path):
    path = tmp_path / "import.xml"
    path.write_bytes(b'<!DOCTYPE r [<!ENTITY lol "lol">]><r>&lol;&lol;</r>')
    with pytest.raises(cml.ImportDataError, match=r"^import\.xml declares a DTD or entities"):
        cml.count_items(path, cml.PRODUCT_TAG)
