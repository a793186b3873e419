"""The demo's build: byte-compiles src/ into dist/; a syntax error fails it.

Break it with:  echo 'def broken(:' >> src/calc.py
Each run appends a line to logs/app.log, as a real build server would.
"""

import datetime
import pathlib
import py_compile
import sys

ROOT = pathlib.Path(__file__).resolve().parent


def log(level: str, message: str) -> None:
    (ROOT / "logs").mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    with open(ROOT / "logs" / "app.log", "a", encoding="utf-8") as fh:
        fh.write(f"{stamp} {level} build: {message}\n")


def main() -> int:
    for source in sorted((ROOT / "src").glob("*.py")):
        target = ROOT / "dist" / (source.stem + ".pyc")
        try:
            py_compile.compile(str(source), cfile=str(target), doraise=True)
        except py_compile.PyCompileError as exc:
            print(exc.msg, file=sys.stderr)
            log("ERROR", f"{source.name} does not compile")
            return 1
    print("build ok")
    log("INFO", "ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
