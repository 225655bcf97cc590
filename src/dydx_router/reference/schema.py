"""docs/schema.md from ``store/tables.py`` (the metadata migrations are written against):
tables, columns, indexes, constraints, and a Mermaid ER diagram."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

from dydx_router.store.tables import metadata

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _type(column: sa.Column[object]) -> str:
    return column.type.compile(dialect=_DIALECT)


def _default(column: sa.Column[object]) -> str:
    default = column.server_default
    if isinstance(default, sa.Identity):
        return "identity (always)" if default.always else "identity"
    arg = getattr(default, "arg", None)
    if arg is None:
        return ""
    if isinstance(arg, str):
        return f"`{arg}`" if arg else "`''`"
    return f"`{arg.compile(dialect=_DIALECT)}`"


def _constraint(table: sa.Table, constraint: sa.Constraint) -> str | None:
    name = constraint.name
    if isinstance(constraint, sa.PrimaryKeyConstraint):
        cols = ", ".join(c.name for c in constraint.columns)
        return f"`{name}` PRIMARY KEY ({cols})"
    if isinstance(constraint, sa.UniqueConstraint):
        cols = ", ".join(c.name for c in constraint.columns)
        return f"`{name}` UNIQUE ({cols})"
    if isinstance(constraint, sa.CheckConstraint):
        return f"`{name}` CHECK ({constraint.sqltext})"
    if isinstance(constraint, sa.ForeignKeyConstraint):
        cols = ", ".join(c.name for c in constraint.columns)
        ref = ", ".join(e.target_fullname for e in constraint.elements)
        on_delete = f" ON DELETE {constraint.ondelete}" if constraint.ondelete else ""
        return f"`{name}` FOREIGN KEY ({cols}) REFERENCES {ref}{on_delete}"
    return None


def _mermaid() -> list[str]:
    lines = ["```mermaid", "erDiagram"]
    for table in metadata.sorted_tables:
        lines.append(f"    {table.name} {{")
        for column in table.columns:
            kind = _type(column).split("(")[0].replace(" ", "_").replace("[]", "_array")
            keys = []
            if column.primary_key:
                keys.append("PK")
            if column.foreign_keys:
                keys.append("FK")
            if column.unique:
                keys.append("UK")
            lines.append(f"        {kind} {column.name} {','.join(keys)}".rstrip())
        lines.append("    }")
    for table in metadata.sorted_tables:
        for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
            parent = "|o" if fk.parent.nullable else "||"  # a child with or without a parent
            lines.append(
                f'    {fk.column.table.name} {parent}--o{{ {table.name} : "{fk.parent.name}"'
            )
    return [*lines, "```"]


def schema_md() -> str:
    lines = [
        "# Database schema",
        "",
        "<!-- Generated from src/dydx_router/store/tables.py by scripts/gen_docs.py",
        "     (`make docs`); tests/router/unit/test_generated_docs.py fails when it drifts. -->",
        "",
        "PostgreSQL 15 or later. The tables are created and changed only by the Alembic",
        "migrations (`dydx-router migrate up`), which are written against `store/tables.py`;",
        "migration strategy: [deployment.md](deployment.md#migrations).",
        "",
        *_mermaid(),
        "",
    ]
    sequences = sorted(metadata._sequences.values(), key=lambda s: s.name)
    for seq in sequences:
        lines += [
            f"Sequence `{seq.name}`: {seq.minvalue}..{seq.maxvalue}"
            f"{', cycles' if seq.cycle else ''}.",
            "",
        ]
    for table in metadata.sorted_tables:
        lines += [f"## {table.name}", "", "| Column | Type | Null | Default | Key |"]
        lines.append("|---|---|---|---|---|")
        for column in table.columns:
            keys = ["PK"] if column.primary_key else []
            keys += [f"→ {fk.target_fullname}" for fk in column.foreign_keys]
            null = "yes" if column.nullable else "no"
            row = [column.name, _type(column), null, _default(column), " ".join(keys)]
            lines.append("| " + " | ".join(row) + " |")
        constraints = sorted(
            filter(None, (_constraint(table, c) for c in table.constraints)), key=str
        )
        if constraints:
            lines += ["", "Constraints:", ""] + [f"- {c}" for c in constraints]
        indexes = sorted(table.indexes, key=lambda i: str(i.name))
        if indexes:
            lines += ["", "Indexes:", ""]
            for index in indexes:
                ddl = " ".join(str(CreateIndex(index).compile(dialect=_DIALECT)).split())
                lines.append(f"- `{ddl}`")
        lines.append("")
    return "\n".join(lines)
