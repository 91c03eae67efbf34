"""The fast record check never accepts what the entity's JSON Schema refuses, and agrees with it overall."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lowcode_platform import jsonutil
from lowcode_platform.configuration import compile_config
from tests.api.test_schema_property import (
    ENTITY,
    FORMAT_CHECKER,
    ClientValidator,
    document_for,
    field_specs,
    record_for,
)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_check_verdict_equals_the_json_schema_verdict(data):
    """For generated entities and records, the fast check says valid exactly when jsonschema does."""
    fields = data.draw(field_specs(), label="fields")
    document = document_for(fields)
    assume(document is not None)
    entity = compile_config(document, 1).entities[ENTITY]
    schema = json.loads(entity.schema_text("en"))
    validator = ClientValidator(schema, format_checker=FORMAT_CHECKER)
    for record in data.draw(st.lists(record_for(fields, schema), min_size=1, max_size=4), label="records"):
        parsed = jsonutil.loads(json.dumps(record, allow_nan=False))  # as the server reads a body
        assert entity.is_valid(parsed) == validator.is_valid(record), record
