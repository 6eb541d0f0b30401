"""`openhss agent`: inventories one host's images and containers and reports them to the server."""
