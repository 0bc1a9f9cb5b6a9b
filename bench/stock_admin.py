"""The admin baseline: Django's stock ModelAdmin for WebhookEvent on a separate AdminSite.

Same columns as the real console (webhooks/admin.py) as plain fields, the stock status filter
and the stock `icontains` search, and none of the console's optimisations (exact counts, whole
rows, stock search, stock templates). Served only by bench/urls.py.

Like the console it is read-only (the stock way: no add/change/delete permission), so its detail
page is Django's read-only change form. The editable stock form is no baseline at this size: it
renders every event as an <option> of the `duplicate_of` <select> (about 9 s per page at 20,000
events, growing linearly).
"""

from django.contrib import admin

from webhooks.models import WebhookEvent

stock_admin_site = admin.AdminSite(name="stock_admin")


@admin.register(WebhookEvent, site=stock_admin_site)
class StockWebhookEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "received_at",
        "trigger_event",
        "booking_uid",
        "status",
        "signature_result",
        "attempts",
        "meeting",
    )
    list_filter = ("status",)
    search_fields = ("booking_uid",)
    # The project overrides these templates for the real console; the baseline uses Django's.
    change_list_template = "admin/change_list.html"
    change_form_template = "admin/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
