// Audio-only recordings (m4a, mp3, wav, ogg, flac…) play in an <audio> element on the transcript page: a
// <video> would show an empty black box. The word-timed transcript works the same on either element.

export function isAudioOnly(media) {
  return String(media?.content_type || "").toLowerCase().startsWith("audio/");
}

// Replaces the page's <video id="player"> with an <audio> carrying the same id and test id; returns it.
export function useAudioPlayer(video) {
  if (video.tagName === "AUDIO") return video;
  const audio = document.createElement("audio");
  for (const name of ["id", "data-testid"]) {
    if (video.hasAttribute(name)) audio.setAttribute(name, video.getAttribute(name));
  }
  audio.controls = true;
  audio.preload = "metadata";
  audio.className = "audio-player";
  video.closest("[aria-label]")?.setAttribute("aria-label", "Audio");
  video.replaceWith(audio);
  return audio;
}
