"""Static checks of docker/Dockerfile.* (no Docker engine runs in CI, so nothing here builds an image).

For each Dockerfile:
  - every COPY/ADD source from the build context exists and is not excluded by its .dockerignore;
    every COPY --from names an earlier stage; every source directory CMake builds is copied;
  - the build stage runs scripts/install-deps.sh (the script CI runs) and the final stage runs it
    with --runtime; the script is executable in git; the CMake preset exists;
  - the final stage runs as a numeric non-root user (the UID deploy/ sets), EXPOSEs the gRPC and
    metrics ports, has a HEALTHCHECK, and starts the installed eaos-server;
  - the flags of ENTRYPOINT/CMD exist in the real eaos-server, those of HEALTHCHECK in the real
    eaos-client.
"""
import fnmatch
import glob
import json
import os
import re
import shlex
import subprocess
import unittest

import ops_common as oc

DOCKERFILES = ["docker/Dockerfile.cpu", "docker/Dockerfile.cuda"]
INSTALL_PREFIX = "/opt/eaos"
UID = "10001"


def instructions(path):
    """[(INSTRUCTION, arguments)] with continuations joined and comments dropped."""
    out, pending = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if pending and line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            full = (pending + line).strip()
            pending = ""
            word, _, rest = full.partition(" ")
            out.append((word.upper(), rest.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return out


def stages(instrs):
    """[(stage name, [instructions])]; the first item holds the global ARGs."""
    result = [("<global>", [])]
    for word, rest in instrs:
        if word == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
            assert m, f"bad FROM {rest}"
            result.append((m.group(2) or f"stage{len(result)}", []))
        result[-1][1].append((word, rest))
    return result


def exec_form(rest):
    rest = rest.strip()
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def flags_of(args):
    return {a[2:].partition("=")[0] for a in args if a.startswith("--")}


class DockerfileTest(unittest.TestCase):
    def check(self, relpath):
        path = os.path.join(oc.SOURCE_DIR, relpath)
        self.assertTrue(os.path.exists(path), relpath)
        all_stages = stages(instructions(path))
        names = [name for name, _ in all_stages]
        ignore = []
        ignore_path = path + ".dockerignore"
        if os.path.exists(ignore_path):
            with open(ignore_path, encoding="utf-8") as f:
                ignore = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        copied = []
        for index, (stage, instrs) in enumerate(all_stages):
            for word, rest in instrs:
                if word in ("COPY", "ADD"):
                    parts = shlex.split(rest)
                    opts = [p for p in parts if p.startswith("--")]
                    srcs = [p for p in parts if not p.startswith("--")][:-1]
                    source_stage = next((o.split("=", 1)[1] for o in opts
                                         if o.startswith("--from=")), None)
                    if source_stage is not None:
                        self.assertIn(source_stage, names[1:index],
                                      f"{relpath}: COPY --from={source_stage}: no earlier stage")
                        continue
                    for src in srcs:
                        matches = glob.glob(os.path.join(oc.SOURCE_DIR, src))
                        self.assertTrue(matches, f"{relpath}: COPY {src}: not in the repository")
                        for pattern in ignore:
                            self.assertFalse(fnmatch.fnmatch(src, pattern) or
                                             src.startswith(pattern.rstrip("*") + "/"),
                                             f"{relpath}: COPY {src} is excluded by {pattern}")
                        copied.append(src.rstrip("/"))
                if word == "RUN":
                    for script in re.findall(r"(?:^|[\s/])(scripts/[\w./-]+\.sh)", rest):
                        self.assertTrue(os.path.exists(os.path.join(oc.SOURCE_DIR, script)),
                                        f"{relpath}: RUN uses missing {script}")
                    for preset in re.findall(r"--preset[ =](\w+)", rest):
                        with open(os.path.join(oc.SOURCE_DIR, "CMakePresets.json")) as f:
                            presets = {p["name"] for p in json.load(f)["configurePresets"]}
                        self.assertIn(preset, presets, f"{relpath}: no CMake preset {preset}")

        # Everything the top-level CMakeLists builds (except tests/, e.g. tests/fuzz, and bench/)
        # is copied.
        with open(os.path.join(oc.SOURCE_DIR, "CMakeLists.txt"), encoding="utf-8") as f:
            subdirs = set(re.findall(r"add_subdirectory\(([\w/]+)\)", f.read()))
        for subdir in sorted(s for s in subdirs
                             if s != "bench" and s != "tests" and not s.startswith("tests/")):
            self.assertTrue(any(subdir == c or subdir.startswith(c + "/") for c in copied),
                            f"{relpath}: CMake needs {subdir}/, no COPY brings it")
        self.assertIn("CMakeLists.txt", copied)

        # install-deps.sh: full in a build stage, --runtime in the final one.
        mode = subprocess.run(["git", "ls-files", "-s", "scripts/install-deps.sh"],
                              cwd=oc.SOURCE_DIR, capture_output=True, text=True).stdout
        self.assertTrue(mode.startswith("100755"), "scripts/install-deps.sh must be executable")
        runs = {name: " ".join(r for w, r in instrs if w == "RUN") for name, instrs in all_stages}
        self.assertRegex(runs["build"], r"install-deps\.sh(?! --runtime)")
        final_name, final = all_stages[-1]
        self.assertRegex(runs[final_name], r"install-deps\.sh --runtime")
        self.assertRegex(runs["build"], rf"cmake --install \S+ --prefix {INSTALL_PREFIX}")

        # The final stage.
        words = {}
        for word, rest in final:
            words.setdefault(word, []).append(rest)
        self.assertEqual(words["USER"][-1].split(":")[0], UID, "numeric non-root USER")
        exposed = {p.split("/")[0] for line in words["EXPOSE"] for p in line.split()}
        self.assertTrue({"50051", "9464"} <= exposed, exposed)
        entrypoint = exec_form(words["ENTRYPOINT"][-1])
        self.assertEqual(entrypoint, [f"{INSTALL_PREFIX}/bin/eaos-server"])
        server_flags = flags_of(exec_form(words["CMD"][-1]))
        self.assertEqual(server_flags - oc.binary_flags(oc.server_binary()), set(),
                         f"{relpath}: CMD flags eaos-server does not define")
        healthcheck = words["HEALTHCHECK"][-1]
        m = re.search(r"\bCMD\s+(.*)$", healthcheck)
        self.assertIsNotNone(m, "HEALTHCHECK needs a CMD")
        check = exec_form(m.group(1))
        self.assertEqual(check[0], f"{INSTALL_PREFIX}/bin/eaos-client")
        self.assertEqual(flags_of(check) - oc.binary_flags(oc.client_binary()), set(),
                         f"{relpath}: HEALTHCHECK flags eaos-client does not define")
        self.assertRegex(healthcheck, r"--start-period=\d+m", "model loading needs a start period")

    def test_cpu(self):
        self.check(DOCKERFILES[0])

    def test_cuda(self):
        self.check(DOCKERFILES[1])
        with open(os.path.join(oc.SOURCE_DIR, DOCKERFILES[1]), encoding="utf-8") as f:
            text = f.read()
        self.assertIn("NVIDIA_VISIBLE_DEVICES", text)
        self.assertIn("--device=cuda", text)

    def test_readme_says_nothing_was_built_here(self):
        with open(os.path.join(oc.SOURCE_DIR, "docker", "README.md"), encoding="utf-8") as f:
            self.assertIn("No Docker engine", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
