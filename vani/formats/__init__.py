"""Date formats for the console (settings.FORMAT_MODULE_PATH): times always name their zone."""
