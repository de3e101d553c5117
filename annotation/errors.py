"""Domain errors raised by services; the API maps each to one HTTP status."""


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.line = line

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def as_dict(self) -> dict:
        body: dict = {"code": self.code, "detail": self.message}
        if self.field:
            body["field"] = self.field
        if self.line is not None:
            body["line"] = self.line
        return body


class NotFound(DomainError):
    """Missing or not yours: the two are deliberately indistinguishable."""

    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    code = "conflict"


class ProjectArchived(Conflict):
    """The project is archived: it hands out no items until it is brought back."""

    code = "project_archived"


class Invalid(DomainError):
    code = "invalid"
