"""What a daily salt is, shared by the salt stores of the collector and of ClickHouse."""

SALT_BYTES = 32  # a salt is this many bytes from a CSPRNG (secrets.token_bytes)
