"""What every reader, check and refusal reports: a Problem (rule, severity, feature,
message, location), the Report of a whole file, and the refusal of a file while reading.

The bottom of the house next to `errors`: readers, CRS handling and validation all build
these, so they live below all three and nothing imports upwards to reach them.
"""

from dataclasses import asdict, dataclass, field

import shapely

from geo_service.errors import UploadRefused

ERROR = "error"
WARNING = "warning"


@dataclass
class Problem:
    feature: int | None  # 1-based position in the file; None for the file as a whole
    code: str | None
    rule: str
    severity: str
    message: str
    # [lon, lat] of a point on the problem (the feature, or the overlap), for maps and QGIS.
    location: list[float] | None = None
    # The message's figures by name (share, area, other code…): the pages say the rule in
    # the reader's language with these (geo_service/web/problems.py); None where the rule
    # has no page wording yet, and in reports kept before they existed.
    params: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    filename: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, feature, code, rule, message, severity=ERROR, location=None, params=None) -> None:
        # Positions often come from numpy: store plain ints so reports serialise to JSON.
        feature = None if feature is None else int(feature)
        self.problems.append(Problem(feature, code, rule, severity, message, location, params))

    def features_with_errors(self) -> set[int]:
        return {p.feature for p in self.errors if p.feature is not None}

    def locate(self, geoms: dict) -> None:
        """Give every feature-level problem without a location the feature's inner point
        (`geoms`: feature number -> shape in EPSG:4490, None where refused)."""
        for problem in self.problems:
            if problem.location is None and problem.feature is not None:
                problem.location = inner_point(geoms.get(problem.feature))

    def in_feature_order(self) -> None:
        """File-level problems first, then each feature's in file order (sorted in place:
        the import report shares this list)."""
        self.problems.sort(key=lambda p: -1 if p.feature is None else p.feature)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    def summary(self) -> str:
        lines = [f"{self.filename}: {len(self.errors)} error(s)"]
        lines += [f"  {_where(p)}: {p.message} [{p.rule}]" for p in self.problems]
        return "\n".join(lines)


def inner_point(geom) -> list[float] | None:
    if geom is None or shapely.is_empty(geom):
        return None
    point = shapely.point_on_surface(geom)
    return [round(point.x, 7), round(point.y, 7)]


def _where(problem: Problem) -> str:
    if problem.feature is None:
        return "file"
    return f"feature {problem.feature}" + (f" ({problem.code})" if problem.code else "")


@dataclass
class RefusalReport:
    """What a file refused while reading carries (the CLI and API print it like a report)."""

    filename: str
    problems: list = field(default_factory=list)
    accepted: bool = False

    def as_dict(self) -> dict:
        return {
            "filename": self.filename,
            "accepted": False,
            "problems": [p.as_dict() for p in self.problems],
        }


def refusal(filename: str, rule: str, message: str, params: dict | None = None) -> UploadRefused:
    """An UploadRefused naming the file, carrying one file-level problem (`params`: its
    figures, for the pages' wording)."""
    problem = Problem(None, None, rule, ERROR, message, params=params)
    return UploadRefused(
        f"{filename}: {message} [{rule}]", report=RefusalReport(filename, [problem])
    )


def file_warning(rule: str, message: str, params: dict | None = None) -> Problem:
    return Problem(None, None, rule, WARNING, message, params=params)
