"""The demo's type check: every function parameter and return needs an annotation.

It prints errors the way `tsc --noEmit` does (`error TS7006`), so the
exporter's default error pattern counts them.
"""

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent


def main() -> int:
    errors = 0
    for path in sorted((ROOT / "src").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for arg in node.args.args:
                if arg.annotation is None:
                    errors += 1
                    print(
                        f"src/{path.name}({arg.lineno},{arg.col_offset + 1}): error TS7006: "
                        f"Parameter '{arg.arg}' implicitly has an 'any' type."
                    )
            if node.returns is None:
                errors += 1
                print(
                    f"src/{path.name}({node.lineno},{node.col_offset + 1}): error TS7010: "
                    f"'{node.name}', which lacks return-type annotation, implicitly has an "
                    "'any' return type."
                )
    print(f"Found {errors} errors." if errors else "No errors.")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
