"""The image batch on the real dev server: a folder of images (good, hostile, in subfolders, across
continue-as-new) into thumbnails with a per-image failure list, a storage prefix as its source, and a worker killed
mid-batch."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from PIL import Image
from temporalio.testing import WorkflowEnvironment

from activities.storage import LocalStorage
from conveyor import Jobs, JobState, Settings
from tests.cli import env_for
from tests.images import alpha_png, photo_jpeg, truncated_jpeg
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running

ROOT = Path(__file__).parent.parent
THUMB = [{"name": "thumb", "width": 100, "height": 100, "format": "jpeg"}]


def copies(folder: Path, count: int, width: int, height: int) -> None:
    """`count` JPEGs in `folder`: one made, the others hard links to it."""
    folder.mkdir(parents=True)
    first = photo_jpeg(folder / "p000.jpg", width, height)
    for i in range(1, count):
        os.link(first, folder / f"p{i:03d}.jpg")


async def test_folder_batch_makes_every_image_and_lists_the_failures(
    jobs: Jobs, settings: Settings, tmp_path: Path
) -> None:
    album = tmp_path / "album"
    (album / "2026").mkdir(parents=True)
    for name in ("a.jpg", "b.JPEG", "2026/c.jpg"):
        photo_jpeg(album / name, 300, 200)
    alpha_png(album / "2026" / "logo.png")
    truncated_jpeg(album / "cut.jpg")
    (album / "notes.jpg").write_text("not a photo\n")
    (album / "readme.txt").write_text("not picked up\n")
    handle = await jobs.image_batch(
        {"source": {"directory": "album"}, "outputs": THUMB, "parallel": 2, "continue_every": 3}
    )
    result = await handle.result()
    assert (result.batch_id, result.made, result.failed) == (handle.id, 4, 2)
    reasons = {f.image: f.reason for f in result.failures}
    assert reasons.keys() == {"album/cut.jpg", "album/notes.jpg"}
    assert reasons["album/cut.jpg"].startswith("ImageRejected: the jpeg does not decode")
    assert reasons["album/notes.jpg"].startswith("ImageRejected: the file is not an image")
    folder = settings.reports_dir / handle.id
    thumbs = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert [str(p) for p in thumbs] == [
        "album_2026_c.jpg/thumb.jpg", "album_2026_logo.png/thumb.jpg", "album_a.jpg/thumb.jpg", "album_b.JPEG/thumb.jpg"
    ]  # fmt: skip
    assert all(Image.open(folder / p).size == (100, 100) for p in thumbs)
    assert (await jobs.status(handle.id)).state is JobState.COMPLETED


async def test_storage_prefix_batch(jobs: Jobs, settings: Settings, tmp_path: Path) -> None:
    storage = LocalStorage(settings.reports_dir)
    for name in ("x.jpg", "y.jpg"):
        await storage.upload(f"uploads/u7/{name}", photo_jpeg(tmp_path / name, 200, 200), "image/jpeg")
    await storage.upload("uploads/u8/z.jpg", tmp_path / "x.jpg", "image/jpeg")  # another prefix: left alone
    result = await (await jobs.image_batch({"source": {"prefix": "uploads/u7/"}, "outputs": THUMB})).result()
    assert (result.made, result.failed) == (2, 0)
    assert sorted(p.parent.name for p in (settings.reports_dir / result.batch_id).rglob("thumb.jpg")) == [
        "uploads_u7_x.jpg", "uploads_u7_y.jpg"
    ]  # fmt: skip


async def test_worker_killed_mid_batch_the_batch_completes_with_one_set_of_outputs(
    temporal_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    count = 40
    copies(tmp_path / "shoot", count, 2000, 1500)
    jobs = Jobs(temporal_env.client, settings)
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from conveyor.cli import main; main(['worker'])", cwd=ROOT, env=env_for(settings),
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        handle = await jobs.image_batch({"source": {"directory": "shoot"}, "outputs": THUMB, "parallel": 1})

        async def progress() -> tuple[int, int | None]:
            reported = (await jobs.status(handle.id)).reported
            return (reported.done, reported.total) if reported else (0, None)

        done, total = await eventually(progress, lambda p: p[0] >= 3, timeout=120)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        await worker.wait()
    assert total == count and done < count, "killed mid-batch"
    async with running(build_workers(temporal_env.client, settings)):  # a new worker takes over
        result = await asyncio.wait_for(handle.result(), 120)
    assert (result.made, result.failed) == (count, 0)
    stored = sorted((settings.reports_dir / handle.id).rglob("*"))
    files = [p for p in stored if p.is_file()]
    assert len(files) == count and all(p.name == "thumb.jpg" for p in files), "one output per image, no leftovers"
