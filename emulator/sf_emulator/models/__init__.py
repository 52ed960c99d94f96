"""The API's objects: one module per noun with its tables, views and rules; no HTTP and no background work."""
