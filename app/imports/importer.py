"""Import a 1C exchange (CommerceML) into the catalogue, in batches, all or nothing.

Each file is read twice: a first pass checks that it is well-formed and counts
its items (the progress total), a second streams the items into the database
in batches of IMPORT_BATCH_SIZE upserts. The second pass runs in one
transaction, so a failure, a cancel or a lost connection leaves no row of the
run behind.
"""

from dataclasses import dataclass, field

from django.db import transaction

from catalog.models import Price, Product, Stock
from imports import commerceml as cml

MAX_ERROR_SAMPLES = 20


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0

    def as_dict(self):
        return {"created": self.created, "updated": self.updated, "skipped": self.skipped, "errors": self.errors}


@dataclass
class Report:
    sections: dict = field(default_factory=dict)  # "products" / "prices" / "stock" -> Counts
    error_samples: list = field(default_factory=list)

    def counts(self, section):
        return self.sections.setdefault(section, Counts())

    def error(self, section, message):
        self.counts(section).errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(message)

    def total(self):
        total = Counts()
        for counts in self.sections.values():
            total.created += counts.created
            total.updated += counts.updated
            total.skipped += counts.skipped
            total.errors += counts.errors
        return total

    def as_dict(self):
        return {
            "sections": {name: counts.as_dict() for name, counts in self.sections.items()},
            "error_samples": self.error_samples,
        }


# What each import type reads: (file, item tag, wants catalogue, prices, stock).
PLANS = {
    "catalogue": [(cml.CATALOGUE_FILE, cml.PRODUCT_TAG, set())],
    "prices": [(cml.OFFERS_FILE, cml.OFFER_TAG, {"prices"})],
    "stock": [(cml.OFFERS_FILE, cml.OFFER_TAG, {"stock"})],
    "full": [(cml.CATALOGUE_FILE, cml.PRODUCT_TAG, set()), (cml.OFFERS_FILE, cml.OFFER_TAG, {"prices", "stock"})],
}


class Importer:
    """Runs one import. ``progress(current, total)`` is called after every item;
    it may raise to abort (the transaction then rolls back)."""

    def __init__(self, data_dir, import_type, batch_size=1000, progress=None):
        if import_type not in PLANS:
            raise cml.ImportDataError(f"unknown import type {import_type!r}; choose one of {', '.join(PLANS)}")
        self.data_dir = data_dir
        self.plan = PLANS[import_type]
        self.batch_size = batch_size
        self.progress = progress or (lambda current, total: None)
        self.report = Report()
        self.current = 0
        self.total = 0

    def run(self):
        if not self.data_dir.is_dir():
            raise cml.ImportDataError(f"the data directory {self.data_dir} does not exist (IMPORT_DATA_DIR)")
        self.total = sum(cml.count_items(self.data_dir / name, tag) for name, tag, _ in self.plan)
        self.progress(0, self.total)
        with transaction.atomic():
            for name, _, wants in self.plan:
                if name == cml.CATALOGUE_FILE:
                    self._import_products(self.data_dir / name)
                else:
                    self._import_offers(self.data_dir / name, wants)
        return self.report

    def _step(self):
        self.current += 1
        self.progress(self.current, self.total)

    # --- import.xml -----------------------------------------------------------
    def _import_products(self, path):
        batch = {}
        counts = self.report.counts("products")
        for elem in cml.iter_items(path, cml.PRODUCT_TAG):
            try:
                row = cml.read_product(elem)
            except cml.ItemError as exc:
                self.report.error("products", f"{path.name}: {exc}")
            else:
                if row.external_id in batch:
                    counts.skipped += 1  # a repeated <Ид>: the last one wins
                batch[row.external_id] = row
                if len(batch) >= self.batch_size:
                    self._flush_products(batch, counts)
            self._step()
        self._flush_products(batch, counts)

    def _flush_products(self, batch, counts):
        if not batch:
            return
        existing = set(Product.objects.filter(external_id__in=batch.keys()).values_list("external_id", flat=True))
        Product.objects.bulk_create(
            [Product(**vars(row)) for row in batch.values()],
            update_conflicts=True,
            unique_fields=["external_id"],
            update_fields=["sku", "name", "description", "unit", "updated_at"],
        )
        counts.updated += len(existing)
        counts.created += len(batch) - len(existing)
        batch.clear()

    # --- offers.xml -----------------------------------------------------------
    def _import_offers(self, path, wants):
        price_types = {}

        def remember_price_type(name, elem):
            if name != cml.PRICE_TYPE_TAG:
                return False
            type_id, value = cml.read_price_type(elem)
            price_types[type_id] = value
            return True

        batch = {}
        for elem in cml.iter_items(path, cml.OFFER_TAG, on_other=remember_price_type):
            try:
                row = cml.read_offer(elem, price_types, "prices" in wants, "stock" in wants)
            except cml.ItemError as exc:
                self.report.error("prices" if "prices" in wants else "stock", f"{path.name}: {exc}")
            else:
                batch[row.product_external_id] = row
                if len(batch) >= self.batch_size:
                    self._flush_offers(batch, wants)
            self._step()
        self._flush_offers(batch, wants)

    def _flush_offers(self, batch, wants):
        if not batch:
            return
        product_ids = dict(Product.objects.filter(external_id__in=batch.keys()).values_list("external_id", "id"))
        for section in wants:
            unknown = len(batch) - len(product_ids)
            self.report.counts(section).skipped += unknown  # offers for products not in the catalogue
        rows = [(product_ids[key], row) for key, row in batch.items() if key in product_ids]
        if "prices" in wants:
            self._upsert_prices(rows)
        if "stock" in wants:
            self._upsert_stock(rows)
        batch.clear()

    def _upsert_prices(self, rows):
        counts = self.report.counts("prices")
        prices = {}
        for product_id, row in rows:
            for price_type, amount, currency in row.prices:
                prices[(product_id, price_type)] = Price(
                    product_id=product_id, price_type=price_type, amount=amount, currency=currency
                )
        if not prices:
            return
        existing = set(
            Price.objects.filter(product_id__in={key[0] for key in prices}).values_list("product_id", "price_type")
        )
        Price.objects.bulk_create(
            prices.values(),
            update_conflicts=True,
            unique_fields=["product", "price_type"],
            update_fields=["amount", "currency", "updated_at"],
        )
        hits = len(existing & prices.keys())
        counts.updated += hits
        counts.created += len(prices) - hits

    def _upsert_stock(self, rows):
        counts = self.report.counts("stock")
        stock = {pid: Stock(product_id=pid, quantity=row.quantity) for pid, row in rows if row.quantity is not None}
        counts.skipped += sum(1 for _, row in rows if row.quantity is None)
        if not stock:
            return
        existing = set(Stock.objects.filter(product_id__in=stock.keys()).values_list("product_id", flat=True))
        Stock.objects.bulk_create(
            stock.values(), update_conflicts=True, unique_fields=["product"], update_fields=["quantity", "updated_at"]
        )
        counts.updated += len(existing)
        counts.created += len(stock) - len(existing)
