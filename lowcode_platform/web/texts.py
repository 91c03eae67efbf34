"""The words of the pages themselves (titles, buttons), in English and Chinese."""

from __future__ import annotations

from collections.abc import Mapping

TEXTS: Mapping[str, Mapping[str, str]] = {
    "app": {"en": "Low-code CRM", "zh": "低代码 CRM"},
    "sign_in": {"en": "Sign in", "zh": "登录"},
    "sign_out": {"en": "Sign out", "zh": "退出"},
    "token": {"en": "Access token", "zh": "访问令牌"},
    "token_help": {"en": "The token your administrator gave you.", "zh": "管理员发给您的令牌。"},
    "invalid_token": {"en": "That token is not valid.", "zh": "令牌无效。"},
    "entities": {"en": "Records", "zh": "记录"},
    "new": {"en": "New", "zh": "新建"},
    "edit": {"en": "Edit", "zh": "编辑"},
    "save": {"en": "Save", "zh": "保存"},
    "cancel": {"en": "Cancel", "zh": "取消"},
    "next_page": {"en": "Next page", "zh": "下一页"},
    "no_records": {"en": "No records yet.", "zh": "暂无记录。"},
    "fix_errors": {"en": "Please correct the fields marked below.", "zh": "请修改下方标出的字段。"},
    "choose": {"en": "Choose…", "zh": "请选择…"},
    "yes": {"en": "Yes", "zh": "是"},
    "no": {"en": "No", "zh": "否"},
    "amount": {"en": "Amount", "zh": "金额"},
    "currency": {"en": "Currency", "zh": "币种"},
    "province": {"en": "Province", "zh": "省份"},
    "city": {"en": "City", "zh": "城市"},
    "required": {"en": "required", "zh": "必填"},
    "masked": {"en": "hidden personal data", "zh": "已脱敏的个人信息"},
    "forbidden": {"en": "Your role may not do this.", "zh": "您的角色无权执行此操作。"},
    "not_found": {"en": "Not found.", "zh": "未找到。"},
    "bad_request": {"en": "The form expired or was not sent by this site; please try again.",
                    "zh": "表单已过期或不是由本站提交，请重试。"},
    "error": {"en": "Something went wrong", "zh": "出错了"},
    "language": {"en": "中文", "zh": "English"},
    "stalled": {"en": "stalled", "zh": "停滞"},
    "move_to": {"en": "Move to", "zh": "推进到"},
    "move": {"en": "Move", "zh": "推进"},
    "lost_reason": {"en": "Reason (when lost)", "zh": "输单原因"},
    "comment": {"en": "Comment", "zh": "备注"},
    "funnel": {"en": "Funnel", "zh": "销售漏斗"},
    "entered": {"en": "entered", "zh": "进入"},
    "open": {"en": "open", "zh": "在途"},
    "weighted": {"en": "weighted", "zh": "加权"},
    "stage": {"en": "Stage", "zh": "阶段"},
    "probability": {"en": "Probability", "zh": "赢率"},
    "open_deals": {"en": "Open deals", "zh": "在途商机"},
    "amount_open": {"en": "Amount", "zh": "金额"},
    "weighted_amount": {"en": "Weighted amount", "zh": "加权金额"},
    "conversion": {"en": "To next stage", "zh": "转化率"},
    "avg_days": {"en": "Avg days", "zh": "平均天数"},
    "median_days": {"en": "Median days", "zh": "中位天数"},
    "dropped": {"en": "Dropped", "zh": "流失"},
    "stalled_count": {"en": "Stalled", "zh": "停滞"},
    "win_rate": {"en": "Win rate", "zh": "赢单率"},
    "lost_reasons": {"en": "Lost reasons", "zh": "输单原因"},
    "period_from": {"en": "From", "zh": "开始"},
    "period_to": {"en": "To", "zh": "结束"},
    "apply": {"en": "Apply", "zh": "筛选"},
    "create_title": {"en": "New {entity}", "zh": "新建{entity}"},
    "edit_title": {"en": "Edit {entity}", "zh": "编辑{entity}"},
}


def text(key: str, locale: str, **params: str) -> str:
    """The page text `key` in `locale` (English when it has no translation)."""
    entry = TEXTS[key]
    return (entry.get(locale) or entry["en"]).format(**params)
