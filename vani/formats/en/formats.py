"""English formats: "2 Jun 2025, 09:15 CEST" rather than "June 2, 2025, 9:15 a.m." with no zone."""

DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
