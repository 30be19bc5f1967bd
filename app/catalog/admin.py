from django.contrib import admin

from catalog.models import Price, Product, Stock


class PriceInline(admin.TabularInline):
    model = Price
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "sku", "external_id", "unit", "stock_quantity", "updated_at")
    search_fields = ("name", "sku", "external_id")
    list_select_related = ("stock",)
    inlines = [PriceInline]

    @admin.display(description="stock")
    def stock_quantity(self, product):
        stock = getattr(product, "stock", None)
        return stock.quantity if stock else "—"


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("product", "price_type", "amount", "currency", "updated_at")
    list_filter = ("price_type",)
    search_fields = ("product__name", "product__sku")
    raw_id_fields = ("product",)


@admin.register(Stock)
class StockAdmin(admin.ModelAdmin):
    list_display = ("product", "quantity", "updated_at")
    search_fields = ("product__name", "product__sku")
    raw_id_fields = ("product",)
