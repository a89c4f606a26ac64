"""Validates Roster's admin OpenAPI document (fetched from a running server) against the
OpenAPI 3.1 specification with openapi-spec-validator; exits non-zero on any error."""

import json
import sys
import urllib.request

from openapi_spec_validator import OpenAPIV31SpecValidator


def main() -> int:
    url = sys.argv[1]
    with urllib.request.urlopen(url) as response:
        spec = json.load(response)
    errors = list(OpenAPIV31SpecValidator(spec).iter_errors())
    for error in errors:
        print(f"openapi: {error.message} at {'/'.join(str(p) for p in error.path)}")
    operations = sum(
        1 for item in spec["paths"].values() for method in item if method in
        ("get", "put", "post", "delete", "patch")
    )
    print(f"openapi: {operations} operations, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
