"""The image-override commands docs/deploy.md shows really change the rendered image.

Every `kustomize edit set image NAME=IMAGE` line in docs/deploy.md's shell blocks (each preceded,
on the same line, by `cd deploy/overlays/X &&`) is run with the pinned kustomize in that overlay
of a temporary copy of deploy/; the overlay must then render IMAGE, and nothing else, for the
server container. The overlays the docs do not cover are overridden the same way, so that every
deployable overlay still resolves the base's placeholder name `eaos-server`.
"""
import os
import re
import shutil
import subprocess
import unittest

import ops_common as oc

DOC = os.path.join(oc.SOURCE_DIR, "docs", "deploy.md")
COMMAND_RE = re.compile(r"cd (deploy/overlays/[\w-]+) && kustomize edit set image ([^\s=]+)=([^\s)]+)")
DEPLOYABLE = ["overlays/cpu", "overlays/gpu", "overlays/gpu-tls"]


def doc_commands():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S)
    return [m.groups() for block in blocks for m in COMMAND_RE.finditer(block)]


class ImageOverrideTest(unittest.TestCase):
    def rendered_images(self, root, overlay):
        out = subprocess.run([oc.kustomize(), "build", os.path.join(root, overlay)],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        return sorted(set(re.findall(r"^\s+image: (\S+)$", out.stdout, re.M)))

    def override(self, overlay, name, image):
        root = os.path.join(oc.temp_dir("eaos-deploy-"), "deploy")
        shutil.copytree(oc.DEPLOY_DIR, root)
        before = self.rendered_images(root, overlay)
        self.assertNotEqual(before, [image], "the override must differ from the default")
        out = subprocess.run([oc.kustomize(), "edit", "set", "image", f"{name}={image}"],
                             cwd=os.path.join(root, overlay), capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.rendered_images(root, overlay), [image], overlay)

    def test_the_docs_commands(self):
        commands = doc_commands()
        self.assertTrue(commands, f"no `cd deploy/overlays/X && kustomize edit set image` in {DOC}")
        for directory, name, image in commands:
            with self.subTest(directory):
                self.override(directory[len("deploy/"):], name, image)

    def test_every_overlay_takes_an_override(self):
        for overlay in DEPLOYABLE:
            with self.subTest(overlay):
                self.override(overlay, "eaos-server", "registry.test/team/eaos-server:9.9.9")


if __name__ == "__main__":
    unittest.main(verbosity=2)
