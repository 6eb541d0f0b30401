"""openhss: a self-hosted container-image security service with a Huawei Cloud HSS v5 compatible API."""

__version__ = "0.1.0"
