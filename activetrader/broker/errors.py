"""Alpaca's rejections, as alpaca-py raises them.

alpaca-py turns any non-2xx answer into ``alpaca.common.exceptions.APIError(body, http_error)``;
``.code`` and ``.message`` parse the JSON body and ``.status_code`` reads the HTTP response
(alpaca-contract.md §2). The simulator builds the very same object around a real
``requests.Response``, so code that handles Alpaca's errors handles the simulator's.

>>> e = api_error(403, INSUFFICIENT, "insufficient buying power", buying_power="10.00")
>>> (e.status_code, e.code, e.message)
(403, 40310000, 'insufficient buying power')
"""

from __future__ import annotations

import json

import requests
from alpaca.common.exceptions import APIError

#: Error codes seen in Alpaca's answers (alpaca-contract.md §2).
INVALID = 40010001  # 422 (and 400): request not valid
INSUFFICIENT = 40310000  # 403: buying power, qty available, wash trade, shorting
NOT_FOUND = 40410000  # 404
UNPROCESSABLE = 42210000  # 422: order rules

_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 422: "Unprocessable Entity"}


def api_error(status: int, code: int, message: str, **extra) -> APIError:
    """An ``APIError`` carrying Alpaca's HTTP status, error code and message (plus body extras)."""
    body = json.dumps({"code": code, "message": message, **extra})
    response = requests.Response()
    response.status_code = status
    response.reason = _REASONS.get(status, "Error")
    response._content = body.encode()
    response.headers["Content-Type"] = "application/json"
    return APIError(body, requests.HTTPError(f"{status} {response.reason}", response=response))
