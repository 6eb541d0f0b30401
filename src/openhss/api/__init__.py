"""The HTTP API: FastAPI app, HSS-shaped routers, authentication and the one error mapping."""
