"""Marshmallow schemas of the API's envelopes, for the OpenAPI document.

Tenant entities exist only at runtime, so a record's `data` is an open object here; each entity's own
JSON Schema is served at `/api/v1/meta/entities/{entity}/schema`.
"""

from __future__ import annotations

from marshmallow import Schema, fields


class ErrorDetailSchema(Schema):
    pointer = fields.String(metadata={"description": "RFC 6901 pointer into the request body"})
    parameter = fields.String(metadata={"description": "the query parameter at fault, instead of a pointer"})
    code = fields.String(required=True, metadata={"description": "stable machine-readable code"})
    message = fields.String(required=True, metadata={"description": "for a person, in the request's language"})


class ProblemSchema(Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    code = fields.String(required=True)
    detail = fields.String()
    errors = fields.List(fields.Nested(ErrorDetailSchema), required=True)


class PipelineStateSchema(Schema):
    key = fields.String(required=True, metadata={"description": "the record's pipeline"})
    stage = fields.String(required=True, metadata={"description": "a stage key, or `lost`"})
    stage_entered_at = fields.DateTime(required=True)
    probability = fields.Decimal(as_string=False, allow_none=True, metadata={"description": "0-100"})
    forecast_category = fields.String(allow_none=True)
    won_at = fields.DateTime(allow_none=True)
    lost_at = fields.DateTime(allow_none=True)
    stalled = fields.Boolean(required=True, metadata={"description": "idle in the stage beyond its rot days"})


class RecordSchema(Schema):
    id = fields.String(required=True)
    entity = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "send it back to PATCH (optimistic lock)"})
    owner_id = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    deleted_at = fields.DateTime(allow_none=True)
    created_by = fields.String(allow_none=True)
    updated_by = fields.String(allow_none=True)
    config_version = fields.Integer(required=True)
    data = fields.Dict(required=True, metadata={"description": "the entity's fields; see its JSON Schema"})
    masked = fields.List(fields.String(), required=True, metadata={"description": "pii fields shown masked"})
    pipeline = fields.Nested(PipelineStateSchema, metadata={"description": "only for records of a pipeline's entity"})
    approval = fields.Dict(metadata={"description": "when the change waits for approval (answer 202): the request"})


class RecordPageSchema(Schema):
    items = fields.List(fields.Nested(RecordSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class AuditEntrySchema(Schema):
    id = fields.String(required=True)
    action = fields.String(required=True, metadata={"description": "create, update, delete or restore"})
    actor_id = fields.String(allow_none=True)
    at = fields.DateTime(required=True)
    record_version = fields.Integer(required=True)
    config_version = fields.Integer(required=True)
    changes = fields.Dict(required=True, metadata={"description": "{field: [before, after]}"})


class HistorySchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)


class ConfigDocumentSchema(Schema):
    version = fields.Integer(required=True)
    document = fields.Dict(required=True)


class EntitySummarySchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    plural = fields.String(required=True)
    permissions = fields.Dict(required=True)


class EntityListSchema(Schema):
    items = fields.List(fields.Nested(EntitySummarySchema), required=True)


class MeSchema(Schema):
    user_id = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    tenant_id = fields.String(required=True)
    config_version = fields.Integer(required=True)
    locale = fields.String(required=True)


OBJECT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
}


class AutomationRunSchema(Schema):
    id = fields.String(required=True)
    automation = fields.String(required=True)
    entity = fields.String(required=True)
    record_id = fields.String(required=True)
    event = fields.String(required=True)
    depth = fields.Integer(required=True, metadata={"description": "0 for a user's write, +1 per automation"})
    outcome = fields.String(required=True, metadata={"description": "done | failed | depth_limit"})
    detail = fields.Dict(required=True, metadata={"description": "the actions done, or the error"})
    actor_id = fields.String(allow_none=True)
    at = fields.DateTime(required=True)


class AutomationRunPageSchema(Schema):
    items = fields.List(fields.Nested(AutomationRunSchema), required=True)
    next_before = fields.String(allow_none=True)


class OutboxMessageSchema(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    recipients = fields.List(fields.String(), required=True)
    payload = fields.Dict(required=True)
    created_at = fields.DateTime(required=True)
    sent_at = fields.DateTime(allow_none=True)


class OutboxPageSchema(Schema):
    items = fields.List(fields.Nested(OutboxMessageSchema), required=True)
    next_before = fields.String(allow_none=True)


class FormSummarySchema(Schema):
    entity = fields.String(required=True)
    purpose = fields.String(required=True, metadata={"description": "create, edit, view, or a form a feature uses"})
    label = fields.String(allow_none=True)


class FormListSchema(Schema):
    items = fields.List(fields.Nested(FormSummarySchema), required=True)


class FormDocumentSchema(Schema):
    json_schema = fields.Dict(required=True, data_key="schema",
                              metadata={"description": "JSON Schema of what the form submits"})
    uiSchema = fields.Dict(required=True, metadata={"description": "react-jsonschema-form UI schema"})
    layout = fields.Dict(required=True, metadata={"description": "tabs, sections and columns"})
    conditions = fields.Dict(required=True, metadata={
        "description": "fields' visible_if/required_if/readonly_if conditions and what evaluating them needs"})
    formData = fields.Dict(metadata={"description": "the record's values, when `id` is given"})
