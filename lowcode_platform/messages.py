"""Every user-facing error message, in English and Chinese, keyed by a stable code.

Codes are what tests and clients match on; the wording may change. A message template is filled with
the detail's params by `str.format`; an unknown code falls back to the code itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LOCALES = ("en", "zh")

CATALOG: Mapping[str, Mapping[str, str]] = {
    # config documents
    "invalid_json": {"en": "not valid JSON: {error}", "zh": "不是有效的 JSON：{error}"},
    "unreadable_file": {"en": "cannot read the file: {error}", "zh": "无法读取文件：{error}"},
    "duplicate_key": {
        "en": "the key {key!r} is defined more than once{where}",
        "zh": "键 {key!r} 被重复定义{where}",
    },
    "unknown_key": {"en": "unknown key {key!r}", "zh": "未知的键 {key!r}"},
    "bad_identifier": {
        "en": "{key!r} is not a valid key: use at most 63 lower-case letters, digits and _, starting with a letter",
        "zh": "{key!r} 不是合法的键：只能使用小写字母、数字和下划线，以字母开头，最多 63 个字符",
    },
    "unknown_entity": {"en": "unknown entity {entity!r}", "zh": "未知的实体 {entity!r}"},
    "unknown_field": {
        "en": "unknown field {field!r}{where}",
        "zh": "未知的字段 {field!r}{where}",
    },
    "unknown_role": {"en": "unknown role {role!r}", "zh": "未知的角色 {role!r}"},
    "unknown_template": {"en": "unknown template {name!r}", "zh": "未知的模板 {name!r}"},
    "reserved_field": {
        "en": "{field!r} is a system field name and cannot be defined",
        "zh": "{field!r} 是系统字段名，不能自定义",
    },
    "option_not_for_type": {
        "en": "{option!r} does not apply to {type} fields",
        "zh": "{option!r} 不适用于 {type} 类型的字段",
    },
    "missing_option": {"en": "{type} fields need {option!r}", "zh": "{type} 类型的字段需要 {option!r}"},
    "default_not_option": {
        "en": "the default {value!r} is not one of the field's options",
        "zh": "默认值 {value!r} 不在字段的选项中",
    },
    "invalid_default": {"en": "the default is invalid: {error}", "zh": "默认值无效：{error}"},
    "invalid_filter": {"en": "the filter value is invalid: {error}", "zh": "筛选值无效：{error}"},
    "min_above_max": {"en": "{low} is greater than {high}", "zh": "{low} 大于 {high}"},
    "bad_pattern": {"en": "not a valid regular expression: {error}", "zh": "不是有效的正则表达式：{error}"},
    "bad_extends": {"en": "cannot extend {name!r}: {error}", "zh": "无法继承 {name!r}：{error}"},
    # conditions
    "condition_type": {"en": "expected {what}, found {actual}", "zh": "应为{what}，实际为{actual}"},
    "condition_one_key": {
        "en": "{what} must have exactly one key, found {count}; combine conditions with $and or $or",
        "zh": "{what}必须恰好有一个键，实际有 {count} 个；请用 $and 或 $or 组合条件",
    },
    "condition_too_deep": {"en": "conditions may nest at most {limit} deep", "zh": "条件最多嵌套 {limit} 层"},
    "condition_too_many_nodes": {
        "en": "a condition may hold at most {limit} $and/$or operators",
        "zh": "一个条件最多包含 {limit} 个 $and/$or 运算符",
    },
    "condition_list": {
        "en": "{operator} needs a non-empty list of conditions",
        "zh": "{operator} 需要一个非空的条件列表",
    },
    "condition_too_many_items": {
        "en": "a list of conditions may hold at most {limit} items",
        "zh": "条件列表最多包含 {limit} 项",
    },
    "condition_operator": {"en": "unknown operator {operator!r}", "zh": "未知的运算符 {operator!r}"},
    "condition_not_comparable": {"en": "{field!r} is of type {type} and cannot be compared as a whole; compare one of its parts, or use $ex/$nex", "zh": "{field!r} 的类型是{type}，不能整体比较；请比较它的组成部分，或使用 $ex/$nex"},
    "condition_operator_type": {"en": "{operator} does not apply to values of type {type}", "zh": "{operator} 不适用于{type}类型的值"},
    "condition_days": {
        "en": "{field!r} counts whole days: compare it with a whole number from -{limit} to {limit}",
        "zh": "{field!r} 以整天计：只能与 -{limit} 到 {limit} 之间的整数比较",
    },
    "condition_days_reference": {
        "en": "{field!r} can only be compared with a number, not referred to",
        "zh": "{field!r} 只能与数字比较，不能被引用",
    },
    "condition_option": {"en": "{value!r} is not an option of {field!r}", "zh": "{value!r} 不是 {field!r} 的选项"},
    "condition_mismatch": {"en": "{field!r} is of type {expected}; a value of type {actual} cannot be compared with it", "zh": "{field!r} 的类型是{expected}，不能与{actual}类型的值比较"},
    "condition_number": {
        "en": "write numbers without an exponent, between -9223372036854775808 and 9223372036854775807",
        "zh": "数字不能使用指数形式，且须在 -9223372036854775808 到 9223372036854775807 之间",
    },
    "condition_null": {
        "en": "null is not a value conditions compare with; test for a missing value with $nex",
        "zh": "条件中不能使用 null；判断值为空请使用 $nex",
    },
    "condition_format": {"en": "{field!r} must be compared with a value of the form {format}", "zh": "{field!r} 只能与{format}格式的值比较"},
    "condition_arithmetic": {
        "en": "{operator} needs exactly the two operands $l and $r",
        "zh": "{operator} 需要且只需要 $l 和 $r 两个操作数",
    },
    "condition_arithmetic_depth": {
        "en": "arithmetic may nest at most {limit} operations deep",
        "zh": "算术运算最多嵌套 {limit} 层",
    },
    "condition_constant_arithmetic": {
        "en": "{operator} needs at least one field reference ($m) among its operands",
        "zh": "{operator} 的操作数中至少要有一个字段引用（$m）",
    },
    "condition_regex": {"en": "the pattern is not in the safe subset: {error}", "zh": "正则表达式不在安全子集内：{error}"},
    "computed_cycle": {
        "en": "computed fields depend on each other in a cycle: {cycle}",
        "zh": "计算字段之间存在循环依赖：{cycle}",
    },
    "computed_field": {
        "en": "is computed from other fields and cannot be set",
        "zh": "由其他字段计算得出，不能直接设置",
    },
    "invalid_value": {"en": "the value is invalid: {error}", "zh": "值无效：{error}"},
    "user_field_needed": {"en": "{field!r} is not a user field of this entity", "zh": "{field!r} 不是本实体的用户字段"},
    "reference_field_needed": {
        "en": "{field!r} is not a reference field of this entity",
        "zh": "{field!r} 不是本实体的关联字段",
    },
    "link_field_needed": {
        "en": "{field!r} is not a reference field to {entity!r} in the task entity",
        "zh": "{field!r} 不是任务实体中指向 {entity!r} 的关联字段",
    },
    "date_field_needed": {"en": "{field!r} is not a date or date-time field", "zh": "{field!r} 不是日期或日期时间字段"},
    "fields_needed": {
        "en": "field.changed automations need 'fields': the fields whose change triggers them",
        "zh": "field.changed 自动化需要 'fields'：哪些字段的变更会触发它",
    },
    "rule_failed": {"en": "{message}", "zh": "{message}"},
    "automation_failed": {
        "en": "automation {automation!r} could not complete: {error}",
        "zh": "自动化 {automation!r} 无法完成：{error}",
    },
    # pipelines
    "approver_field_type": {"en": "{field!r} must be a user field to name approvers",
                            "zh": "{field!r} 必须是用户类型字段才能指定审批人"},
    "ratio_without_mode": {"en": "a ratio applies only with mode \"ratio\"", "zh": "只有 mode 为 \"ratio\" 时才能设置比例"},
    "duplicate_step": {"en": "step {step!r} appears twice", "zh": "步骤 {step!r} 重复"},
    "unknown_conversion": {"en": "no conversion {conversion!r} of this entity", "zh": "此实体没有转化 {conversion!r}"},
    "protection_max": {"en": "must be at least the protection period ({days} days)",
                       "zh": "不能短于保护期（{days} 天）"},
    "unknown_stage": {"en": "no stage {stage!r} in this pipeline", "zh": "此管道中没有阶段 {stage!r}"},
    "reserved_stage": {"en": "{stage!r} is the stage of lost records and cannot be defined", "zh": "{stage!r} 是输单阶段，不能自定义"},
    "not_an_activity": {
        "en": "{entity!r} is not an activity of {of!r}: it needs activity_for with a reference to {of!r}",
        "zh": "{entity!r} 不是 {of!r} 的活动：需要 activity_for 指向 {of!r} 的关联字段",
    },
    "same_stage": {"en": "the record is already in stage {stage!r}", "zh": "记录已处于阶段 {stage!r}"},
    "stage_terminal": {"en": "stage {stage!r} is final: the record moves no further", "zh": "阶段 {stage!r} 为终态，记录不能再推进"},
    "stage_skipped": {
        "en": "stages may not be skipped: the next stage is {next!r}",
        "zh": "不能跳过阶段：下一阶段是 {next!r}",
    },
    "stage_back": {"en": "records may not move back to {stage!r}", "zh": "记录不能退回到 {stage!r}"},
    "gate_required": {"en": "{field} must be filled in to enter this stage. {message}",
                      "zh": "进入此阶段前必须填写{field}。{message}"},
    "gate_condition": {"en": "the record does not meet this stage's condition. {message}",
                       "zh": "记录不满足进入此阶段的条件。{message}"},
    "gate_activities": {"en": "needs at least {min} {what} in the current stage ({found} so far). {message}",
                        "zh": "当前阶段至少需要 {min} 次{what}（目前 {found} 次）。{message}"},
    "override_forbidden": {"en": "only tenant admins may override a stage's rules", "zh": "只有租户管理员可以越过阶段规则"},
    "gate_on_first_stage": {
        "en": "the first stage takes no gate: records are created in it (require fields of the entity instead)",
        "zh": "第一阶段不能设置准入条件：记录创建时即处于该阶段（请改为在实体中设置必填字段）",
    },
    "unknown_pipeline": {"en": "{pipeline!r} is not a pipeline of {entity!r}", "zh": "{pipeline!r} 不是 {entity!r} 的销售管道"},
    "no_pipeline": {"en": "{entity!r} records have no pipeline", "zh": "{entity!r} 记录没有销售管道"},
    # conversions
    "template_needs_text": {"en": "a template makes text: {field!r} is not a text field", "zh": "模板生成文本：{field!r} 不是文本字段"},
    "mapping_mismatch": {
        "en": "{field!r} is a {type} field and cannot fill a {expected} field",
        "zh": "{field!r} 是{type}字段，不能填入{expected}字段",
    },
    "already_converted": {"en": "already converted: {links}", "zh": "已转化：{links}"},
    "not_convertible": {"en": "the record does not meet this conversion's condition", "zh": "记录不满足此转化的条件"},
    "unknown_match": {"en": "{id!r} is not a match you may link", "zh": "{id!r} 不是可关联的匹配记录"},
    "duplicate_match": {
        "en": "a matching record exists (visible to you: {visible}); link it or ask its owner",
        "zh": "已存在匹配的记录（您可见：{visible}）；请关联它或联系其负责人",
    },
    "approval_pending": {"en": "this record has a request of this kind pending approval already",
                         "zh": "该记录已有同类审批在进行中"},
    "approval_locked": {"en": "cannot change while an approval ({flow}) is pending",
                        "zh": "审批（{flow}）进行中，不能修改"},
    "approval_decided": {"en": "the request is {status} already", "zh": "该审批已{status}"},
    "approval_required": {"en": "changing {field!r} needs approval: change it on its own first",
                          "zh": "修改 {field!r} 需要审批，请先单独修改"},
    "approval_cancelled": {"en": "the record was deleted", "zh": "记录已删除"},
    "submitter_inactive": {"en": "the user who asked for this can no longer act", "zh": "申请人已无法执行此操作"},
    "approval_not_needed": {"en": "this record does not need this approval", "zh": "该记录不需要此审批"},
    "no_approvers": {"en": "nobody can approve step {step!r}", "zh": "步骤 {step!r} 没有可用的审批人"},
    "task_decided": {"en": "this task was decided already (the request is {status})",
                     "zh": "该审批任务已处理（审批状态：{status}）"},
    "self_approval": {"en": "you cannot approve your own request", "zh": "不能审批自己提交的申请"},
    "not_submitter": {"en": "only the submitter may recall the request", "zh": "只有提交人可以撤回申请"},
    "unknown_flow": {"en": "no approval flow {flow!r}", "zh": "没有审批流程 {flow!r}"},
    "unknown_step": {"en": "no step {step!r} at or before this one", "zh": "当前或之前没有步骤 {step!r}"},
    "owner_cap": {"en": "the owner may hold at most {cap} of these records (holds {owned}, adding {adding})",
                  "zh": "负责人最多可持有 {cap} 条此类记录（已持有 {owned} 条，本次增加 {adding} 条）"},
    "pool_cooldown": {"en": "this record left you less than {days} days ago; it cannot come back to you yet",
                      "zh": "该记录离开您不足 {days} 天，暂不能再次领取"},
    "claims_per_day": {"en": "you may claim at most {limit} records a day", "zh": "每天最多可领取 {limit} 条记录"},
    "pool_push_only": {"en": "records of this pool are assigned, not claimed", "zh": "该池的记录由系统分配，不能领取"},
    "pool_taken": {"en": "someone else owns this record now", "zh": "该记录已被他人领取"},
    "pool_not_owned": {"en": "the record is in a pool, not owned", "zh": "该记录在公海池中，无人负责"},
    "pool_scope": {"en": "the record does not belong in this pool", "zh": "该记录不属于此池"},
    "pool_admin_only": {"en": "only the pool's admins may do this", "zh": "只有该池的管理员可以执行此操作"},
    "not_owner": {"en": "only the record's owner may do this", "zh": "只有记录的负责人可以执行此操作"},
    "unknown_user": {"en": "no active user {id!r}", "zh": "没有在职用户 {id!r}"},
    "not_a_member": {"en": "{name} does not work in this pool", "zh": "{name} 不是该池的成员"},
    "on_return_required": {"en": "{field!r} is required or unique: it cannot be cleared when a record returns",
                           "zh": "{field!r} 为必填或唯一字段，记录退回时不能清空"},
    "pool_hidden_field": {"en": "{field!r} is hidden in this pool", "zh": "{field!r} 在此池中不可见"},
    "converted_readonly": {"en": "the record was converted and is read-only", "zh": "记录已转化，不能修改"},
    "unknown_target": {"en": "no target {target!r} in this conversion", "zh": "此转化中没有目标 {target!r}"},
    # forms
    "form_sections_or_tabs": {
        "en": "a form has either 'sections' or 'tabs', not both and not neither",
        "zh": "表单须有 'sections' 或 'tabs' 之一，不能都有，也不能都没有",
    },
    "widget_unfit": {
        "en": "the widget {widget!r} does not fit a {type} field; use one of {allowed}",
        "zh": "控件 {widget!r} 不适用于 {type} 类型的字段；可用：{allowed}",
    },
    "required_field_off_form": {
        "en": "{field!r} is required and has no default, so every role must see it on the create form, unconditionally",
        "zh": "{field!r} 为必填且没有默认值，创建表单必须对所有角色无条件显示它",
    },
    "computed_field_on_form": {
        "en": "{field!r} is computed: it is shown read-only and cannot be {what}",
        "zh": "{field!r} 是计算字段，只读显示，不能设置为{what}",
    },
    "not_on_form": {
        "en": "{field!r} is not a field of this form",
        "zh": "{field!r} 不是此表单中的字段",
    },
    "create_form_id": {"en": "a create form shows no record: leave out id", "zh": "创建表单不显示记录：请去掉 id"},
    "unknown_form": {"en": "no form {form!r} for this entity", "zh": "此实体没有表单 {form!r}"},
    "form_purpose": {
        "en": "a {form} form cannot be submitted to {purpose} a record",
        "zh": "{form} 表单不能用于{purpose}记录",
    },
    "readonly_field": {"en": "is read-only and cannot be changed", "zh": "为只读字段，不能修改"},
    "form_value": {"en": "is not a valid {type}", "zh": "不是有效的{type}"},
    "malformed_condition": {"en": "the condition is not valid JSON: {error}", "zh": "条件不是有效的 JSON：{error}"},
    # records
    "required": {"en": "is required", "zh": "为必填项"},
    "type": {"en": "must be {expected}", "zh": "类型应为 {expected}"},
    "invalid_option": {"en": "must be one of {allowed}", "zh": "必须是以下选项之一：{allowed}"},
    "minimum": {"en": "must be at least {limit}", "zh": "不能小于 {limit}"},
    "maximum": {"en": "must be at most {limit}", "zh": "不能大于 {limit}"},
    "min_length": {"en": "must be at least {limit} characters", "zh": "长度不能少于 {limit} 个字符"},
    "max_length": {"en": "must be at most {limit} characters", "zh": "长度不能超过 {limit} 个字符"},
    "min_items": {"en": "choose at least {limit}", "zh": "至少选择 {limit} 项"},
    "max_items": {"en": "choose at most {limit}", "zh": "最多选择 {limit} 项"},
    "duplicate_items": {"en": "contains the same option twice", "zh": "包含重复的选项"},
    "pattern": {"en": "is not in the expected format", "zh": "格式不正确"},
    "format": {"en": "is not a valid {format}", "zh": "不是有效的 {format}"},
    "invalid": {"en": "is invalid: {error}", "zh": "无效：{error}"},
    "not_unique": {
        "en": "another {entity} already has this value",
        "zh": "已有其他{entity}使用了此值",
    },
    "reference_not_found": {
        "en": "no {entity} record with id {id!r}",
        "zh": "不存在 id 为 {id!r} 的{entity}记录",
    },
    "user_not_found": {"en": "no user with id {id!r} in this tenant", "zh": "本租户中不存在 id 为 {id!r} 的用户"},
    # requests
    "malformed_json": {"en": "the body is not valid JSON: {error}", "zh": "请求体不是有效的 JSON：{error}"},
    "unstorable_text": {
        "en": "text may not contain NUL characters or unpaired surrogates",
        "zh": "文本不能包含 NUL 字符或不成对的代理字符",
    },
    "body_not_object": {"en": "the body must be a JSON object", "zh": "请求体必须是 JSON 对象"},
    "stale_version": {
        "en": "the record has changed since version {expected}; it is now at version {actual}",
        "zh": "记录已在版本 {expected} 之后被修改，当前版本为 {actual}",
    },
    "version_required": {
        "en": "send the version you edited, as 'version' in the body or an If-Match header",
        "zh": "请在请求体的 version 或 If-Match 请求头中提供所编辑的版本号",
    },
    "bad_parameter": {"en": "{error}", "zh": "{error}"},
    "pii_hidden": {
        "en": "{field!r} holds personal data your role sees masked: it cannot be filtered or sorted on",
        "zh": "{field!r} 含有您的角色只能看到脱敏值的个人信息，不能用于筛选或排序",
    },
    "unsafe_text": {
        "en": "the path or query holds NUL characters or unpaired surrogates",
        "zh": "路径或查询参数包含 NUL 字符或不成对的代理字符",
    },
    "not_deleted": {"en": "the record is not deleted", "zh": "记录未被删除"},
}


@dataclass(frozen=True)
class Localized:
    """A message parameter that is itself text in English and Chinese."""

    en: str
    zh: str

    def get(self, locale: str) -> str:
        return self.zh if locale == "zh" else self.en


NOWHERE = Localized("", "")


# The language tags a request may ask for, best first by the client's weights (e.g. Accept-Language).
LANGUAGE_TAGS = ["en", "zh", "zh-CN", "zh-Hans", "zh-TW"]


def locale_of(tag: str | None, default: str) -> str:
    """`zh` or `en` for the best language tag a client asked for (one of LANGUAGE_TAGS), else `default`."""
    if tag is None:
        return default
    return "zh" if tag.startswith("zh") else "en"


def in_entity(entity: str) -> Localized:
    return Localized(f" in entity {entity!r}", f"（实体 {entity!r}）")


def also_in(file: str) -> Localized:
    return Localized(f" (also in {file})", f"（另见 {file}）")


def render_message(code: str, params: Mapping[str, Any], locale: str) -> str:
    """Fill the template of `code` in `locale` (English when the locale is not known)."""
    templates = CATALOG.get(code)
    if templates is None:
        return code.replace("_", " ")
    template = templates.get(locale) or templates["en"]
    values = {k: v.get(locale) if isinstance(v, Localized) else v for k, v in params.items()}
    try:
        return template.format(**values).rstrip()  # an empty last part (e.g. no gate message) leaves no space
    except (KeyError, IndexError):
        return templates["en"]
