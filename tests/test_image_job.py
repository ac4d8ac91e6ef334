"""The image job end to end on the real dev server and real libvips: outputs read back with Pillow (sizes,
formats, orientation, stripped metadata), hostile files failing at once with their reason, S3 on moto, and the
producer surfaces (Python, CLI, HTTP)."""

from __future__ import annotations

import io
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from PIL import Image
from temporalio.testing import WorkflowEnvironment

from activities.s3 import S3Storage
from conveyor import ImageJob, ImageResult, InvalidJobError, JobFailed, Jobs, JobState, Settings
from tests.api_server import ApiThread
from tests.cli import conveyor
from tests.conftest import settings_for
from tests.images import (
    BLUE,
    MAKE,
    RED,
    alpha_png,
    laughing_svg,
    photo_jpeg,
    png_bomb,
    truncated_jpeg,
    turned_jpeg,
)
from tests.smtp_server import SmtpServer
from worker.build import build_workers
from worker.run import running


def opened(settings: Settings, key: str) -> Image.Image:
    image = Image.open(settings.reports_dir / key)
    image.load()
    return image


def at(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    pixel = image.getpixel((x, y))
    assert isinstance(pixel, tuple)
    return pixel


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


async def test_exif_orientation_is_applied_and_metadata_stripped(
    jobs: Jobs, settings: Settings, tmp_path: Path
) -> None:
    turned_jpeg(tmp_path / "turned.jpg")
    job = {"source": "turned.jpg", "outputs": [
        {"name": "small", "width": 100, "height": 100, "fit": "inside", "format": "jpeg"},
        {"name": "kept", "width": 100, "height": 100, "fit": "inside", "format": "jpeg", "strip": False},
    ]}  # fmt: skip
    result = await (await jobs.image(job)).result()
    assert (result.source_width, result.source_height, result.source_format) == (200, 300, "jpeg")
    small, kept = (opened(settings, o.key) for o in result.outputs)
    assert small.size == (67, 100) == (result.outputs[0].width, result.outputs[0].height), "shown upright"
    rgb = small.convert("RGB")
    assert close_to(at(rgb, 10, 50), BLUE) and close_to(at(rgb, 57, 50), RED), "turned clockwise"
    assert not small.getexif(), "stripped: no EXIF at all"
    exif = kept.getexif()
    assert exif.get(MAKE) == "ConveyorCam" and exif.get(0x0112, 1) == 1, "kept, and no longer says 'turn me'"


async def test_png_with_alpha_keeps_it_and_contain_pads_with_transparency(
    jobs: Jobs, settings: Settings, tmp_path: Path
) -> None:
    alpha_png(tmp_path / "logo.png")
    result = await (
        await jobs.image(
            ImageJob(
                source={"file": "logo.png"},
                outputs=[
                    {"name": "square", "width": 200, "height": 200, "fit": "contain", "format": "png"},
                    {"name": "web", "width": 200, "format": "webp"},
                    {"name": "flat", "width": 200, "format": "jpeg"},
                ],
            )
        )
    ).result()
    square, web, flat = (opened(settings, o.key) for o in result.outputs)
    assert square.format == "PNG" and square.size == (200, 200) and square.mode == "RGBA"
    assert at(square, 100, 20)[3] == 0, "padding is transparent"
    assert at(square, 100, 100)[3] == 255 and close_to(at(square, 100, 100), (20, 200, 20))
    assert web.format == "WEBP" and web.size == (200, 100) and web.mode == "RGBA" and at(web, 5, 5)[3] == 0
    assert flat.format == "JPEG" and flat.mode == "RGB" and close_to(at(flat, 5, 5), (255, 255, 255))


async def test_camera_photo_makes_three_thumbnails_in_three_formats(
    jobs: Jobs, settings: Settings, tmp_path: Path
) -> None:
    photo_jpeg(tmp_path / "photo.jpg")
    outputs = [
        {"name": "large", "width": 1200, "fit": "inside", "format": "webp", "quality": 75},
        {"name": "card", "width": 400, "height": 400, "crop": "attention", "format": "jpeg"},
        {"name": "icon", "width": 200, "height": 100, "crop": "north", "format": "avif", "quality": 50},
    ]
    handle = await jobs.image({"source": {"file": str(tmp_path / "photo.jpg")}, "outputs": outputs})
    result: ImageResult = await handle.result()
    assert [(o.name, o.format.value, o.width, o.height) for o in result.outputs] == [
        ("large", "webp", 1200, 800), ("card", "jpeg", 400, 400), ("icon", "avif", 200, 100),
    ]  # fmt: skip
    for output in result.outputs:
        path = settings.reports_dir / output.key
        assert output.key == f"{handle.id}/{path.name}" and output.bytes == path.stat().st_size > 0
        assert output.url == path.resolve().as_uri()
    large, card = opened(settings, result.outputs[0].key), opened(settings, result.outputs[1].key)
    assert (large.format, large.size, card.format, card.size) == ("WEBP", (1200, 800), "JPEG", (400, 400))
    assert (settings.reports_dir / result.outputs[2].key).read_bytes()[4:12] == b"ftypavif"
    status = await jobs.status(handle.id)
    assert status.state is JobState.COMPLETED and status.kind == "image" and status.attempts == 1


async def test_progressive_jpeg_decodes(jobs: Jobs, settings: Settings, tmp_path: Path) -> None:
    photo_jpeg(tmp_path / "progressive.jpg", 3000, 2000, progressive=True)
    assert Image.open(tmp_path / "progressive.jpg").info.get("progressive") == 1
    job = {"source": "progressive.jpg", "outputs": [{"width": 300, "format": "png"}]}
    result = await (await jobs.image(job)).result()
    [output] = result.outputs
    assert (output.name, output.width, output.height) == ("300x", 300, 200)
    assert opened(settings, output.key).size == (300, 200)


HOSTILE = {
    "bomb.png": (png_bomb, "ImageRejected", "declares 50,000 x 50,000 = 2,500,000,000 pixels, over the"),
    "cut.jpg": (truncated_jpeg, "ImageRejected", "does not decode (truncated or damaged?)"),
    "notes.jpg": (lambda p: p.write_text("just text, named like a photo\n"), "ImageRejected", "is not an image"),
    "laughs.svg": (laughing_svg, "ImageRejected", "is not an image in a format this worker reads"),
}


@pytest.mark.parametrize("name", [*HOSTILE, "../outside.jpg", "missing.jpg"])
async def test_hostile_source_fails_on_its_first_attempt_naming_why_and_stores_nothing(
    jobs: Jobs, settings: Settings, tmp_path: Path, name: str
) -> None:
    if name in HOSTILE:
        make, failure, reason = HOSTILE[name]
        make(tmp_path / name)
    elif name == "missing.jpg":
        failure, reason = "ImageNotFound", "no file 'missing.jpg' in the data directory"
    else:
        photo_jpeg(tmp_path.parent / "outside.jpg", 60, 40)  # a real image, but not in the data directory
        failure, reason = "InvalidJob", "'../outside.jpg' is outside the data directory"
    handle = await jobs.image({"source": name, "outputs": [{"width": 100}, {"width": 50, "format": "png"}]})
    with pytest.raises(JobFailed) as failed:
        await handle.result()
    assert failed.value.type == failure and reason in failed.value.message
    status = await jobs.status(handle.id)
    assert status.state is JobState.FAILED and status.attempts == 1
    assert not (settings.reports_dir / handle.id).exists(), "nothing stored"


async def test_over_the_byte_limit_fails_before_reading(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = settings_for(temporal_env, smtp_server, tmp_path, image_max_bytes=10_000)
    photo_jpeg(tmp_path / "photo.jpg", 1200, 800)
    async with running(build_workers(temporal_env.client, settings)):
        handle = await Jobs(temporal_env.client, settings).image({"source": "photo.jpg", "outputs": [{"width": 10}]})
        with pytest.raises(JobFailed, match=r"ImageRejected: the file is [0-9,]+ bytes, over the 10,000-byte limit"):
            await handle.result()


def test_bad_outputs_are_refused_before_enqueueing() -> None:
    with pytest.raises(InvalidJobError, match="an output needs a width, a height or both"):
        ImageJob(source="a.jpg", outputs=[{"format": "png"}])
    with pytest.raises(InvalidJobError, match=r"two outputs would be stored as 100x\.webp"):
        ImageJob(source="a.jpg", outputs=[{"width": 100}, {"width": 100, "quality": 50}])
    with pytest.raises(InvalidJobError, match="exactly one of 'file'"):
        ImageJob(source={"file": "a.jpg", "stored": "b.jpg"}, outputs=[{"width": 1}])
    with pytest.raises(InvalidJobError, match=r"outputs\.0\.width: Input should be less than or equal to 8192"):
        ImageJob(source="a.jpg", outputs=[{"width": 100_000}])


@pytest.fixture
def s3_settings(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, moto_server: str, tmp_path: Path
) -> Settings:
    """Settings storing images in a fresh bucket on moto's S3."""
    bucket = f"images-{uuid.uuid4().hex[:12]}"
    settings = settings_for(
        temporal_env, smtp_server, tmp_path, storage="s3", s3_bucket=bucket, s3_endpoint_url=moto_server,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server, aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    return settings


async def test_stored_source_on_s3_gives_outputs_behind_presigned_links(
    temporal_env: WorkflowEnvironment, s3_settings: Settings, tmp_path: Path
) -> None:
    storage = S3Storage(s3_settings.s3_aws_config(), s3_settings.s3_bucket, s3_settings.s3_prefix)
    await storage.upload("uploads/u1/photo.jpg", photo_jpeg(tmp_path / "photo.jpg", 1600, 1200), "image/jpeg")
    await storage.upload("uploads/u1/bomb.png", png_bomb(tmp_path / "bomb.png"), "image/png")
    async with running(build_workers(temporal_env.client, s3_settings)):
        jobs = Jobs(temporal_env.client, s3_settings)
        job = {"source": {"stored": "uploads/u1/photo.jpg"}, "outputs": [{"width": 160, "height": 160}]}
        result = await (await jobs.image(job)).result()
        bomb = await jobs.image({"source": {"stored": "uploads/u1/bomb.png"}, "outputs": [{"width": 10}]})
        with pytest.raises(JobFailed, match="ImageRejected: the png declares 50,000 x 50,000"):
            await bomb.result()
    [output] = result.outputs
    assert "X-Amz-Signature=" in output.url
    with urllib.request.urlopen(output.url) as reply:  # noqa: ASYNC210  (a one-off fetch in a test)
        fetched = reply.read()
    assert len(fetched) == output.bytes and Image.open(io.BytesIO(fetched)).size == (160, 160)
    with pytest.raises(Exception, match="no stored file"):
        await storage.read(f"{bomb.id}/10x.webp")


async def test_cli_and_http_enqueue_the_same_contract(
    jobs: Jobs, settings: Settings, api: ApiThread, tmp_path: Path
) -> None:
    photo_jpeg(tmp_path / "photo.jpg", 900, 600)
    ran = await conveyor(settings, "send", "image", "--file", "photo.jpg", "--size", "300x", "--size", "x100",
                         "--size", "50x50", "--format", "jpeg")  # fmt: skip
    assert ran.code == 0, ran.err
    result = await jobs.result(ran.out.strip())
    assert [(o.width, o.height, o.format.value) for o in result.outputs] == [
        (300, 200, "jpeg"), (150, 100, "jpeg"), (50, 50, "jpeg"),
    ]  # fmt: skip
    bad = await conveyor(settings, "send", "image", "--file", "photo.jpg", "--size", "big")
    assert bad.code == 2 and "--size 'big': write WIDTHxHEIGHT" in bad.err
    async with api.client() as http:
        posted = await http.post("/jobs/image", json={"source": "photo.jpg", "outputs": [{"width": 90}]})
        refused = await http.post("/jobs/image", json={"source": "photo.jpg", "outputs": []})
    assert posted.status_code == 202, posted.text
    assert (await jobs.result(posted.json()["id"])).outputs[0].width == 90
    assert refused.status_code == 422 and "outputs" in refused.text
