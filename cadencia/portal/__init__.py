"""The debtor portal: the page behind every message's link (``cadencia portal``).

``app`` assembles the FastAPI app, ``i18n`` its languages, ``session`` the
signed cookie of a verified link; the work is done in ``campaigns.portal``.
"""
