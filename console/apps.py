from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The staff console: every ModelAdmin and the dashboard, above the apps it shows."""

    name = "console"
    verbose_name = "VANI console"

    def ready(self) -> None:
        from django.contrib import admin

        # The console is the only site: name it, and drop the "View site" link (nothing is served
        # at "/"). The app list stays on the index page; a sidebar would take a fifth of a laptop.
        admin.site.site_header = "VANI console"
        admin.site.site_title = "VANI"
        admin.site.index_title = "Meetings and Cal.com webhooks"
        admin.site.site_url = None
        admin.site.enable_nav_sidebar = False
