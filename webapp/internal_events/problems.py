"""One finding about a definitions file: where it is, which field, what is wrong."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.field}" if self.field else self.path
        return f"{where}: {self.message}"
