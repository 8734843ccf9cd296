"""The AWS CLI as one long-lived process for the tests (testkit::aws_shell).

Starting `aws` costs about a second (Python, botocore, the service model); an IAM
matrix seeds and inspects the emulator with hundreds of CLI calls, which made those
tests take minutes. This runs the CLI's own driver (same syntax, same behaviour as
`aws ...`) for each request instead of a new process.

stdin: one JSON object per line: {"args": [...], "env": {NAME: value | null}, "cwd": DIR}
(`env` is what the test's Command set or removed over the inherited environment), or
{"boto": {"endpoint": URL, "calls": [[service, method, {params}], ...]}, "env": {}, "cwd": DIR}
for calls made with boto3 (as the dummy keys; the answers, without ResponseMetadata,
are printed as one JSON list).
stdout: one JSON object per request: {"rc": N, "stdout": "...", "stderr": "..."}.
"""
import contextlib
import io
import json
import os
import sys
import traceback

import boto3
from awscli.clidriver import create_clidriver
from botocore.config import Config

BOTO_CLIENTS = {}


def boto(req):
    out = []
    for svc, op, kw in req["calls"]:
        key = (svc, req["endpoint"])
        if key not in BOTO_CLIENTS:
            BOTO_CLIENTS[key] = boto3.client(
                svc, endpoint_url=req["endpoint"], region_name="ap-northeast-1",
                aws_access_key_id="testing", aws_secret_access_key="testing",
                config=Config(s3={"addressing_style": "path"}))
        r = getattr(BOTO_CLIENTS[key], op)(**kw)
        r.pop("ResponseMetadata", None)
        for k, v in list(r.items()):
            if hasattr(v, "read"):
                r[k] = v.read().decode("utf-8", "replace")
        out.append(r)
    print(json.dumps(out, default=str))
    return 0


def main():
    channel = sys.stdout
    inherited = dict(os.environ)
    # A driver (a botocore session) per environment: credentials, region and
    # endpoint are read from the environment once per session.
    drivers = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        env = dict(inherited)
        for name, value in req["env"].items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        os.environ.clear()
        os.environ.update(env)
        os.chdir(req["cwd"])
        key = tuple(sorted(env.items()))
        if "boto" not in req and key not in drivers:
            drivers[key] = create_clidriver()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = boto(req["boto"]) if "boto" in req else drivers[key].main(req["args"])
            except SystemExit as e:  # argparse's usage errors exit
                rc = e.code if isinstance(e.code, int) else 2
            except Exception:  # pylint: disable=broad-except
                traceback.print_exc()
                rc = 255
        channel.write(json.dumps({"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
