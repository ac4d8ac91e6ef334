"""Image cases: N camera photos (6000 x 4000 JPEG) into three thumbnails each (1200 wide WebP, 400 x 400 and
200 x 200 WebP covers), by Conveyor against raw pyvips in-process and against Pillow, and the worker's peak RSS.

    python -m bench.images [--images 200] [--runs 1]    # alone; `python -m bench` runs it as the `images` case

- Conveyor: one `ImageBatch` job (`parallel` = the worker's `CONVEYOR_IMAGE_CONCURRENCY`) on a fresh stack with
  a `conveyor worker` process, enqueue to result; beside it, one `image` job per photo, all enqueued at once.
- raw pyvips: a process of its own running `pyvips.Image.thumbnail(path, ...)` per thumbnail as the libvips docs
  show, in as many threads as the worker runs images, with the same libvips thread count each.
- Pillow: the same thumbnails as most Python code makes them (open, full decode, `resize` per size), same threads.

The photos are one generated JPEG hard-linked N times: every side reads the same bytes from the page cache.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.figures import Row, Spread
from bench.harness import ROOT, Sink, bench_settings, scratch, temporal, worker
from bench.proc import rss_mb
from conveyor import Jobs
from conveyor.client import BulkJob

CONCURRENCY = 2
"""Images in flight on every side: the worker's `CONVEYOR_IMAGE_CONCURRENCY` default."""
SIZES = [(1200, None), (400, 400), (200, 200)]
OUTPUTS = [{"name": f"t{w}", "width": w, "height": h, "format": "webp", "quality": 80} for w, h in SIZES]


def photos(folder: Path, count: int, first: Path | None = None) -> None:
    """`count` 6000 x 4000 JPEGs in `folder`: hard links to `first`, or to one generated."""
    from tests.images import photo_jpeg

    folder.mkdir(parents=True, exist_ok=True)
    if first is None:
        first = photo_jpeg(folder / "photo-0000.jpg")
    for i in range(count):
        path = folder / f"photo-{i:04d}.jpg"
        if path != first:
            os.link(first, path)


def raw_pyvips(paths: list[Path], out: Path) -> None:
    """The baseline: libvips' own thumbnail per output, straight from the file."""
    import pyvips

    pyvips.concurrency_set(max(1, (os.cpu_count() or 1) // CONCURRENCY))

    def one(path: Path) -> None:
        for w, h in SIZES:
            options = {"height": h, "crop": "centre"} if h else {}
            pyvips.Image.thumbnail(str(path), w, **options).write_to_file(str(out / f"{path.stem}-{w}.webp"), Q=80)

    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, paths))


def pillow(paths: list[Path], out: Path) -> None:
    """The peer: Pillow decoding each photo at full size, then resizing per output."""
    from PIL import Image, ImageOps

    def one(path: Path) -> None:
        with Image.open(path) as image:
            image.load()
            for w, h in SIZES:
                if h is None:
                    small = image.resize((w, round(image.height * w / image.width)), Image.Resampling.LANCZOS)
                else:
                    small = ImageOps.fit(image, (w, h), Image.Resampling.LANCZOS)
                small.save(out / f"{path.stem}-{w}.webp", quality=80)

    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, paths))


def child_seconds(side: str, folder: Path, timeout: float) -> float:
    """Seconds one baseline takes over the photos in `folder`, in a process of its own."""
    ran = subprocess.run(
        [sys.executable, "-m", "bench.images", "--child", side, "--dir", str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if ran.returncode != 0:
        raise RuntimeError(f"{side} failed ({ran.returncode}): {ran.stderr[-500:]}")
    return float(ran.stdout.split()[0])


async def conveyor_seconds(count: int, photo: Path) -> tuple[float, float, float]:
    """(batch seconds, one-job-per-image seconds, worker peak RSS MB) on a fresh stack, over `count` links to
    `photo` in its data directory."""
    with scratch() as home, Sink() as sink:
        settings = bench_settings(home, sink.port, task_queue=f"bench-{uuid.uuid4().hex[:8]}")
        photos(settings.readable_dir / "photos", count, photo)
        async with temporal(settings) as client, worker(client, settings) as proc:
            jobs = Jobs(client, settings)
            began = time.monotonic()
            batch = await jobs.image_batch(
                {"source": {"directory": "photos"}, "outputs": OUTPUTS, "parallel": CONCURRENCY}
            )
            result = await batch.result()
            batch_seconds = time.monotonic() - began
            if result.made != count:
                raise RuntimeError(f"the batch made {result.made} of {count}: {result.failures[:3]}")
            began = time.monotonic()
            items = [
                BulkJob("image", {"source": f"photos/photo-{i:04d}.jpg", "outputs": OUTPUTS}) for i in range(count)
            ]
            handles = await jobs.bulk(items)
            await asyncio.gather(*(h.result() for h in handles if not isinstance(h, Exception)))
            jobs_seconds = time.monotonic() - began
            peak = rss_mb(proc.pid)[1]
    return batch_seconds, jobs_seconds, peak


async def measure(count: int, reps: int, timeout: float) -> list[Row]:
    """The image rows: images/s of the batch against raw pyvips and against Pillow, one job per image beside,
    and the worker's peak RSS, over `reps` interleaved runs."""
    rates: dict[str, list[float]] = {"batch": [], "jobs": [], "raw": [], "pillow": []}
    peaks: list[float] = []
    with scratch() as tmp:
        photos(tmp / "photos", count)
        for _ in range(reps):
            batch, jobs, peak = await conveyor_seconds(count, tmp / "photos" / "photo-0000.jpg")
            rates["batch"].append(count / batch)
            rates["jobs"].append(count / jobs)
            peaks.append(peak)
            for side in ("raw", "pillow"):
                seconds = await asyncio.to_thread(child_seconds, side, tmp / "photos", timeout)
                rates[side].append(count / seconds)
    spread = {name: Spread(values) for name, values in rates.items()}
    case = f"{count} 6000x4000 JPEGs -> 3 thumbnails"
    return [
        Row(f"{case}, one batch job", "images/s", spread["batch"], spread["raw"], "raw pyvips in-process", "≥ 0.8x",
            lambda r: (r.ratio or 0) >= 0.8),
        Row(f"{case}, one job per image", "images/s", spread["jobs"], spread["raw"], "raw pyvips in-process"),
        Row(f"{case}: batch vs Pillow", "images/s", spread["batch"], spread["pillow"], "Pillow full decode",
            "≥ 2x", lambda r: (r.ratio or 0) >= 2),
        Row("image worker peak RSS", "MB", Spread(peaks), target="≤ 300 MB",
            check=lambda r: max(r.conveyor.values) <= 300),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--child", choices=["raw", "pillow"])
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    if args.child:
        paths = sorted(args.dir.glob("*.jpg"))
        out = args.dir.parent / f"out-{args.child}"
        out.mkdir(exist_ok=True)
        began = time.perf_counter()
        {"raw": raw_pyvips, "pillow": pillow}[args.child](paths, out)
        print(time.perf_counter() - began, rss_mb(os.getpid())[1])
        return
    from bench.figures import table

    print(table(asyncio.run(measure(args.images, args.runs, 3600)), judge=True))


if __name__ == "__main__":
    main()
