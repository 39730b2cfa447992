"""Decoding: Lambda event sources into source records, and record payloads into items."""
