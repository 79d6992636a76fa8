"""HTTP API: FastAPI app and routes, thin translations to wallet use cases."""
