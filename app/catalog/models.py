"""The shop's catalogue, filled by imports from the 1C exchange (CommerceML)."""

from django.db import models


class Product(models.Model):
    external_id = models.CharField("1C id", max_length=100, unique=True, help_text="<Ид> in import.xml")
    sku = models.CharField("article", max_length=100, blank=True, db_index=True)
    name = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    unit = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Price(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices")
    price_type = models.CharField(max_length=200, help_text="the price type's name from <ТипыЦен>")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=10, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "price_type"], name="price_unique_type")]

    def __str__(self):
        return f"{self.product_id} {self.price_type}: {self.amount} {self.currency}"


class Stock(models.Model):
    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True, related_name="stock")
    quantity = models.DecimalField(max_digits=14, decimal_places=3)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "stock"

    def __str__(self):
        return f"{self.product_id}: {self.quantity}"
