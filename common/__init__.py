"""Tiny utilities shared by every layer; nothing here imports a VANI app."""
