/* FLV tag body classification (see flv_tag.h). */
#include "ingest/flv_tag.h"
#include "base/errors.h"

#include <string.h>

#define WHY(msg) (*why = (msg), LC_EINVAL)


int
lc_flv_parse_video(const uint8_t *body, size_t len, lc_flv_packet *out, const char **why)
{
  static const char *dummy;
  if (!why)
    why = &dummy;
  memset(out, 0, sizeof *out);
  if (len < 1)
    return WHY("empty video message");
  if (body[0] & 0x80) {
    /* Enhanced RTMP: IsExHeader | FrameType(3) | PacketType(4), then a FourCC. */
    *why = "Enhanced RTMP video (ExHeader; HEVC/AV1/VP9 FourCC) is not supported: send H.264 (AVC)";
    if (len >= 5) {
      if (memcmp(body + 1, "hvc1", 4) == 0)
        *why = "Enhanced RTMP video with FourCC hvc1 (HEVC) is not supported: send H.264 (AVC)";
      else if (memcmp(body + 1, "av01", 4) == 0)
        *why = "Enhanced RTMP video with FourCC av01 (AV1) is not supported: send H.264 (AVC)";
      else if (memcmp(body + 1, "vp09", 4) == 0)
        *why = "Enhanced RTMP video with FourCC vp09 (VP9) is not supported: send H.264 (AVC)";
    }
    return LC_EPERM;
  }
  unsigned frame_type = body[0] >> 4, codec = body[0] & 0x0f;
  if (frame_type == 5) {
    out->kind = LC_FLV_IGNORE;
    return 0;
  }
  if (frame_type < 1 || frame_type > 4)
    return WHY("video frame type outside 1..5");
  if (codec != 7) {
    switch (codec) {
    case 2: *why = "video codec Sorenson H.263 is not supported: send H.264 (AVC)"; break;
    case 3: case 6: *why = "video codec Screen video is not supported: send H.264 (AVC)"; break;
    case 4: case 5: *why = "video codec VP6 is not supported: send H.264 (AVC)"; break;
    case 12: case 13: *why = "HEVC/AV1 through a non-standard FLV codec id is not supported: send H.264 (AVC)"; break;
    default: *why = "unknown video codec id: send H.264 (AVC)"; break;
    }
    return LC_EPERM;
  }
  if (len < 5)
    return WHY("AVC video message shorter than its 5-byte header");
  uint32_t ct = ((uint32_t)body[2] << 16) | ((uint32_t)body[3] << 8) | body[4];
  int32_t cts = (ct & 0x800000) ? (int32_t)(ct | 0xff000000u) : (int32_t)ct;
  out->keyframe = frame_type == 1;
  out->cts = cts;
  out->data = body + 5;
  out->len = len - 5;
  switch (body[1]) {
  case 0:
    out->kind = LC_FLV_CONFIG;
    return lc_flv_check_avcc_config(out->data, out->len, NULL, why);
  case 1:
    out->kind = LC_FLV_FRAME;
    if (out->len == 0)
      return WHY("empty AVC access unit");
    return 0;
  case 2:
    out->kind = LC_FLV_END;
    return 0;
  default:
    return WHY("AVC packet type outside 0..2");
  }
}

int
lc_flv_parse_audio(const uint8_t *body, size_t len, lc_flv_packet *out, const char **why)
{
  static const char *dummy;
  if (!why)
    why = &dummy;
  memset(out, 0, sizeof *out);
  if (len < 1)
    return WHY("empty audio message");
  unsigned fmt = body[0] >> 4;
  if (fmt != 10) {
    switch (fmt) {
    case 2: case 14: *why = "audio codec MP3 is not supported: send AAC"; break;
    case 11: *why = "audio codec Speex is not supported: send AAC"; break;
    case 4: case 5: case 6: *why = "audio codec Nellymoser is not supported: send AAC"; break;
    case 0: case 1: case 3: *why = "PCM audio is not supported: send AAC"; break;
    case 7: case 8: *why = "G.711 audio is not supported: send AAC"; break;
    case 9: *why = "Enhanced RTMP audio (ExHeader: Opus/FLAC/AC-3 FourCC) is not supported: send AAC"; break;
    default: *why = "unsupported audio format: send AAC"; break;
    }
    return LC_EPERM;
  }
  if (len < 2)
    return WHY("AAC audio message shorter than its 2-byte header");
  out->data = body + 2;
  out->len = len - 2;
  switch (body[1]) {
  case 0:
    out->kind = LC_FLV_CONFIG;
    if (out->len < 2)
      return WHY("AudioSpecificConfig shorter than 2 bytes");
    if ((out->data[0] >> 3) == 0)
      return WHY("AudioSpecificConfig with object type 0");
    return 0;
  case 1:
    out->kind = LC_FLV_FRAME;
    if (out->len == 0)
      return WHY("empty AAC frame");
    return 0;
  default:
    return WHY("AAC packet type outside 0..1");
  }
}

int
lc_flv_check_avcc_config(const uint8_t *rec, size_t len, unsigned *nal_length_size, const char **why)
{
  static const char *dummy;
  if (!why)
    why = &dummy;
  if (len < 7)
    return WHY("AVCDecoderConfigurationRecord shorter than 7 bytes");
  if (rec[0] != 1)
    return WHY("AVCDecoderConfigurationRecord version is not 1");
  unsigned nls = (rec[4] & 3u) + 1;
  if (nls == 3)
    return WHY("AVCDecoderConfigurationRecord NAL length size 3 is invalid");
  size_t off = 5;
  unsigned nsps = rec[off++] & 0x1f;
  if (nsps == 0)
    return WHY("AVCDecoderConfigurationRecord without SPS");
  for (unsigned i = 0; i < nsps; i++) {
    if (off + 2 > len)
      return WHY("AVCDecoderConfigurationRecord truncated in an SPS length");
    size_t n = ((size_t)rec[off] << 8) | rec[off + 1];
    off += 2;
    if (n == 0 || n > len - off)
      return WHY("AVCDecoderConfigurationRecord SPS length outside the record");
    off += n;
  }
  if (off + 1 > len)
    return WHY("AVCDecoderConfigurationRecord truncated before the PPS count");
  unsigned npps = rec[off++];
  for (unsigned i = 0; i < npps; i++) {
    if (off + 2 > len)
      return WHY("AVCDecoderConfigurationRecord truncated in a PPS length");
    size_t n = ((size_t)rec[off] << 8) | rec[off + 1];
    off += 2;
    if (n == 0 || n > len - off)
      return WHY("AVCDecoderConfigurationRecord PPS length outside the record");
    off += n;
  }
  if (nal_length_size)
    *nal_length_size = nls;
  return 0;
}

int
lc_flv_check_avcc_frame(const uint8_t *au, size_t len, unsigned nal_length_size, const char **why)
{
  static const char *dummy;
  if (!why)
    why = &dummy;
  if (nal_length_size != 1 && nal_length_size != 2 && nal_length_size != 4)
    return WHY("NAL length size must be 1, 2 or 4");
  size_t off = 0;
  if (len == 0)
    return WHY("empty access unit");
  while (off < len) {
    if (nal_length_size > len - off)
      return WHY("access unit truncated in a NAL length");
    size_t n = 0;
    for (unsigned i = 0; i < nal_length_size; i++)
      n = (n << 8) | au[off + i];
    off += nal_length_size;
    if (n == 0 || n > len - off)
      return WHY("NAL unit length outside the access unit");
    off += n;
  }
  return 0;
}
