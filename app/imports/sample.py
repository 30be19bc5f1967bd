"""Write a CommerceML exchange (import.xml + offers.xml) of any size, for demos,
tests and benchmarks. Deterministic for a given seed."""

import random
import uuid
from xml.sax.saxutils import escape

NS = "urn:1C.ru:commerceml_2"
HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
GROUPS = ["Tools", "Garden", "Kitchen", "Lighting", "Paint", "Fasteners"]
WORDS = ["Hammer", "Drill", "Lamp", "Kettle", "Brush", "Screw", "Spade", "Pan", "Saw", "Rake", "Bulb", "Roller"]
PRICE_TYPES = [("retail", "Retail", "RUB"), ("wholesale", "Wholesale", "RUB")]


def _product_id(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _price(type_id, amount):
    return (
        f"<Цена><ИдТипаЦены>{type_id}</ИдТипаЦены><ЦенаЗаЕдиницу>{amount:.2f}</ЦенаЗаЕдиницу>"
        "<Валюта>RUB</Валюта></Цена>"
    )


def write_exchange(out_dir, products=20000, seed=1):
    """Write ``out_dir``/import.xml and offers.xml with ``products`` products; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    ids = [_product_id(rng) for _ in range(products)]
    catalogue = out_dir / "import.xml"
    offers = out_dir / "offers.xml"
    with catalogue.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        out.write(f'<КоммерческаяИнформация xmlns="{NS}" ВерсияСхемы="2.10" ДатаФормирования="2026-01-01T00:00:00">\n')
        out.write("<Классификатор><Ид>classifier</Ид><Наименование>Shop</Наименование><Группы>\n")
        for index, group in enumerate(GROUPS):
            out.write(f"<Группа><Ид>group-{index}</Ид><Наименование>{escape(group)}</Наименование></Группа>\n")
        out.write("</Группы></Классификатор>\n")
        out.write(
            '<Каталог СодержитТолькоИзменения="false"><Ид>catalogue</Ид><Наименование>Main</Наименование><Товары>\n'
        )
        for number, product_id in enumerate(ids, start=1):
            word = WORDS[number % len(WORDS)]
            name = f"{word} {rng.choice(['mini', 'pro', 'classic', 'max'])} No.{number}"
            out.write(
                f"<Товар><Ид>{product_id}</Ид><Артикул>SKU-{number:06d}</Артикул>"
                f"<Наименование>{escape(name)}</Наименование>"
                f'<БазоваяЕдиница Код="796" НаименованиеПолное="pcs">pcs</БазоваяЕдиница>'
                f"<Группы><Ид>group-{number % len(GROUPS)}</Ид></Группы>"
                f"<Описание>{escape(name)} &amp; accessories, sample item {number}.</Описание></Товар>\n"
            )
        out.write("</Товары></Каталог></КоммерческаяИнформация>\n")
    with offers.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        out.write(f'<КоммерческаяИнформация xmlns="{NS}" ВерсияСхемы="2.10" ДатаФормирования="2026-01-01T00:00:00">\n')
        out.write(
            '<ПакетПредложений СодержитТолькоИзменения="false"><Ид>offers</Ид><Наименование>Offers</Наименование>'
        )
        out.write("<ТипыЦен>")
        for type_id, type_name, currency in PRICE_TYPES:
            out.write(
                f"<ТипЦены><Ид>{type_id}</Ид><Наименование>{type_name}</Наименование><Валюта>{currency}</Валюта></ТипЦены>"
            )
        out.write("</ТипыЦен><Предложения>\n")
        for product_id in ids:
            retail = rng.randint(100, 99999) / 100
            out.write(
                f"<Предложение><Ид>{product_id}</Ид><Цены>"
                f"{_price('retail', retail)}{_price('wholesale', retail * 0.8)}"
                f"</Цены><Количество>{rng.randint(0, 500)}</Количество></Предложение>\n"
            )
        out.write("</Предложения></ПакетПредложений></КоммерческаяИнформация>\n")
    return catalogue, offers
