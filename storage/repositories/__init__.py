"""Repositories, one module per aggregate: the only way the rest of the product touches the database."""
