#!/usr/bin/python
"""An image archive without the layers a Docker host already holds."""

import json
import os
import posixpath
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: image_archive_delta
short_description: Write an image archive without the layers a Docker host already holds
description:
  - Reads an archive written by C(docker save) (one image) and writes a copy of it that leaves out the image's
    first layers when a Docker host already holds them, in that order, under one of its images.
  - C(docker load) looks a layer up by its chain of diff IDs and opens the layer's file only when the host lacks it,
    so the copy loads like the whole archive on that host.
  - Runs on the controller (delegate_to localhost). The role removes I(dest) once it is copied, so each run that
    ships an image writes it anew.
options:
  src:
    description: The archive of one image, as C(docker save) wrote it.
    type: path
    required: true
  dest:
    description: Where to write the archive to send.
    type: path
    required: true
  present:
    description: The layer stacks (each image's RootFS.Layers, the diff IDs in order) of the images the host holds.
    type: list
    elements: list
    default: []
"""

RETURN = r"""
src:
  description: The archive read (I(src)).
  type: str
  returned: always
dest:
  description: The archive to send; I(src) itself when there is nothing to leave out, or in check mode (nothing is
    written then).
  type: str
  returned: always
layers:
  description: How many layers the image has.
  type: int
  returned: always
left_out:
  description: How many of its first layers the host holds, so the archive leaves them out.
  type: int
  returned: always
size:
  description: The size of the archive to send (its I(dest)), in bytes.
  type: int
  returned: always
"""


def held_prefix(diff_ids, present):
    """How many of the image's first layers one of the host's layer stacks already has."""
    best = 0
    for stack in present:
        count = 0
        for mine, theirs in zip(diff_ids, stack, strict=False):
            if mine != theirs:
                break
            count += 1
        best = max(best, count)
    return best


def resolve(members, name):
    """The regular file a member stands for: docker save links a repeated layer to its first copy."""
    seen = set()
    while name in members and (members[name].issym() or members[name].islnk()) and name not in seen:
        seen.add(name)
        link = members[name].linkname
        name = link if members[name].islnk() else posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
    return name


def plan(archive, present):
    """(layers, left out, the members to leave out) for an open archive."""
    members = {member.name: member for member in archive.getmembers()}
    manifest = json.load(archive.extractfile(members["manifest.json"]))
    if len(manifest) != 1:
        raise ValueError(f"the archive holds {len(manifest)} images; one was expected")
    config = json.load(archive.extractfile(members[manifest[0]["Config"]]))
    diff_ids, files = config["rootfs"]["diff_ids"], manifest[0]["Layers"]
    if len(diff_ids) != len(files):
        raise ValueError("the archive's manifest and its image configuration name a different number of layers")
    left_out = held_prefix(diff_ids, present)
    needed = {resolve(members, name) for name in files[left_out:]} | set(files[left_out:])
    dropped = ({resolve(members, name) for name in files[:left_out]} | set(files[:left_out])) - needed
    return len(diff_ids), left_out, dropped


def main():
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path", "required": True},
            "dest": {"type": "path", "required": True},
            "present": {"type": "list", "elements": "list", "default": []},
        },
        supports_check_mode=True,
    )
    src, dest = module.params["src"], module.params["dest"]
    if not os.path.isfile(src):
        if module.check_mode:  # a dry run saved no archive before this
            module.exit_json(changed=True, src=src, dest=src, layers=0, left_out=0, size=0)
        module.fail_json(msg=f"No image archive at {src}: it is written by the task before this one.")
    try:
        with tarfile.open(src) as archive:
            layers, left_out, dropped = plan(archive, module.params["present"])
            result = {"src": src, "layers": layers, "left_out": left_out}
            # Nothing to leave out (no layer file that only held layers back), or a dry run, which writes
            # nothing: the whole archive is what goes.
            if not dropped or module.check_mode:
                module.exit_json(changed=bool(dropped), dest=src, size=os.path.getsize(src), **result)
            kept = [member for member in archive.getmembers() if member.name not in dropped]
            handle, partial = tempfile.mkstemp(dir=os.path.dirname(dest) or ".", suffix=".partial")
            os.close(handle)
            try:
                with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as out:
                    for member in kept:
                        out.addfile(member, archive.extractfile(member) if member.isfile() else None)
                os.replace(partial, dest)
            finally:
                if os.path.exists(partial):
                    os.unlink(partial)
    except OSError as error:
        module.fail_json(msg=f"Could not write {dest} from {src}: {error}")
    except (KeyError, ValueError, tarfile.TarError) as error:  # json's errors are ValueErrors
        module.fail_json(msg=f"{src} is not an archive of one image as docker save writes it: {error!r}")
    module.exit_json(changed=True, dest=dest, size=os.path.getsize(dest), **result)


if __name__ == "__main__":
    main()
