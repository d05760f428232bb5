"""Refusals a browser can read (``refuse_with="close"``), with Chromium on the seven servers."""
