"""Regenerate jfk-demo.mp4: JFK's 1961 inaugural excerpt (public domain) over a plain title card.

Run from the repo root with the shared reference audio beside it:
    .venv/bin/python samples/make_demo_clip.py ../shared/data/audio/jfk.wav samples/jfk-demo.mp4
"""

from __future__ import annotations

import sys
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT, FPS = 320, 240, 5


def title_card() -> np.ndarray:
    image = Image.new("RGB", (WIDTH, HEIGHT), (24, 38, 64))
    draw = ImageDraw.Draw(image)
    draw.text((20, 100), "vidpipe demo", fill=(240, 240, 240))
    draw.text((20, 125), "J. F. Kennedy, inaugural address, 1961", fill=(180, 190, 210))
    return np.asarray(image)


def main(source: Path, target: Path) -> None:
    with wave.open(str(source)) as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    duration = len(samples) / rate
    with av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=FPS, options={"crf": "30", "preset": "veryslow"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = container.add_stream("aac", rate=rate, layout="mono")
        audio.bit_rate = 48_000
        card = title_card()
        for index in range(int(duration * FPS) + 1):
            frame = av.VideoFrame.from_ndarray(card, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        chunk = 1024
        for start in range(0, len(samples), chunk):
            block = samples[start : start + chunk].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
