"""Cal.com integration: the wire protocol, signatures, the trigger catalogue, the management API
client and sample bodies. The bottom layer: it imports no VANI app."""
