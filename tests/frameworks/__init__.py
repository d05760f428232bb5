"""The framework adapters: Litestar, Quart, Falcon, BlackSheep and Django Channels."""
