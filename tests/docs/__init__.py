"""The docs, held to what the code and the servers do."""
