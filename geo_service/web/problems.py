"""Plain Chinese for the pages: what each upload rule means, and what kind of refusal an
error is. The rules themselves live in validation.py, uploads.py and readers/; the domain's
own message (with the figures: which code, how far, how much) is shown beside these words."""

from geo_service.errors import (
    Conflict,
    Forbidden,
    GeoServiceError,
    InvalidInput,
    NotFound,
    TooLarge,
    Unauthorized,
    UploadRefused,
)

RULE_LABELS = {
    "bad_coordinate": "界址点坐标无法读取",
    "changed_after_verification": "已核验地块的边界被改动，需重新核验",
    "code_missing": "图形内没有宗地号注记",
    "code_not_text": "地块编号必须是文字或数字",
    "code_outside_outlines": "宗地号注记不在任何宗地界线内",
    "code_too_long": "地块编号太长",
    "columns_swapped": "X、Y 两列互换（X 应为北坐标），已按数值纠正",
    "coordinates_out_of_range": "坐标超出合理范围（可能坐标系选错）",
    "coordinates_unrecognised": "无法识别坐标的类型（经纬度还是投影坐标）",
    "crs_inferred": "文件未写明坐标系，系统按坐标数值推断",
    "crs_missing": "文件没有坐标系信息",
    "crs_not_accepted": "不接受该坐标系",
    "crs_unknown": "无法识别文件声明的坐标系",
    "declared_area_mismatch": "申报面积与图形面积相差过大",
    "duplicate_code": "地块编号重复",
    "duplicate_geometry": "与文件中另一地块的图形重复",
    "elsewhere_township": "地块大部分位于其他乡镇（应计入所在乡镇）",
    "empty_geometry": "要素没有图形",
    "invalid_geometry": "图形自相交或无效",
    "malformed_file": "文件格式损坏",
    "no_features": "文件中没有任何要素",
    "not_polygon": "不是面（地块边界必须是多边形）",
    "outside_crs_area": "坐标超出该坐标系的适用范围",
    "outside_district": "地块不在所属区县内",
    "outside_fuzhou": "地块不在福州市范围内",
    "outside_township": "地块不在所选乡镇内",
    "overlap": "与已有地块重叠",
    "overlap_verified": "与已核验地块重叠",
    "repaired_geometry": "图形已自动修复（请核对）",
    "ring_crosses_itself": "界址线自相交（界址点顺序或坐标有误）",
    "several_codes": "一个宗地界线内有多个宗地号注记",
    "signoff": "上传人无权设置该状态（核验须由核验组、且符合四眼原则）",
    "skipped_features": "部分要素被跳过",
    "status_move": "上传不能使地块状态倒退或解除争议",
    "too_few_points": "界址点太少，构不成地块",
    "unclosed_outline": "宗地界线没有闭合（未自动闭合）",
    "unclosed_ring": "边界没有闭合",
    "unknown_project": "找不到该项目",
    "unknown_status": "无法识别的状态",
    "unknown_township": "找不到该支援乡镇",
    "withdrawn": "该编号的地块已撤销，不能再用",
    "zone_mismatch": "坐标与所选投影带不一致",
}

_ERROR_WORDS = [
    (UploadRefused, "文件未被接受"),
    (TooLarge, "文件太大"),
    (Forbidden, "没有权限"),
    (Unauthorized, "请重新登录"),
    (NotFound, "找不到"),
    (Conflict, "数据刚被他人修改，没有保存任何内容，请刷新后重试"),
    (InvalidInput, "填写有误"),
]


def rule_label(rule: str) -> str:
    return RULE_LABELS.get(rule, "其他问题")


def error_words(exc: GeoServiceError) -> str:
    """A refusal as the page says it: what kind of refusal, in Chinese, then the detail."""
    for cls, words in _ERROR_WORDS:
        if isinstance(exc, cls):
            return f"{words}：{_first_line(exc)}"
    return f"未能完成：{_first_line(exc)}"


def _first_line(exc: GeoServiceError) -> str:
    # A refused file's message is its whole report; the page lists the problems itself.
    return (str(exc).splitlines() or [""])[0]


_STATUS_WORDS = {
    400: "填写有误",
    401: "请重新登录",
    403: "没有权限，或请求不是从本系统的页面发出的",
    404: "找不到",
    405: "不能这样操作",
    409: "数据刚被他人修改，没有保存任何内容，请刷新后重试",
    413: "文件太大",
    422: "填写有误或文件未被接受",
}


def status_words(status: int) -> str:
    return _STATUS_WORDS.get(status, "未能完成")
