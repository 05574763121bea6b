"""Prefect tasks: thin wrappers named after the domain function each one calls.

Every task changes a git repo or a tailnet, so none may be served from a cache (NO_CACHE).
"""
