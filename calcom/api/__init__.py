"""Cal.com's management API (v1/v2): one transport, one module per resource."""
