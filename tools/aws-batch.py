#!/usr/bin/env python3
"""Runs many AWS CLI commands in one process (the CLI's own driver, same syntax
and behaviour as `aws ...`), saving start-up time on a busy 2-core machine.
stdin: one JSON object per line, {"args": ["s3", "mb", "s3://b"], "out": "FILE"|null}.
An argument may name a value an earlier command of the batch wrote to its FILE:
@{FILE#Key.0.Key} (keys and list indexes), replaced by that value, so commands that
need an id created earlier in the batch (a zone, an ARN) still run in one process.
Exits 1 at the first command that fails (its error is on stderr)."""
import contextlib
import json
import os
import re
import sys

from awscli.clidriver import create_clidriver


REF = re.compile(r"@\{([^#}]+)#([^}]+)\}")


def resolve(arg):
    def value(m):
        with open(m.group(1), encoding="utf-8") as f:
            v = json.load(f)
        for key in m.group(2).split("."):
            v = v[int(key)] if isinstance(v, list) else v[key]
        return str(v)

    return REF.sub(value, arg)


def main():
    driver = create_clidriver()
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            cmd["args"] = [resolve(a) for a in cmd["args"]]
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            print(f"aws-batch: cannot resolve a reference ({e!r}): aws {' '.join(cmd['args'])}", file=sys.stderr)
            return 1
        out = cmd.get("out") or os.devnull
        with open(out, "w", encoding="utf-8") as f, contextlib.redirect_stdout(f):
            rc = driver.main(cmd["args"])
        if rc != 0:
            print(f"aws-batch: exit {rc}: aws {' '.join(cmd['args'])}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
