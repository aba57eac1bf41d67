"""docs/first-10-minutes.md works as written: its `<!-- run-by-test -->` blocks are run in order.

A real eaos-server (the build tree's) is started on loopback ephemeral ports; each marked bash
block then runs with `bash -euo pipefail` in a temporary directory holding a copy of examples/,
with TARGET and METRICS set to that server and PATH holding the build tree's eaos-client and
the pinned grpcurl, as the page's own `export` line sets them. A block must exit 0 and print
something; each is bounded by a timeout.
"""
import os
import re
import shutil
import subprocess
import unittest

import ops_common as oc

DOC = os.path.join(oc.SOURCE_DIR, "docs", "first-10-minutes.md")
BLOCK_RE = re.compile(r"<!-- run-by-test -->\n```bash\n(.*?)```", re.S)


def marked_blocks():
    with open(DOC, encoding="utf-8") as f:
        return BLOCK_RE.findall(f.read())


class FirstTenMinutesTest(unittest.TestCase):
    def test_marked_blocks_run(self):
        blocks = marked_blocks()
        self.assertGreaterEqual(len(blocks), 5, f"too few run-by-test blocks in {DOC}")
        grpcurl = oc.tool("grpcurl", "EAOS_GRPCURL", ["/opt/eaos-ops/bin/grpcurl"])
        work = oc.temp_dir("eaos-first10-")
        shutil.copytree(os.path.join(oc.SOURCE_DIR, "examples"), os.path.join(work, "examples"))
        model = os.path.join(oc.SOURCE_DIR, "models", "demo")
        server = oc.Server([f"--model_dir={model}"])
        try:
            env = dict(os.environ, TARGET=server.target, METRICS=f"127.0.0.1:{server.metrics_port}")
            env["PATH"] = os.pathsep.join([os.path.dirname(oc.client_binary()),
                                           os.path.dirname(grpcurl), env.get("PATH", "")])
            for i, block in enumerate(blocks, 1):
                with self.subTest(block=i):
                    out = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work,
                                         env=env, capture_output=True, text=True, timeout=120)
                    self.assertEqual(out.returncode, 0,
                                     f"block {i}:\n{block}\n{out.stdout}\n{out.stderr}")
                    self.assertTrue(out.stdout.strip(), f"block {i} printed nothing:\n{block}")
            with open(os.path.join(work, "out.jsonl"), encoding="utf-8") as f:
                lines = f.read().splitlines()
            with open(os.path.join(work, "examples", "comments.jsonl"), encoding="utf-8") as f:
                self.assertEqual(len(lines), len(f.read().splitlines()), "one line per comment")
        finally:
            code = server.terminate()
        self.assertEqual(code, 0, server.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
